//! What a batch of reports writes, decided without touching the database: given the open
//! incidents the reports' fingerprints match and the ids allocated for new rows, the rows to
//! insert and the incident updates to make. Both backends' writers share it, so grouping,
//! events and clocks cannot differ between SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Stored, Submission};
use crate::db::entities::{incident, incident_clock, incident_event, outbox as outbox_row, report};
use crate::db::{DbError, incidents, outbox};
use crate::domain::deadlines::{ClockFacts, Policy};
use crate::domain::report::title_of;
use crate::domain::workflow::{self, Action, Actor, State};

/// The batch's fingerprints, one per submission, and the distinct ones sorted.
pub struct Fingerprints {
    pub each: Vec<String>,
    pub distinct: Vec<String>,
}

impl Fingerprints {
    pub fn of(subs: &[&Submission]) -> Fingerprints {
        let each: Vec<String> = subs.iter().map(|s| s.fingerprint.clone()).collect();
        let mut distinct = each.clone();
        distinct.sort_unstable();
        distinct.dedup();
        Fingerprints { each, distinct }
    }

    /// The incidents with the batch's contents, oldest first; [`plan`] keeps the open ones.
    /// (Filtering by state in the query would probe the index once per fingerprint and state.)
    pub fn incidents(&self) -> sea_orm::Select<incident::Entity> {
        incident::Entity::find()
            .filter(incident::Column::Fingerprint.is_in(self.distinct.iter().map(String::as_str)))
            .order_by_asc(incident::Column::Id)
    }

    /// How many incidents the batch opens, given the incidents with its contents.
    pub fn new_incidents(&self, existing: &[incident::Model]) -> usize {
        let known: HashSet<&str> = existing
            .iter()
            .filter(|r| is_open(r))
            .map(|r| r.fingerprint.as_str())
            .collect();
        self.distinct
            .iter()
            .filter(|fp| !known.contains(fp.as_str()))
            .count()
    }
}

fn is_open(row: &incident::Model) -> bool {
    row.state.parse::<State>().is_ok_and(|s| s.is_open())
}

/// The writes of a batch, in the order foreign keys need them.
pub struct Planned {
    pub new_incidents: Vec<incident::ActiveModel>,
    /// Updates of joined incidents, each guarded by the version read.
    pub updates: Vec<sea_orm::UpdateMany<incident::Entity>>,
    pub events: Vec<incident_event::ActiveModel>,
    pub clocks: Vec<incident_clock::ActiveModel>,
    pub reports: Vec<report::ActiveModel>,
    pub mails: Vec<outbox_row::ActiveModel>,
    pub stored: Vec<Stored>,
}

/// A new or changed incident while a batch is being built.
struct Pending {
    /// The row as read, for a report joining an existing incident; `None` for one opened here.
    before: Option<incident::Model>,
    current: workflow::Incident,
    hash: String,
    next_due: Option<(DateTime<Utc>, String)>,
}

/// Plans the batch in order (a later report may join an incident an earlier one opened).
/// `existing` are the incidents with the batch's fingerprints, oldest first; `incident_ids`
/// and `report_ids` are fresh ids, as many as [`Fingerprints::new_incidents`] and reports.
pub fn plan(
    policy: &Policy,
    subs: &[&Submission],
    fps: &Fingerprints,
    existing: Vec<incident::Model>,
    incident_ids: Vec<i64>,
    report_ids: Vec<i64>,
) -> Result<Planned, DbError> {
    let mut by_fp: HashMap<String, i64> = HashMap::new();
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    for row in existing {
        if !is_open(&row) || by_fp.contains_key(&row.fingerprint) {
            continue; // the oldest open incident with this content takes new reports
        }
        by_fp.insert(row.fingerprint.clone(), row.id);
        pending.insert(
            row.id,
            Pending {
                current: incidents::to_domain(&row)?,
                hash: row.last_event_hash.clone(),
                next_due: None,
                before: Some(row),
            },
        );
    }
    let mut incident_ids = incident_ids.into_iter();
    let mut report_ids = report_ids.into_iter();
    let mut opened: Vec<i64> = Vec::new();
    let mut out = Planned {
        new_incidents: Vec::new(),
        updates: Vec::new(),
        events: Vec::new(),
        clocks: Vec::new(),
        reports: Vec::with_capacity(subs.len()),
        mails: Vec::new(),
        stored: Vec::with_capacity(subs.len()),
    };
    let system = Actor::system();
    let refused = |e: workflow::Refusal| DbError::Setup(e.reason());
    for (sub, fp) in subs.iter().zip(&fps.each) {
        let r = &sub.report;
        let now = sub.received_at;
        let report_id = report_ids.next().ok_or(DbError::NotFound)?;
        let (incident_id, joined) = match by_fp.get(fp) {
            Some(&id) => {
                let p = pending.get_mut(&id).ok_or(DbError::NotFound)?;
                let event =
                    workflow::apply(&p.current, &Action::AddReport { report_id }, &system, now)
                        .map_err(refused)?;
                let after = workflow::project(Some(&p.current), id, &event)
                    .map_err(|e| DbError::Setup(e.to_string()))?;
                let stored = event.seal(id, after.version, &p.hash);
                p.hash = stored.hash.clone();
                p.current = after;
                out.events.push(incidents::event_row(&stored, None));
                (id, true)
            }
            None => {
                let id = incident_ids.next().ok_or(DbError::NotFound)?;
                let open = Action::Open {
                    category: r.category.as_str().to_string(),
                    title: title_of(&r.output, 80),
                    fingerprint: fp.clone(),
                    first_reported_at: now,
                };
                let (inc, event) = workflow::open(id, &open, &system, now).map_err(refused)?;
                let stored = event.seal(id, inc.version, crate::domain::audit::GENESIS);
                out.events.push(incidents::event_row(&stored, None));
                let (rows, next_due) = clock_rows(policy, &inc);
                out.clocks.extend(rows);
                pending.insert(
                    id,
                    Pending {
                        before: None,
                        current: inc,
                        hash: stored.hash,
                        next_due,
                    },
                );
                by_fp.insert(fp.clone(), id);
                opened.push(id);
                (id, false)
            }
        };
        out.reports.push(report::ActiveModel {
            id: Set(report_id),
            tracking_code: Set(sub.code.as_str().to_string()),
            incident_id: Set(incident_id),
            received_at: Set(now),
            locale: Set(sub.locale.as_str().to_string()),
            channel: Set(sub.channel.as_str().to_string()),
            output: Set(r.output.clone()),
            prompt: Set(r.prompt.clone()),
            model: Set(r.model.clone()),
            model_version: Set(r.model_version.clone()),
            url: Set(r.url.clone()),
            category: Set(r.category.as_str().to_string()),
            description: Set(r.description.clone()),
            reporter_name: Set(r.name.clone()),
            reporter_email: Set(r.email.as_ref().map(|e| e.as_str().to_string())),
            fingerprint: Set(fp.clone()),
            erased_at: Set(None),
        });
        if let Some(mail) = &sub.ack {
            out.mails
                .push(outbox::row(mail, now, Some(incident_id), Some(report_id)));
        }
        out.stored.push(Stored {
            code: sub.code.clone(),
            report_id,
            incident_id,
            joined,
        });
    }

    let now = subs.first().map(|s| s.received_at).unwrap_or_else(Utc::now);
    out.new_incidents = opened
        .iter()
        .filter_map(|id| pending.get(id))
        .map(|p| incidents::new_row(&p.current, &p.hash, p.next_due.as_ref(), now))
        .collect();
    for p in pending.values() {
        if let Some(before) = &p.before
            && p.current.version != before.version
        {
            out.updates
                .push(incidents::projection_update(before, &p.current, &p.hash));
        }
    }
    Ok(out)
}

/// The clock rows of a new incident, and the nearest of their due instants.
pub fn clock_rows(
    policy: &Policy,
    inc: &workflow::Incident,
) -> (
    Vec<incident_clock::ActiveModel>,
    Option<(DateTime<Utc>, String)>,
) {
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity,
        serious: inc.serious,
    };
    let clocks = policy.clocks_for(
        &facts,
        inc.first_reported_at,
        inc.triaged_at,
        inc.serious_at,
    );
    let nearest = clocks
        .iter()
        .min_by_key(|c| c.due)
        .map(|c| (c.due, c.name.clone()));
    let rows = clocks
        .into_iter()
        .map(|c| {
            let mut a = incident_clock::ActiveModel {
                incident_id: Set(inc.id),
                // A new clock has fired nothing: its next step is its ladder's first.
                next_fire_at: Set(policy.first_fire(&c.name, c.start, c.due)),
                clock: Set(c.name.clone()),
                started_at: Set(c.start),
                due_at: Set(c.due),
                stopped_at: Set(None),
                status: Set("running".into()),
                stop_reason: Set(None),
                ..Default::default()
            };
            crate::db::deadlines::set_basis(&mut a, &c);
            a
        })
        .collect();
    (rows, nearest)
}
