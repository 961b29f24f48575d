//! Calendars in the database and the clocks that rest on them: imported official years, the
//! calendar revisions, recomputing running clocks when a calendar changes (one transaction and
//! one hash-chained event per moved clock), the running clocks that rest on a provisional year,
//! and the record of compliance notices sent about them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};

use super::entities::{
    calendar_notice, calendar_revision, calendar_year, incident, incident_clock,
};
use super::{Db, DbError, escalation, incidents, outbox, workflow as db_workflow};
use crate::domain::deadlines::{
    CalendarFile, ClockDue, ClockFacts, ImportedYear, OfficialYear, Policy,
};
use crate::domain::workflow::{self, Action, ActionKind, Actor, State};
use crate::mail::Mail;

/// Writes a computed clock's calendar basis onto its row.
pub fn set_basis(a: &mut incident_clock::ActiveModel, c: &ClockDue) {
    a.calendar = Set(Some(c.calendar.clone()));
    a.provisional = Set(c.provisional());
    a.provisional_years = Set(years_text(&c.provisional_years));
    a.calendar_revision = Set(Some(c.calendar_revision));
}

fn years_text(years: &[i32]) -> Option<String> {
    (!years.is_empty()).then(|| {
        years
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Whether an ended clock was ended by the event that closed its incident (so a reopen resumes
/// it), rather than by its own work before that (a triage that met the triage clock stays met).
pub fn ended_by_closing(row: &incident_clock::Model) -> bool {
    if !matches!(row.status.as_str(), "met" | "breached" | "stopped") {
        return false;
    }
    match row.stop_reason.as_deref() {
        // Clocks ended before reasons were recorded: as before, every ended clock resumes.
        None => true,
        Some(reason) => reason.parse::<ActionKind>().is_ok_and(closes),
    }
}

/// Whether an action can move an open incident to a closed state.
fn closes(kind: ActionKind) -> bool {
    State::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .any(|s| workflow::next_state(kind, s, true).is_some_and(|t| !t.is_open()))
}

/// The current calendar revision (0 before any).
pub async fn current_revision<C: ConnectionTrait>(conn: &C) -> Result<i64, DbError> {
    Ok(calendar_revision::Entity::find()
        .order_by_desc(calendar_revision::Column::Id)
        .one(conn)
        .await?
        .map_or(0, |r| r.id))
}

fn dates_json(s: &BTreeSet<NaiveDate>) -> String {
    serde_json::to_string(&s.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

fn dates_from_json(text: &str) -> BTreeSet<NaiveDate> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .collect()
}

/// Loads the imported years and the current revision into the policy's shared calendars (every
/// holder of the policy sees them at once). Returns the revision loaded.
pub async fn load(db: &Db, policy: &Policy) -> Result<i64, DbError> {
    let revision = current_revision(&db.conn).await?;
    let rows = calendar_year::Entity::find()
        .order_by_asc(calendar_year::Column::Id)
        .all(&db.conn)
        .await?;
    let imported = rows
        .into_iter()
        .map(|r| ImportedYear {
            calendar: r.calendar,
            year: OfficialYear {
                year: r.year,
                source: r.source,
                holidays: dates_from_json(&r.holidays),
                workdays: dates_from_json(&r.workdays),
            },
            revision: r.revision,
        })
        .collect();
    let set = policy.calendar_set().with_imported(imported, revision);
    policy.calendars.replace(set);
    Ok(revision)
}

fn config_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// At start-up: when the configuration's calendars differ from those of the last revision,
/// records a new revision saying what changed. Returns its description.
pub async fn record_config(
    db: &Db,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    let set = policy.calendar_set();
    let text = set.config_text();
    let hash = config_hash(&text);
    let txn = db.begin_write().await?;
    let last = calendar_revision::Entity::find()
        .order_by_desc(calendar_revision::Column::Id)
        .one(&*txn)
        .await?;
    if last.as_ref().is_some_and(|l| l.config_hash == hash) {
        txn.rollback().await?;
        return Ok(None);
    }
    let description = match &last {
        None => describe_config(&set.config_years(), None),
        Some(l) => describe_config(&set.config_years(), Some(&l.config_text)),
    };
    calendar_revision::ActiveModel {
        at: Set(now),
        kind: Set("config".into()),
        config_hash: Set(hash),
        config_text: Set(text),
        description: Set(description.clone()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok(Some(description))
}

/// "configuration: cn 2027 added (source …); eu 2026 changed", from the year lines of the
/// configuration now and as last recorded.
fn describe_config(
    now: &BTreeMap<(String, i32), (String, String)>,
    before_text: Option<&str>,
) -> String {
    let Some(before_text) = before_text else {
        let years: Vec<String> = now.keys().map(|(c, y)| format!("{c} {y}")).collect();
        return format!(
            "configuration: official years {}; every other year by statutory rule (provisional)",
            if years.is_empty() {
                "none".into()
            } else {
                years.join(", ")
            }
        );
    };
    // The recorded text holds "[name] …" headers followed by one line per year.
    let mut before: BTreeMap<(String, i32), String> = BTreeMap::new();
    let mut current = String::new();
    for line in before_text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.split(']').next().unwrap_or("").to_owned();
        } else if let Some((year, _)) = line.split_once(' ')
            && let Ok(year) = year.parse::<i32>()
        {
            before.insert((current.clone(), year), format!("{line}\n"));
        }
    }
    let mut parts = Vec::new();
    for ((cal, year), (text, source)) in now {
        match before.get(&(cal.clone(), *year)) {
            None => parts.push(format!(
                "{cal} {year} official arrangement added ({source})"
            )),
            Some(old) if old != text => {
                parts.push(format!(
                    "{cal} {year} official arrangement changed ({source})"
                ));
            }
            Some(_) => {}
        }
    }
    for (cal, year) in before.keys() {
        if !now.contains_key(&(cal.clone(), *year)) {
            parts.push(format!(
                "{cal} {year} official arrangement removed (statutory rule, provisional)"
            ));
        }
    }
    if parts.is_empty() {
        parts.push("calendar settings changed".into());
    }
    format!("configuration: {}", parts.join("; "))
}

/// Stores a calendar file's years (replacing any imported before for the same years) under a
/// new revision, and loads them into the policy. Returns the revision and what changed.
///
/// # Errors
///
/// [`DbError::Setup`] when the file names a calendar the policy does not have.
pub async fn import(
    db: &Db,
    policy: &Policy,
    file: &CalendarFile,
    file_name: &str,
    now: DateTime<Utc>,
) -> Result<(i64, String), DbError> {
    let set = policy.calendar_set();
    let Some(cal) = set.calendars.get(&file.calendar) else {
        let known: Vec<&str> = set.calendars.keys().map(String::as_str).collect();
        return Err(DbError::Setup(format!(
            "no calendar {:?} (known: {})",
            file.calendar,
            known.join(", ")
        )));
    };
    let parts: Vec<String> = file
        .years
        .iter()
        .map(|y| {
            let what = if cal.is_official(y.year) {
                "official arrangement replaced"
            } else {
                "official arrangement loaded in place of the provisional rule"
            };
            format!(
                "{} {} {what} (source: {})",
                file.calendar,
                y.year,
                y.source.trim()
            )
        })
        .collect();
    let description = format!("import of {file_name}: {}", parts.join("; "));
    let text = set.config_text();
    let txn = db.begin_write().await?;
    let rev = calendar_revision::ActiveModel {
        at: Set(now),
        kind: Set("import".into()),
        config_hash: Set(config_hash(&text)),
        config_text: Set(text),
        description: Set(description.clone()),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    for y in &file.years {
        calendar_year::Entity::insert(calendar_year::ActiveModel {
            calendar: Set(file.calendar.clone()),
            year: Set(y.year),
            source: Set(y.source.trim().to_owned()),
            holidays: Set(dates_json(&y.holidays)),
            workdays: Set(dates_json(&y.workdays)),
            file: Set(Some(file_name.to_owned())),
            revision: Set(rev.id),
            imported_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([calendar_year::Column::Calendar, calendar_year::Column::Year])
                .update_columns([
                    calendar_year::Column::Source,
                    calendar_year::Column::Holidays,
                    calendar_year::Column::Workdays,
                    calendar_year::Column::File,
                    calendar_year::Column::Revision,
                    calendar_year::Column::ImportedAt,
                ])
                .to_owned(),
        )
        .exec(&*txn)
        .await?;
    }
    txn.commit().await?;
    load(db, policy).await?;
    Ok((rev.id, description))
}

/// The revisions after `after` (all of them for `None`), described, for a recompute event.
async fn changes_since<C: ConnectionTrait>(
    conn: &C,
    after: Option<i64>,
) -> Result<String, DbError> {
    let mut q = calendar_revision::Entity::find().order_by_asc(calendar_revision::Column::Id);
    if let Some(a) = after {
        q = q.filter(calendar_revision::Column::Id.gt(a));
    }
    let rows = q.all(conn).await?;
    let mut parts: Vec<String> = rows
        .iter()
        .map(|r| format!("revision {}: {}", r.id, r.description))
        .collect();
    if after.is_none() {
        parts.insert(
            0,
            "calendar basis recorded for the first time (years beyond the configured ones were \
             counted as plain weekdays before)"
                .into(),
        );
    }
    Ok(parts.join("; "))
}

/// One clock moved by a recompute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub incident_id: i64,
    pub clock: String,
    pub old_due: DateTime<Utc>,
    pub new_due: DateTime<Utc>,
    pub provisional: bool,
}

/// What a recompute pass did.
#[derive(Debug, Clone, Default)]
pub struct Recomputed {
    pub moved: Vec<Moved>,
    /// Clocks whose due instant stayed but whose calendar basis (provisional or not) was
    /// brought up to date.
    pub rebased: usize,
    /// Incidents another writer changed meanwhile; the next pass takes them.
    pub skipped: usize,
}

/// Running clocks, with the incident they belong to, in incident order, a page at a time.
async fn running_page<C: ConnectionTrait>(
    conn: &C,
    after_incident: i64,
    limit: u64,
) -> Result<Vec<incident_clock::Model>, DbError> {
    // The page ends at an incident boundary: take the incidents first.
    let ids: Vec<i64> = incident_clock::Entity::find()
        .select_only()
        .column(incident_clock::Column::IncidentId)
        .filter(incident_clock::Column::Status.eq("running"))
        .filter(incident_clock::Column::IncidentId.gt(after_incident))
        .group_by(incident_clock::Column::IncidentId)
        .order_by_asc(incident_clock::Column::IncidentId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(incident_clock::Entity::find()
        .filter(incident_clock::Column::Status.eq("running"))
        .filter(incident_clock::Column::IncidentId.is_in(ids))
        .order_by_asc(incident_clock::Column::IncidentId)
        .order_by_asc(incident_clock::Column::Id)
        .all(conn)
        .await?)
}

/// The clocks the policy computes for an incident row now.
fn computed(policy: &Policy, row: &incident::Model) -> Result<HashMap<String, ClockDue>, DbError> {
    let inc = incidents::to_domain(row)?;
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity,
        serious: inc.serious,
    };
    Ok(policy
        .clocks_for(
            &facts,
            inc.first_reported_at,
            inc.triaged_at,
            inc.serious_at,
        )
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect())
}

/// What a running clock's row says against what the calendars give now.
enum Drift {
    None,
    /// Same due instant; the basis (calendar, provisional years, revision) is out of date.
    Basis,
    /// The due instant moves.
    Due,
}

fn drift(row: &incident_clock::Model, c: &ClockDue) -> Drift {
    // Another start is a workflow matter (update_clocks), not a calendar one.
    if row.started_at != c.start {
        return Drift::None;
    }
    if row.due_at != c.due {
        // Only a calendar change moves a clock here: with the same calendar revision, a different
        // due instant means the policy itself changed, which applies to new clocks only.
        if row.calendar_revision == Some(c.calendar_revision) {
            return Drift::None;
        }
        return Drift::Due;
    }
    let same = row.calendar.as_deref() == Some(c.calendar.as_str())
        && row.provisional == c.provisional()
        && row.provisional_years == years_text(&c.provisional_years)
        && row.calendar_revision == Some(c.calendar_revision);
    if same { Drift::None } else { Drift::Basis }
}

/// Recomputes every running clock against the calendars as they are now: a clock whose due
/// instant moves gets a `recompute_clock` event in its incident's hash chain (clock, old due,
/// new due, the calendar change), its new due instant and its escalation's next fire time, in
/// one transaction per incident; a clock whose due instant stays only has its calendar basis
/// brought up to date. Running it again changes nothing.
pub async fn recompute(
    db: &Db,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Recomputed, DbError> {
    const PAGE: u64 = 500;
    let mut out = Recomputed::default();
    let mut after = 0i64;
    loop {
        let clocks = running_page(&db.conn, after, PAGE).await?;
        let Some(last) = clocks.last() else {
            return Ok(out);
        };
        after = last.incident_id;
        let mut ids: Vec<i64> = clocks.iter().map(|c| c.incident_id).collect();
        ids.dedup();
        let rows: HashMap<i64, incident::Model> = incident::Entity::find()
            .filter(incident::Column::Id.is_in(ids.clone()))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut by_incident: BTreeMap<i64, Vec<&incident_clock::Model>> = BTreeMap::new();
        for c in &clocks {
            by_incident.entry(c.incident_id).or_default().push(c);
        }
        for (id, clocks) in by_incident {
            let Some(row) = rows.get(&id) else { continue };
            let now_due = computed(policy, row)?;
            let drifts: Vec<Drift> = clocks
                .iter()
                .map(|c| now_due.get(&c.clock).map_or(Drift::None, |d| drift(c, d)))
                .collect();
            if drifts.iter().all(|d| matches!(d, Drift::None)) {
                continue;
            }
            if drifts.iter().any(|d| matches!(d, Drift::Due)) {
                match recompute_incident(db, policy, id, now).await {
                    Ok((moved, rebased)) => {
                        out.moved.extend(moved);
                        out.rebased += rebased;
                    }
                    Err(DbError::Conflict) => out.skipped += 1,
                    Err(e) => return Err(e),
                }
            } else {
                // Basis only: no event, since no deadline moved.
                let txn = db.begin_write().await?;
                for (c, d) in clocks.iter().zip(&drifts) {
                    if matches!(d, Drift::Basis)
                        && let Some(due) = now_due.get(&c.clock)
                    {
                        let mut a: incident_clock::ActiveModel = (*c).clone().into();
                        set_basis(&mut a, due);
                        a.update(&*txn).await?;
                        out.rebased += 1;
                    }
                }
                txn.commit().await?;
            }
        }
    }
}

/// One incident's recompute, in one transaction: the rows are read again under the write lock,
/// so what another writer did meanwhile is seen.
async fn recompute_incident(
    db: &Db,
    policy: &Policy,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<Moved>, usize), DbError> {
    let txn = db.begin_write().await?;
    let mut row = incidents::lock(&txn, db, id)
        .await?
        .ok_or(DbError::NotFound)?;
    let clocks = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .filter(incident_clock::Column::Status.eq("running"))
        .order_by_asc(incident_clock::Column::Id)
        .all(&*txn)
        .await?;
    let now_due = computed(policy, &row)?;
    let mut moved = Vec::new();
    let mut rebased = 0;
    for c in clocks {
        let Some(due) = now_due.get(&c.clock) else {
            continue;
        };
        match drift(&c, due) {
            Drift::None => continue,
            Drift::Basis => {
                let mut a: incident_clock::ActiveModel = c.clone().into();
                set_basis(&mut a, due);
                a.update(&*txn).await?;
                rebased += 1;
                continue;
            }
            Drift::Due => {}
        }
        let change = changes_since(&*txn, c.calendar_revision).await?;
        let action = Action::RecomputeClock {
            clock: c.clock.clone(),
            old_due: c.due_at,
            new_due: due.due,
            calendar: due.calendar.clone(),
            change,
            provisional: due.provisional(),
        };
        let domain = incidents::to_domain(&row)?;
        let event = workflow::apply(&domain, &action, &Actor::system(), now)
            .map_err(|r| DbError::Setup(r.reason()))?;
        let after = workflow::project(Some(&domain), id, &event)
            .map_err(|e| DbError::Setup(e.to_string()))?;
        incidents::append(&*txn, &row, &after, &event, None).await?;
        row = incidents::lock(&txn, db, id)
            .await?
            .ok_or(DbError::NotFound)?;
        let mut a: incident_clock::ActiveModel = c.clone().into();
        a.due_at = Set(due.due);
        set_basis(&mut a, due);
        a.next_fire_at =
            Set(
                escalation::next_fire_for(&*txn, policy, id, &c.clock, c.started_at, due.due)
                    .await?,
            );
        a.update(&*txn).await?;
        moved.push(Moved {
            incident_id: id,
            clock: c.clock.clone(),
            old_due: c.due_at,
            new_due: due.due,
            provisional: due.provisional(),
        });
    }
    db_workflow::refresh_next_due(&*txn, id).await?;
    txn.commit().await?;
    Ok((moved, rebased))
}

/// A running clock whose due instant rests on a provisional year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionalClock {
    pub incident_id: i64,
    pub title: String,
    pub clock: String,
    pub due: DateTime<Utc>,
    pub calendar: String,
    pub years: Vec<i32>,
}

/// Every running clock whose due instant, computed with the calendars as they are now, rests on
/// a provisional year (so the answer does not wait for a recompute).
pub async fn provisional_running(
    db: &Db,
    policy: &Policy,
) -> Result<Vec<ProvisionalClock>, DbError> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let clocks = running_page(&db.conn, after, 500).await?;
        let Some(last) = clocks.last() else {
            return Ok(out);
        };
        after = last.incident_id;
        let mut ids: Vec<i64> = clocks.iter().map(|c| c.incident_id).collect();
        ids.dedup();
        let rows: HashMap<i64, incident::Model> = incident::Entity::find()
            .filter(incident::Column::Id.is_in(ids))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut computed_for: HashMap<i64, HashMap<String, ClockDue>> = HashMap::new();
        for c in &clocks {
            let Some(row) = rows.get(&c.incident_id) else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(e) = computed_for.entry(row.id) {
                e.insert(computed(policy, row)?);
            }
            let Some(due) = computed_for[&row.id].get(&c.clock) else {
                continue;
            };
            if due.provisional() {
                out.push(ProvisionalClock {
                    incident_id: row.id,
                    title: row.title.clone(),
                    clock: c.clock.clone(),
                    due: due.due,
                    calendar: due.calendar.clone(),
                    years: due.provisional_years.clone(),
                });
            }
        }
    }
}

/// How many running clocks the database marks provisional (the stored flags, for the serve
/// loop's warning).
pub async fn provisional_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbError> {
    use sea_orm::PaginatorTrait;
    Ok(incident_clock::Entity::find()
        .filter(incident_clock::Column::Status.eq("running"))
        .filter(incident_clock::Column::Provisional.eq(true))
        .count(conn)
        .await?)
}

/// The (calendar, year) pairs running clocks rest on provisionally, by the stored flags.
pub async fn provisional_pairs<C: ConnectionTrait>(
    conn: &C,
) -> Result<BTreeSet<(String, i32)>, DbError> {
    let rows: Vec<(Option<String>, Option<String>)> = incident_clock::Entity::find()
        .select_only()
        .column(incident_clock::Column::Calendar)
        .column(incident_clock::Column::ProvisionalYears)
        .filter(incident_clock::Column::Status.eq("running"))
        .filter(incident_clock::Column::Provisional.eq(true))
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    let mut out = BTreeSet::new();
    for (cal, years) in rows {
        let (Some(cal), Some(years)) = (cal, years) else {
            continue;
        };
        for y in years.split(',').filter_map(|y| y.trim().parse().ok()) {
            out.insert((cal.clone(), y));
        }
    }
    Ok(out)
}

/// The incidents among `ids` with a running provisional clock, and which clocks.
pub async fn provisional_by_incident<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, DbError> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(i64, String)> = provisional_query(ids).into_tuple().all(conn).await?;
    for (id, clock) in rows {
        out.entry(id).or_default().push(clock);
    }
    Ok(out)
}

/// [`provisional_by_incident`]'s query: (incident, clock) of each provisional running clock
/// among `ids`, nearest first.
pub(crate) fn provisional_query(ids: &[i64]) -> sea_orm::Select<incident_clock::Entity> {
    incident_clock::Entity::find()
        .select_only()
        .column(incident_clock::Column::IncidentId)
        .column(incident_clock::Column::Clock)
        .filter(incident_clock::Column::IncidentId.is_in(ids.iter().copied()))
        .filter(incident_clock::Column::Status.eq("running"))
        .filter(incident_clock::Column::Provisional.eq(true))
        .order_by_asc(incident_clock::Column::DueAt)
}

/// The notices already sent, by key.
pub async fn notices_sent<C: ConnectionTrait>(conn: &C) -> Result<BTreeSet<String>, DbError> {
    Ok(calendar_notice::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|n| n.key)
        .collect())
}

/// Records a notice and queues its mails in one transaction, unless a notice with `key` was
/// recorded already (by this instance or another): then nothing is written and `false` comes
/// back. Each notice goes out once, ever.
pub async fn send_notice(
    db: &Db,
    key: &str,
    calendar: &str,
    year: i32,
    kind: &str,
    mails: &[Mail],
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let txn = db.begin_write().await?;
    let inserted = calendar_notice::Entity::insert(calendar_notice::ActiveModel {
        key: Set(key.to_owned()),
        calendar: Set(calendar.to_owned()),
        year: Set(year),
        kind: Set(kind.to_owned()),
        sent_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(calendar_notice::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&*txn)
    .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    for m in mails {
        outbox::enqueue(&*txn, m, now, None, None).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The imported years, for `rectify calendar check`: (calendar, year) → (file, when).
pub async fn imported_years<C: ConnectionTrait>(
    conn: &C,
) -> Result<BTreeMap<(String, i32), (Option<String>, DateTime<Utc>)>, DbError> {
    Ok(calendar_year::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|r| ((r.calendar, r.year), (r.file, r.imported_at)))
        .collect())
}

/// One clock of an incident, by name.
pub async fn clock_row<C: ConnectionTrait>(
    conn: &C,
    incident_id: i64,
    name: &str,
) -> Result<Option<incident_clock::Model>, DbError> {
    Ok(incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(incident_id))
        .filter(incident_clock::Column::Clock.eq(name))
        .one(conn)
        .await?)
}
