//! The deadline sweep: which escalation steps have fallen due at `now` → escalation rows, one
//! mail per person listing every incident that escalated to them, and each clock's next fire
//! time, in one transaction per chunk of clocks.
//!
//! Exactly once: a step fires when its time has come, its clock is still running, and it has no
//! row in `escalations` (unique on incident, clock, step). The row, the mails and the clock's
//! next fire time commit together, so a crash at any point leaves either all of them or none,
//! and the next sweep fires what is left. A sweep at an earlier `now` finds nothing: every clock
//! it already handled waits for a later instant, and a fired step never fires again.
//!
//! Cost: the clocks are found by the indexed `incident_clocks.next_fire_at`, so a sweep reads
//! the clocks that are due and nothing else.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::config::Settings;
use crate::db::entities::{escalation as esc_row, incident, incident_clock, user};
use crate::db::{Db, DbError, escalation as q, outbox};
use crate::domain::alert::{Hit, build as build_alert, is_repeat};
use crate::domain::escalation::{Occurrence, Phase, Recipient, due_at};
use crate::domain::locale::Locale;
use crate::mail::Mail;
use crate::mail::escalation::{Addressee, IncidentInfo, Kind, alert as render_alert};

/// One step that fired (or, in a dry run, would fire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub incident_id: i64,
    pub clock: String,
    pub step: String,
    pub phase: Phase,
    /// When the step fell due.
    pub step_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Addresses told, in order.
    pub recipients: Vec<String>,
}

/// One mail a sweep queued (or would queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub kind: &'static str,
    pub recipient: String,
    pub subject: String,
    pub incidents: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub fired: Vec<Fired>,
    pub mails: Vec<Queued>,
    /// Clocks looked at (each had its next fire time at or before `now`).
    pub clocks: usize,
    /// Reports whose personal data the retention policy erased (or would, in a dry run).
    pub redacted: Vec<crate::db::retention::Due>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("rendering mail: {0}")]
    Render(#[from] askama::Error),
}

impl From<sea_orm::DbErr> for SweepError {
    fn from(e: sea_orm::DbErr) -> Self {
        SweepError::Db(DbError::from(e))
    }
}

/// Runs one sweep at `now`: every due step fires once, then (when configured and the hour has
/// come) the day's digest. `dry_run` does the same work and rolls every transaction back.
pub async fn sweep(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let mut after = None;
    while let Some(last) = sweep_chunk(db, settings, now, dry_run, after, &mut report).await? {
        after = Some(last);
    }
    if settings.escalation.daily_digest {
        send_digests(db, settings, now, dry_run, &mut report).await?;
    }
    report.redacted = crate::jobs::retention::run(db, settings, now, dry_run)
        .await
        .map_err(|e| SweepError::Db(DbError::Setup(format!("retention: {e}"))))?;
    Ok(report)
}

/// A person, keyed by lowercased address.
fn addressee_of(u: &user::Model, default: Locale) -> Addressee {
    Addressee {
        email: u.email.clone(),
        name: u.name.clone(),
        locale: Locale::parse(&u.locale).unwrap_or(default),
    }
}

/// Who a step with `to` tells about `inc`, without duplicates, in a stable order.
fn resolve(
    to: &[Recipient],
    inc: &incident::Model,
    leads: &[Addressee],
    compliance: &[Addressee],
    assignees: &HashMap<i64, Addressee>,
) -> Vec<Addressee> {
    let mut out: Vec<Addressee> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |a: &Addressee| {
        if seen.insert(a.email.to_lowercase()) {
            out.push(a.clone());
        }
    };
    for r in to {
        match r {
            Recipient::Assignee => match inc.assignee_id.and_then(|id| assignees.get(&id)) {
                Some(a) => add(a),
                None => leads.iter().for_each(&mut add),
            },
            Recipient::Leads => leads.iter().for_each(&mut add),
            Recipient::Compliance => compliance.iter().for_each(&mut add),
        }
    }
    out
}

/// One chunk: at most `sweep_batch` due clocks after `after` (in next fire time and id order),
/// planned and then written in one transaction. Returns the last clock looked at, or `None`
/// when no clock was left due.
///
/// PostgreSQL plans inside the writing transaction: its reads lock the clocks and incidents
/// (see `q::due_clocks`). SQLite has one writer for everything, intake included, and a chunk
/// that read and rendered while holding it held intake back as long: 130 ms for 1,000 due
/// clocks beside intake at half its maximum in `mixed`, 92 ms of it reading. So on SQLite
/// the chunk is planned on a snapshot first; the write transaction then takes SQLite's lock
/// (no other process writes until it ends) and reads the chunk's clocks again. Unchanged, the
/// plan is written as it stands. Changed, it is planned again under the lock: whatever could
/// make the plan wrong changes a clock's row (a workflow action stops, moves or cancels it;
/// another sweep that fires a step sets its next fire time). A change to an incident that
/// leaves its clocks alone (a new assignee, a new title) is written as it stood when the chunk
/// was read, as it would have been had the sweep run those milliseconds earlier.
///
/// Where the intake writer runs (`serve`), the check and the write are one task on its thread
/// instead of a transaction through the pool (see [`q::write_chunk_on_writer`]); a chunk whose
/// clocks changed is then planned again under the pool's write transaction, as above.
async fn sweep_chunk(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
    after: Option<(DateTime<Utc>, i64)>,
    report: &mut SweepReport,
) -> Result<Option<(DateTime<Utc>, i64)>, SweepError> {
    let planned = if db.is_postgres() {
        None
    } else {
        let snapshot = db.conn.begin().await?;
        let plan = plan_chunk(&snapshot, settings, now, after).await?;
        snapshot.rollback().await?;
        let Some(plan) = plan else {
            return Ok(None);
        };
        Some(plan)
    };
    if let Some(plan) = planned.as_ref().filter(|_| !dry_run)
        && let Some(written) = q::write_chunk_on_writer(db, chunk_write(plan, now), now).await
        && written?
    {
        return Ok(Some(report.add(planned.expect("written from a plan"))));
    }
    let txn = db.begin_write().await?;
    let plan = match planned {
        Some(plan) if q::clocks_unchanged(&*txn, &plan.clocks).await? => plan,
        _ => match plan_chunk(&*txn, settings, now, after).await? {
            Some(plan) => plan,
            None => {
                txn.rollback().await?;
                return Ok(None);
            }
        },
    };
    q::write_chunk(&*txn, &chunk_write(&plan, now), now).await?;
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(Some(report.add(plan)))
}

impl SweepReport {
    /// Counts a chunk written (or, in a dry run, rolled back); returns where the next starts.
    fn add(&mut self, plan: Plan) -> (DateTime<Utc>, i64) {
        self.clocks += plan.clocks.len();
        self.mails.extend(plan.mails.into_iter().map(|m| m.queued));
        self.fired.extend(plan.fired);
        plan.last
    }
}

/// What a chunk writes, worked out from what it read.
struct Plan {
    /// The last clock looked at (next fire time and id): where the next chunk starts.
    last: (DateTime<Utc>, i64),
    /// The clocks as read.
    clocks: Vec<incident_clock::Model>,
    /// Each clock's next fire time.
    next_fire: Vec<(i64, Option<DateTime<Utc>>)>,
    /// One mail per person.
    mails: Vec<PlannedMail>,
    /// (incident, clock, lowercased address) told of a repeating reminder now.
    told_now: Vec<(i64, String, String)>,
    fired: Vec<Fired>,
}

struct PlannedMail {
    /// Lowercased address: the fired steps point at the first mail that told of them.
    key: String,
    rendered: crate::mail::escalation::Rendered,
    /// The incident, when the mail is about one only.
    single: Option<i64>,
    queued: Queued,
}

/// Reads a chunk's due clocks and everything its steps need, and works out what to write:
/// which steps fire, each clock's next fire time, and one mail per person told.
async fn plan_chunk<C: ConnectionTrait>(
    conn: &C,
    settings: &Settings,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
) -> Result<Option<Plan>, SweepError> {
    let policy = &settings.deadlines;
    let clocks = q::due_clocks(conn, now, after, settings.escalation.sweep_batch).await?;
    let Some(last) = clocks
        .last()
        .and_then(|c| c.next_fire_at.map(|at| (at, c.id)))
    else {
        return Ok(None);
    };
    let mut incident_ids: Vec<i64> = clocks.iter().map(|c| c.incident_id).collect();
    incident_ids.sort_unstable();
    incident_ids.dedup();
    let incidents = q::incidents(conn, &incident_ids).await?;
    let fired_before = q::fired_steps(conn, &incident_ids).await?;
    let none = HashSet::new();

    // Which steps fire, and each clock's next fire time.
    struct Firing<'a> {
        clock: &'a incident_clock::Model,
        inc: &'a incident::Model,
        occ: Vec<Occurrence>,
    }
    let mut firings: Vec<Firing> = Vec::new();
    let mut next_fire: Vec<(i64, Option<DateTime<Utc>>)> = Vec::with_capacity(clocks.len());
    for c in &clocks {
        let Some(inc) = incidents.get(&c.incident_id) else {
            // Its incident is being changed right now (see `q::incidents`): the next sweep
            // takes the clock as it is then.
            continue;
        };
        let Some(rule) = policy.rule(&c.clock) else {
            // A clock no longer configured has no ladder left.
            next_fire.push((c.id, None));
            continue;
        };
        let fired = fired_before
            .get(&(c.incident_id, c.clock.clone()))
            .unwrap_or(&none);
        let due = due_at(&rule.ladder(), c.started_at, c.due_at, now, &|n| {
            fired.contains(n)
        });
        next_fire.push((c.id, due.next.as_ref().map(|o| o.at)));
        if !due.fire.is_empty() {
            firings.push(Firing {
                clock: c,
                inc,
                occ: due.fire,
            });
        }
    }
    // Who is told.
    let default_locale = Locale::parse(&settings.public.default_locale).unwrap_or_default();
    let mut assignee_ids: Vec<i64> = firings.iter().filter_map(|f| f.inc.assignee_id).collect();
    assignee_ids.sort_unstable();
    assignee_ids.dedup();
    let (staff, assignee_users) = q::people(conn, &assignee_ids).await?;
    let leads: Vec<Addressee> = staff
        .iter()
        .filter(|u| u.role == "lead")
        .map(|u| addressee_of(u, default_locale))
        .collect();
    let mut compliance: Vec<Addressee> = staff
        .iter()
        .filter(|u| u.role == "compliance")
        .map(|u| addressee_of(u, default_locale))
        .collect();
    let compliance_locale =
        Locale::parse(&settings.escalation.compliance_locale).unwrap_or(default_locale);
    for a in &settings.escalation.compliance_addresses {
        compliance.push(Addressee {
            email: a.clone(),
            name: String::new(),
            locale: compliance_locale,
        });
    }
    let assignees: HashMap<i64, Addressee> = assignee_users
        .iter()
        .map(|(id, u)| (*id, addressee_of(u, default_locale)))
        .collect();

    // One mail per person: every (incident, clock) that escalated to them, one entry per
    // incident. A clock that only repeats an overdue reminder tells a person again only after
    // `repeat_min_hours`, and the leads not at all when the daily digest (which lists it) is on.
    let repeat_gap = TimeDelta::hours(i64::from(settings.escalation.repeat_min_hours));
    let lead_keys: HashSet<String> = leads.iter().map(|a| a.email.to_lowercase()).collect();
    let notices = q::alert_notices(conn, &incident_ids).await?;
    let mut told_now: Vec<(i64, String, String)> = Vec::new();
    let mut per_person: BTreeMap<String, (Addressee, Vec<Hit>)> = BTreeMap::new();
    let mut told: Vec<Vec<Vec<String>>> = Vec::new(); // per firing, per occurrence: addresses
    for f in &firings {
        let rule = policy.rule(&f.clock.clock);
        let ladder = rule.map(|r| r.ladder()).unwrap_or_default();
        let repeats = ladder.iter().any(|s| s.every.is_some());
        let mut per_occ = Vec::with_capacity(f.occ.len());
        let mut everyone: Vec<Addressee> = Vec::new();
        let mut theirs: HashMap<String, Vec<&Occurrence>> = HashMap::new();
        for o in &f.occ {
            let who = resolve(&o.to, f.inc, &leads, &compliance, &assignees);
            per_occ.push(who.iter().map(|a| a.email.clone()).collect());
            for a in who {
                let key = a.email.to_lowercase();
                theirs.entry(key.clone()).or_default().push(o);
                if !everyone
                    .iter()
                    .any(|e| e.email.eq_ignore_ascii_case(&a.email))
                {
                    everyone.push(a);
                }
            }
        }
        told.push(per_occ);
        for a in everyone {
            let key = a.email.to_lowercase();
            let occ = &theirs[&key];
            if occ.iter().all(|o| is_repeat(&ladder, o)) {
                if settings.escalation.daily_digest && lead_keys.contains(&key) {
                    continue;
                }
                let last = notices.get(&(f.inc.id, f.clock.clock.clone(), key.clone()));
                if last.is_some_and(|at| now - *at < repeat_gap) {
                    continue;
                }
            }
            if repeats {
                told_now.push((f.inc.id, f.clock.clock.clone(), key.clone()));
            }
            let hit = Hit {
                incident_id: f.inc.id,
                clock: f.clock.clock.clone(),
                legal: rule.is_some_and(|r| !r.internal),
                weight: rule.map_or(0, |r| r.weight),
                due_at: f.clock.due_at,
                zone: rule.map_or(settings.public.time_zone, |r| r.zone),
                steps: occ.iter().map(|o| o.name.clone()).collect(),
            };
            per_person
                .entry(key)
                .or_insert_with(|| (a.clone(), Vec::new()))
                .1
                .push(hit);
        }
    }

    // The mails, and the fired steps with who was told of each.
    let info = incident_info(&incidents, &assignees);
    let mut mails = Vec::with_capacity(per_person.len());
    for (key, (to, hits)) in per_person {
        let alert = build_alert(hits, now);
        let rendered = render_alert(settings, &to, Kind::Escalation, &alert, &info)?;
        let single = (alert.entries.len() == 1).then(|| alert.entries[0].incident_id);
        let queued = queued(&rendered.mail, alert.entries.len());
        mails.push(PlannedMail {
            key,
            rendered,
            single,
            queued,
        });
    }
    let mut fired = Vec::new();
    for (f, per_occ) in firings.iter().zip(told) {
        for (o, who) in f.occ.iter().zip(per_occ) {
            if who.is_empty() {
                tracing::warn!(
                    incident_id = f.inc.id,
                    clock = %f.clock.clock,
                    step = %o.name,
                    "escalation step has nobody to tell: add users with role lead or compliance, or escalation.compliance_addresses"
                );
            }
            fired.push(Fired {
                incident_id: f.inc.id,
                clock: f.clock.clock.clone(),
                step: o.name.clone(),
                phase: o.phase,
                step_at: o.at,
                due_at: f.clock.due_at,
                recipients: who,
            });
        }
    }
    Ok(Some(Plan {
        last,
        next_fire,
        mails,
        told_now,
        fired,
        clocks,
    }))
}

/// What writing a chunk's plan takes: the mails, then the fired steps pointing at (the first)
/// mail that told of them, then each clock's next fire time.
fn chunk_write(plan: &Plan, now: DateTime<Utc>) -> q::ChunkWrite {
    q::ChunkWrite {
        clocks: plan.clocks.clone(),
        mails: plan
            .mails
            .iter()
            .map(|m| {
                let row = outbox::row_with_steps(
                    &m.rendered.mail,
                    now,
                    m.single,
                    m.rendered.steps.clone(),
                );
                (m.key.clone(), row)
            })
            .collect(),
        told_now: plan.told_now.clone(),
        fired: plan
            .fired
            .iter()
            .map(|f| {
                let row = esc_row::ActiveModel {
                    incident_id: Set(f.incident_id),
                    clock: Set(f.clock.clone()),
                    step: Set(f.step.clone()),
                    fired_at: Set(now),
                    ..Default::default()
                };
                (row, f.recipients.clone())
            })
            .collect(),
        next_fire: plan.next_fire.clone(),
    }
}

/// What an alert entry shows about each incident besides its clocks.
fn incident_info(
    incidents: &HashMap<i64, incident::Model>,
    holders: &HashMap<i64, Addressee>,
) -> HashMap<i64, IncidentInfo> {
    incidents
        .values()
        .map(|i| {
            (
                i.id,
                IncidentInfo {
                    title: i.title.clone(),
                    state: i.state.clone(),
                    severity: i.severity.clone(),
                    holder: i.assignee_id.and_then(|id| holders.get(&id)).map(|a| {
                        if a.name.is_empty() {
                            a.email.clone()
                        } else {
                            a.name.clone()
                        }
                    }),
                },
            )
        })
        .collect()
}

fn queued(mail: &Mail, incidents: usize) -> Queued {
    Queued {
        kind: mail.kind,
        recipient: mail.recipient.clone(),
        subject: mail.subject.clone(),
        incidents,
    }
}

/// The day's digest of overdue incidents to each lead, once a day (keyed by its Message-ID), from
/// `digest_hour` in the public time zone on, and only when something is overdue.
async fn send_digests(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    let local = now.with_timezone(&settings.public.time_zone);
    if local.hour() < settings.escalation.digest_hour {
        return Ok(());
    }
    let day = local.date_naive();
    let txn = db.begin_write().await?;
    let leads = q::leads(&*txn).await?;
    let mut pending = Vec::new();
    for u in &leads {
        let mid = crate::mail::escalation::digest_message_id(settings, day, &u.email);
        if !outbox::message_id_exists(&*txn, &mid).await? {
            pending.push(u);
        }
    }
    if pending.is_empty() {
        txn.rollback().await?;
        return Ok(());
    }
    let overdue = q::overdue(&*txn, now).await?;
    if overdue.is_empty() {
        txn.rollback().await?;
        return Ok(());
    }
    let hits: Vec<Hit> = overdue
        .iter()
        .map(|(i, c)| {
            let rule = settings.deadlines.rule(&c.clock);
            Hit {
                incident_id: i.id,
                clock: c.clock.clone(),
                legal: rule.is_some_and(|r| !r.internal),
                weight: rule.map_or(0, |r| r.weight),
                due_at: c.due_at,
                zone: rule.map_or(settings.public.time_zone, |r| r.zone),
                steps: Vec::new(),
            }
        })
        .collect();
    let alert = build_alert(hits, now);
    let mut assignee_ids: Vec<i64> = overdue.iter().filter_map(|(i, _)| i.assignee_id).collect();
    assignee_ids.sort_unstable();
    assignee_ids.dedup();
    let (_, holders) = q::people(&*txn, &assignee_ids).await?;
    let default_locale = Locale::parse(&settings.public.default_locale).unwrap_or_default();
    let holders: HashMap<i64, Addressee> = holders
        .iter()
        .map(|(id, u)| (*id, addressee_of(u, default_locale)))
        .collect();
    let incidents: HashMap<i64, incident::Model> =
        overdue.iter().map(|(i, _)| (i.id, i.clone())).collect();
    let info = incident_info(&incidents, &holders);
    for u in pending {
        let to = addressee_of(u, default_locale);
        let r = render_alert(settings, &to, Kind::Digest(day), &alert, &info)?;
        outbox::enqueue(&*txn, &r.mail, now, None, None).await?;
        report.mails.push(queued(&r.mail, alert.entries.len()));
    }
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(())
}

/// The report as `rectify sweep` prints it.
pub fn describe(report: &SweepReport, now: DateTime<Utc>, dry_run: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let verb = if dry_run { "would fire" } else { "fired" };
    let _ = writeln!(
        out,
        "sweep at {}{}: {} step(s) {verb} on {} clock(s) due; {} mail(s) {}",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        report.fired.len(),
        report.clocks,
        report.mails.len(),
        if dry_run { "would be queued" } else { "queued" },
    );
    out.push_str(&crate::jobs::retention::describe(&report.redacted, dry_run));
    for f in &report.fired {
        let _ = writeln!(
            out,
            "{} incident {} {} {} (step at {}, due {}) -> {}",
            if dry_run { "WOULD FIRE" } else { "FIRED" },
            f.incident_id,
            f.clock,
            f.step,
            f.step_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            f.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if f.recipients.is_empty() {
                "(nobody)".to_owned()
            } else {
                f.recipients.join(", ")
            }
        );
    }
    for m in &report.mails {
        let _ = writeln!(
            out,
            "{} {} to {}: {:?} ({} incident(s))",
            if dry_run { "WOULD MAIL" } else { "MAIL" },
            m.kind,
            m.recipient,
            m.subject,
            m.incidents
        );
    }
    out
}
