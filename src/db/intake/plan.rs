//! What a batch of reports writes, decided without touching the database: given the open
//! incidents the reports' fingerprints match and the ids allocated for new rows, the rows to
//! insert and the incident updates to make. Both backends' writers share it, so grouping,
//! events and clocks cannot differ between SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Stored, Submission};
use crate::db::entities::{
    attachment, discovery_source, incident, incident_clock, incident_event, outbox as outbox_row,
    regression_case, report,
};
use crate::db::{DbError, incidents, outbox};
use crate::domain::cases::CaseSource;
use crate::domain::deadlines::{ClockFacts, Policy};
use crate::domain::report::{COMPLAINT_CLOCK, clock_applies, title_of};
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
    /// (SQLite's writer; PostgreSQL's asks its own way, see `postgres::incidents_with`.)
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
    /// After the reports: the screenshots that came with them.
    pub attachments: Vec<attachment::ActiveModel>,
    /// After the reports: a regression case for each report with a prompt.
    pub cases: Vec<regression_case::ActiveModel>,
    /// After the reports: where each discovery report came from.
    pub sources: Vec<discovery_source::ActiveModel>,
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
    /// The first complaint's instant (`incidents.complaint_at`), and whether this batch set it.
    complaint_at: Option<DateTime<Utc>>,
    complaint_set: bool,
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
                complaint_at: row.complaint_at,
                complaint_set: false,
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
        attachments: Vec::new(),
        cases: Vec::new(),
        sources: Vec::new(),
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
                if sub.channel.is_complaint() && p.complaint_at.is_none() {
                    // The first complaint about content found by red-teaming: the feedback
                    // promise runs from it.
                    p.complaint_at = Some(now);
                    p.complaint_set = true;
                    if let Some(row) = complaint_clock_row(policy, &p.current, now) {
                        if row.status.as_ref() == "running" {
                            let due = *row.due_at.as_ref();
                            let nearest = p.before.as_ref().and_then(|b| b.next_due_at);
                            if nearest.is_none_or(|n| due < n) {
                                p.next_due = Some((due, COMPLAINT_CLOCK.to_owned()));
                            }
                        }
                        out.clocks.push(row);
                    }
                }
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
                let complaint = sub.channel.is_complaint();
                let (rows, next_due) = clock_rows(policy, &inc, complaint);
                out.clocks.extend(rows);
                pending.insert(
                    id,
                    Pending {
                        before: None,
                        current: inc,
                        hash: stored.hash,
                        next_due,
                        complaint_at: complaint.then_some(now),
                        complaint_set: false,
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
        out.attachments.extend(
            sub.files.iter().map(|f| {
                crate::db::attachments::reporter_row(f, report_id, incident_id, None, now)
            }),
        );
        if let Some(prompt) = r.prompt.as_ref().filter(|p| !p.trim().is_empty()) {
            let source = if sub.channel.is_complaint() {
                CaseSource::Report
            } else {
                CaseSource::Import
            };
            out.cases.push(regression_case::ActiveModel {
                incident_id: Set(incident_id),
                report_id: Set(Some(report_id)),
                prompt: Set(prompt.clone()),
                bad_output: Set(r.output.clone()),
                desired: Set(None),
                source: Set(source.as_str().to_owned()),
                model: Set(r.model.clone()),
                model_version: Set(r.model_version.clone()),
                retired: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        }
        if let Some(src) = &sub.source {
            out.sources.push(discovery_source::ActiveModel {
                tool: Set(src.tool.clone()),
                source_id: Set(src.source_id.clone()),
                report_id: Set(report_id),
                probe: Set(src.probe.clone()),
                detector: Set(src.detector.clone()),
                score: Set(src.score),
                run_id: Set(src.run_id.clone()),
                model: Set(src.model.clone()),
                imported_at: Set(now),
                ..Default::default()
            });
        }
        if let Some(mail) = &sub.ack {
            out.mails
                .push(outbox::row(mail, now, Some(incident_id), Some(report_id)));
        }
        out.stored.push(Stored {
            code: sub.code.clone(),
            report_id,
            incident_id,
            joined,
            already: false,
            pending: false,
        });
    }

    let now = subs.first().map(|s| s.received_at).unwrap_or_else(Utc::now);
    out.new_incidents = opened
        .iter()
        .filter_map(|id| pending.get(id))
        .map(|p| {
            let mut row = incidents::new_row(&p.current, &p.hash, p.next_due.as_ref(), now);
            row.complaint_at = Set(p.complaint_at);
            row
        })
        .collect();
    for p in pending.values() {
        if let Some(before) = &p.before
            && p.current.version != before.version
        {
            let mut update = incidents::projection_update(before, &p.current, &p.hash);
            if p.complaint_set {
                update = update.col_expr(
                    incident::Column::ComplaintAt,
                    sea_orm::sea_query::Expr::value(p.complaint_at),
                );
            }
            if let Some((at, clock)) = &p.next_due {
                update = update
                    .col_expr(
                        incident::Column::NextDueAt,
                        sea_orm::sea_query::Expr::value(*at),
                    )
                    .col_expr(
                        incident::Column::NextDueClock,
                        sea_orm::sea_query::Expr::value(clock.clone()),
                    );
            }
            out.updates.push(update);
        }
    }
    Ok(out)
}

/// The complaint clock of an incident a complaint has just joined, started at `now`: running
/// while the incident awaits triage, otherwise born met (the decision it promises is made).
fn complaint_clock_row(
    policy: &Policy,
    inc: &workflow::Incident,
    now: DateTime<Utc>,
) -> Option<incident_clock::ActiveModel> {
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity,
        serious: inc.serious,
    };
    let c = policy
        .clocks_for(&facts, now, inc.triaged_at, inc.serious_at)
        .into_iter()
        .find(|c| c.name == COMPLAINT_CLOCK)?;
    let running = inc.state == State::New;
    Some(incident_clock::ActiveModel {
        incident_id: Set(inc.id),
        next_fire_at: Set(running
            .then(|| policy.first_fire(&c.name, c.start, c.due))
            .flatten()),
        clock: Set(c.name),
        started_at: Set(c.start),
        due_at: Set(c.due),
        stopped_at: Set((!running).then_some(now)),
        status: Set(if running { "running" } else { "met" }.into()),
        ..Default::default()
    })
}

/// The clock rows of a new incident, and the nearest of their due instants. Without a
/// `complaint` (opened by a discovery report) the complaint clock does not apply.
pub fn clock_rows(
    policy: &Policy,
    inc: &workflow::Incident,
    complaint: bool,
) -> (
    Vec<incident_clock::ActiveModel>,
    Option<(DateTime<Utc>, String)>,
) {
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity,
        serious: inc.serious,
    };
    let mut clocks = policy.clocks_for(
        &facts,
        inc.first_reported_at,
        inc.triaged_at,
        inc.serious_at,
    );
    clocks.retain(|c| clock_applies(&c.name, complaint));
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
