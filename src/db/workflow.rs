//! Taking workflow actions on stored incidents: the event, the row, the clocks and any mail
//! the change causes, in one transaction; of two people acting at once, one wins and the other
//! gets [`ActError::Conflict`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{incident, incident_clock, regression_case, report};
use super::{Db, DbError, deadlines, escalation, incidents, outbox};
use crate::domain::deadlines::{ClockEnd, ClockFacts, Policy, StartEvent};
use crate::domain::report::{COMPLAINT_CLOCK, title_of};
use crate::domain::workflow::{self, Action, ActionKind, Actor, Incident, Refusal, State};
use crate::mail::Mail;

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("the incident was changed by someone else meanwhile; reload it and try again")]
    Conflict,
    #[error("no such incident")]
    NotFound,
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for ActError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict => ActError::Conflict,
            DbError::NotFound => ActError::NotFound,
            e => ActError::Db(e),
        }
    }
}

impl From<sea_orm::DbErr> for ActError {
    fn from(e: sea_orm::DbErr) -> Self {
        ActError::Db(DbError::Db(e))
    }
}

/// Someone to tell about an incident's outcome: a report's contact, in the report's language.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub email: String,
    pub locale: String,
    pub tracking_code: String,
}

/// Renders the mail a change causes (outcome notices to reporters). Called inside the
/// transaction with the incident after the change, so no report that joined meanwhile is missed.
pub type MailFor<'a> = &'a (dyn Fn(&Incident, &[Reporter]) -> Vec<Mail> + Sync);

pub fn no_mail(_: &Incident, _: &[Reporter]) -> Vec<Mail> {
    Vec::new()
}

/// Takes `action` on incident `id`. `seen_version` is the version the actor was looking at:
/// when the incident has changed since, the action is refused as a conflict rather than
/// applied to something the actor has not seen.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    db: &Db,
    policy: &Policy,
    id: i64,
    seen_version: Option<i64>,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: MailFor<'_>,
) -> Result<Incident, ActError> {
    let txn = db.begin_write().await?;
    let result = act_in(
        &txn,
        db,
        policy,
        id,
        seen_version,
        action,
        actor,
        now,
        mail_for,
    )
    .await?;
    txn.commit().await?;
    Ok(result)
}

/// [`act`] inside the caller's write transaction (from [`Db::begin_write`]), for changes that
/// store rows of their own with the event (a regression case, a verification run). Nothing is
/// committed: on an error the caller drops the transaction.
#[allow(clippy::too_many_arguments)]
pub async fn act_in(
    txn: &DatabaseTransaction,
    db: &Db,
    policy: &Policy,
    id: i64,
    seen_version: Option<i64>,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: MailFor<'_>,
) -> Result<Incident, ActError> {
    let before = lock(txn, db, id).await?;
    if seen_version.is_some_and(|v| v != before.version) {
        return Err(ActError::Conflict);
    }
    let result = match action {
        Action::Merge { target } => {
            merge_in(txn, db, policy, &before, target.id, actor, now).await?
        }
        Action::SplitOut { report_id, .. } => {
            split_in(txn, db, policy, &before, *report_id, actor, now).await?
        }
        _ => {
            let domain = incidents::to_domain(&before)?;
            let event = workflow::apply(&domain, action, actor, now).map_err(ActError::Refused)?;
            let after = workflow::project(Some(&domain), id, &event)
                .map_err(|e| ActError::Db(DbError::Setup(e.to_string())))?;
            incidents::append(txn, &before, &after, &event, actor.user_id).await?;
            update_clocks(txn, policy, &after, &event.action, now).await?;
            after
        }
    };
    let reporters = reporters(txn, result.id).await?;
    for mail in mail_for(&result, &reporters) {
        outbox::enqueue(txn, &mail, now, Some(result.id), None).await?;
    }
    Ok(result)
}

/// [`incidents::lock`], with a missing incident as the action's error.
async fn lock(txn: &DatabaseTransaction, db: &Db, id: i64) -> Result<incident::Model, ActError> {
    incidents::lock(txn, db, id)
        .await?
        .ok_or(ActError::NotFound)
}

async fn merge_in(
    txn: &DatabaseTransaction,
    db: &Db,
    policy: &Policy,
    dup_row: &incident::Model,
    target_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Incident, ActError> {
    let dup = incidents::to_domain(dup_row)?;
    let target_row = if target_id == dup_row.id {
        dup_row.clone()
    } else {
        match lock(txn, db, target_id).await {
            Ok(r) => r,
            Err(ActError::NotFound) => {
                // Let the workflow word the refusal for a target that does not exist.
                let action = Action::Merge {
                    target: workflow::MergeTarget {
                        id: target_id,
                        state: None,
                    },
                };
                return Err(ActError::Refused(
                    workflow::apply(&dup, &action, actor, now).err().unwrap_or(
                        Refusal::NothingToChange {
                            what: workflow::Unchanged::MergeTarget,
                        },
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
    };
    let target = incidents::to_domain(&target_row)?;
    let (merged, absorbed) =
        workflow::merge(&dup, &target, actor, now).map_err(ActError::Refused)?;
    let dup_after = workflow::project(Some(&dup), dup.id, &merged)
        .map_err(|e| ActError::Db(DbError::Setup(e.to_string())))?;
    let target_after = workflow::project(Some(&target), target.id, &absorbed)
        .map_err(|e| ActError::Db(DbError::Setup(e.to_string())))?;
    incidents::append(txn, dup_row, &dup_after, &merged, actor.user_id).await?;
    incidents::append(txn, &target_row, &target_after, &absorbed, None).await?;
    report::Entity::update_many()
        .col_expr(report::Column::IncidentId, Expr::value(target.id))
        .filter(report::Column::IncidentId.eq(dup.id))
        .exec(txn)
        .await?;
    // The duplicate's regression cases are about the same content: they follow its reports.
    regression_case::Entity::update_many()
        .col_expr(regression_case::Column::IncidentId, Expr::value(target.id))
        .filter(regression_case::Column::IncidentId.eq(dup.id))
        .exec(txn)
        .await?;
    // The earlier first complaint wins, as the earlier first report does.
    if let Some(dup_complaint) = dup_row.complaint_at
        && target_row.complaint_at.is_none_or(|t| dup_complaint < t)
    {
        incident::Entity::update_many()
            .col_expr(
                incident::Column::ComplaintAt,
                Expr::value(Some(dup_complaint)),
            )
            .filter(incident::Column::Id.eq(target.id))
            .exec(txn)
            .await?;
    }
    update_clocks(txn, policy, &dup_after, &merged.action, now).await?;
    update_clocks(txn, policy, &target_after, &absorbed.action, now).await?;
    Ok(dup_after)
}

async fn split_in(
    txn: &DatabaseTransaction,
    db: &Db,
    policy: &Policy,
    row: &incident::Model,
    report_id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Incident, ActError> {
    let domain = incidents::to_domain(row)?;
    let rep = report::Entity::find_by_id(report_id)
        .one(txn)
        .await?
        .filter(|r| r.incident_id == row.id)
        .ok_or(ActError::Refused(Refusal::Invalid {
            field: "report_id",
            problem: workflow::Problem::NotThisIncidentsReport { report_id },
        }))?;
    // Check the split is allowed before creating anything (new_incident_id is filled in below).
    workflow::check_allowed(&domain, ActionKind::SplitOut, actor.role)
        .map_err(ActError::Refused)?;
    let new_id = next_incident_id(txn, db).await?;
    let open = Action::Open {
        category: rep.category.clone(),
        title: title_of(&rep.output, 80),
        fingerprint: rep.fingerprint.clone(),
        first_reported_at: rep.received_at,
    };
    let (new_inc, open_event) =
        workflow::open(new_id, &open, &Actor::system(), now).map_err(ActError::Refused)?;
    let split = Action::SplitOut {
        report_id,
        new_incident_id: new_id,
    };
    let event = workflow::apply(&domain, &split, actor, now).map_err(ActError::Refused)?;
    let after = workflow::project(Some(&domain), row.id, &event)
        .map_err(|e| ActError::Db(DbError::Setup(e.to_string())))?;

    let stored = open_event.seal(new_id, new_inc.version, crate::domain::audit::GENESIS);
    let complaint = rep.channel != crate::domain::report::Channel::Discovery.as_str();
    let (clock_rows, next_due) = super::intake::clock_rows(policy, &new_inc, complaint);
    let mut new_row = incidents::new_row(&new_inc, &stored.hash, next_due.as_ref(), now);
    new_row.complaint_at = Set(complaint.then_some(rep.received_at));
    new_row.insert(txn).await?;
    incidents::event_row(&stored, None).insert(txn).await?;
    for c in clock_rows {
        c.insert(txn).await?;
    }
    incidents::append(txn, row, &after, &event, actor.user_id).await?;
    report::Entity::update_many()
        .col_expr(report::Column::IncidentId, Expr::value(new_id))
        .filter(report::Column::Id.eq(report_id))
        .exec(txn)
        .await?;
    regression_case::Entity::update_many()
        .col_expr(regression_case::Column::IncidentId, Expr::value(new_id))
        .filter(regression_case::Column::ReportId.eq(report_id))
        .exec(txn)
        .await?;
    update_clocks(txn, policy, &after, &event.action, now).await?;
    Ok(after)
}

async fn next_incident_id(txn: &DatabaseTransaction, db: &Db) -> Result<i64, DbError> {
    let sql = if db.is_postgres() {
        "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) AS id"
    } else {
        "SELECT COALESCE(MAX(id), 0) + 1 AS id FROM incidents"
    };
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(db.backend(), sql))
        .await?
        .ok_or(DbError::NotFound)?;
    Ok(row.try_get("", "id")?)
}

/// The contacts of an incident's reports (erased reports have none).
async fn reporters<C: ConnectionTrait>(
    conn: &C,
    incident_id: i64,
) -> Result<Vec<Reporter>, DbError> {
    let rows = report::Entity::find()
        .filter(report::Column::IncidentId.eq(incident_id))
        .filter(report::Column::ReporterEmail.is_not_null())
        .order_by_asc(report::Column::Id)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Reporter {
                email: r.reporter_email?,
                locale: r.locale,
                tracking_code: r.tracking_code,
            })
        })
        .collect())
}

/// Brings an incident's clocks in line with the policy after an event: ends those the event
/// ends, starts those whose start event has now happened, recomputes due instants whose inputs
/// changed (an earlier first report after a merge, a new severity or serious kind), cancels
/// those that no longer apply, resumes clocks on a reopen, and records the nearest deadline.
///
/// How a clock ends ([`ClockEnd::after`]): an event in its `stops_on` meets it (or breaches it,
/// late), unless that event ends the incident without the work (rejected, merged), which
/// stops it; an event that closes the incident stops every clock it does not meet. The action
/// is kept as the clock's `stop_reason`.
pub async fn update_clocks<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    inc: &Incident,
    action: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let rows = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(inc.id))
        .all(conn)
        .await?;
    let mut by_name: HashMap<String, incident_clock::Model> =
        rows.into_iter().map(|r| (r.clock.clone(), r)).collect();
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity,
        serious: inc.serious,
    };
    let mut due_now: HashMap<String, _> = policy
        .clocks_for(
            &facts,
            inc.first_reported_at,
            inc.triaged_at,
            inc.serious_at,
        )
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    // The complaint clock runs from the first complaint, and not at all without one (an
    // incident only discovery reports make up).
    let complaint_at = incident::Entity::find_by_id(inc.id)
        .one(conn)
        .await?
        .and_then(|r| r.complaint_at);
    match complaint_at {
        None => {
            due_now.remove(COMPLAINT_CLOCK);
        }
        Some(at) if at != inc.first_reported_at => {
            if let Some(c) = policy
                .clocks_for(&facts, at, inc.triaged_at, inc.serious_at)
                .into_iter()
                .find(|c| c.name == COMPLAINT_CLOCK)
            {
                due_now.insert(c.name.clone(), c);
            }
        }
        Some(_) => {}
    }
    let kind: Option<ActionKind> = action.parse().ok();
    // Only the event that closes the incident ends its clocks; a clock started later on a
    // closed incident (a serious incident found after the fix) runs until its own event.
    let closing = !inc.state.is_open() && kind.is_some_and(ActionKind::is_transition);
    let without_work = closing && inc.state != State::Resolved;
    for rule in &policy.clocks {
        let existing = by_name.remove(&rule.name);
        let computed = due_now.get(&rule.name);
        let stops = kind.is_some_and(|k| rule.stopped_by(k));
        match (existing, computed) {
            (Some(row), Some(c)) => {
                let mut a: incident_clock::ActiveModel = row.clone().into();
                let mut changed = false;
                if row.status == "running" {
                    let ends = stops || closing;
                    if ends {
                        // A rejection ends the work but is itself the feedback the complaint
                        // clock promises: the reporter is told the decision with its reasons.
                        let feedback =
                            rule.name == COMPLAINT_CLOCK && kind == Some(ActionKind::Reject);
                        let end = ClockEnd::after(stops, without_work && !feedback, now, c.due);
                        a.stopped_at = Set(Some(now));
                        a.status = Set(end.as_str().into());
                        a.stop_reason = Set(Some(action.to_owned()));
                        a.next_fire_at = Set(None);
                        changed = true;
                    }
                    if row.due_at != c.due || row.started_at != c.start {
                        a.due_at = Set(c.due);
                        a.started_at = Set(c.start);
                        deadlines::set_basis(&mut a, c);
                        if !ends {
                            // The ladder moves with the deadline; steps that fired stay fired.
                            a.next_fire_at = Set(escalation::next_fire_for(
                                conn, policy, inc.id, &rule.name, c.start, c.due,
                            )
                            .await?);
                        }
                        changed = true;
                    }
                } else if matches!(kind, Some(ActionKind::Reopen | ActionKind::GrantAppeal))
                    && deadlines::ended_by_closing(&row)
                    // Feedback given (the rejection's reasons) stays given: a reopen does not
                    // take back what the reporter was told.
                    && !(rule.name == COMPLAINT_CLOCK && row.status != "stopped")
                {
                    // Legal clocks do not restart: the incident is open again against the
                    // deadline it always had.
                    a.stopped_at = Set(None);
                    a.status = Set("running".into());
                    a.stop_reason = Set(None);
                    a.next_fire_at = Set(escalation::next_fire_for(
                        conn,
                        policy,
                        inc.id,
                        &rule.name,
                        row.started_at,
                        row.due_at,
                    )
                    .await?);
                    changed = true;
                } else if row.status == "cancelled" && inc.state.is_open() {
                    a.status = Set("running".into());
                    a.stop_reason = Set(None);
                    a.stopped_at = Set(None);
                    a.due_at = Set(c.due);
                    a.started_at = Set(c.start);
                    deadlines::set_basis(&mut a, c);
                    a.next_fire_at = Set(escalation::next_fire_for(
                        conn, policy, inc.id, &rule.name, c.start, c.due,
                    )
                    .await?);
                    changed = true;
                }
                if changed {
                    a.update(conn).await?;
                }
            }
            (Some(row), None) => {
                if row.status == "running" {
                    let mut a: incident_clock::ActiveModel = row.into();
                    a.status = Set("cancelled".into());
                    a.stopped_at = Set(Some(now));
                    a.stop_reason = Set(Some(action.to_owned()));
                    a.next_fire_at = Set(None);
                    a.update(conn).await?;
                }
            }
            (None, Some(c)) => {
                // A clock whose start event just happened (triage, a serious flag), or one that
                // now applies. One the same event also ends is born ended.
                let started_by_this = match rule.starts_on {
                    StartEvent::FirstReport => false,
                    StartEvent::Triage => kind == Some(ActionKind::Triage),
                    StartEvent::SeriousFlag => kind == Some(ActionKind::SetSerious),
                };
                // A complaint clock that only now applies (a complaint merged in) is already
                // met once the incident is past the decision it promises.
                let decided = rule.name == COMPLAINT_CLOCK && inc.state != State::New;
                let stops = (stops && !started_by_this) || decided;
                let ended =
                    (stops || closing).then(|| ClockEnd::after(stops, without_work, now, c.due));
                let next_fire_at = if ended.is_some() {
                    None
                } else {
                    escalation::next_fire_for(conn, policy, inc.id, &c.name, c.start, c.due).await?
                };
                let mut a = incident_clock::ActiveModel {
                    incident_id: Set(inc.id),
                    clock: Set(c.name.clone()),
                    started_at: Set(c.start),
                    due_at: Set(c.due),
                    stopped_at: Set(ended.map(|_| now)),
                    status: Set(ended.map_or("running", ClockEnd::as_str).into()),
                    stop_reason: Set(ended.map(|_| action.to_owned())),
                    next_fire_at: Set(next_fire_at),
                    ..Default::default()
                };
                deadlines::set_basis(&mut a, c);
                a.insert(conn).await?;
            }
            (None, None) => {}
        }
    }
    refresh_next_due(conn, inc.id).await
}

/// Stores the nearest due instant of the incident's running clocks on its row.
pub async fn refresh_next_due<C: ConnectionTrait>(conn: &C, id: i64) -> Result<(), DbError> {
    let next = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .filter(incident_clock::Column::Status.eq("running"))
        .order_by_asc(incident_clock::Column::DueAt)
        .one(conn)
        .await?;
    incidents::set_next_due(conn, id, next.map(|c| (c.due_at, c.clock))).await
}
