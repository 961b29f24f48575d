//! Appeals (DSA Art. 20): a reporter contests the decision that closed an incident (rejected,
//! or resolved) within `public.appeal_days` of it; an `appeal` clock starts; a lead other than
//! the person who took the decision upholds it or reopens the incident, and the reporter is
//! told on the status page and by mail.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entities::{incident, incident_clock, incident_event, report, reporter_message, user};
use super::messages::{FROM_REPORTER, REPORTER_ACTOR, sha256_hex};
use super::workflow::{ActError, MailFor, act_in, no_mail};
use super::{Db, DbError, outbox};
use crate::domain::deadlines::Policy;
use crate::domain::tracking_code::TrackingCode;
use crate::domain::workflow::{Action, Actor, Problem, Refusal};
use crate::mail::Mail;

pub const APPEAL_CLOCK: &str = "appeal";

/// The decision an appeal may contest: the latest event that closed the incident.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: String,
    pub at: DateTime<Utc>,
    pub by: Option<i64>,
}

/// An appeal and, once decided, its outcome.
#[derive(Debug, Clone)]
pub struct AppealView {
    pub filed_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub contested_by: Option<i64>,
    /// "uphold_appeal" or "grant_appeal", with the reasons, once decided.
    pub decision: Option<(String, String, DateTime<Utc>)>,
}

/// The event that put the incident in its current closed state, if it is closed.
pub async fn decision<C: ConnectionTrait>(
    conn: &C,
    inc: &incident::Model,
) -> Result<Option<Decision>, DbError> {
    if !matches!(inc.state.as_str(), "rejected" | "resolved") {
        return Ok(None);
    }
    let ev = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(inc.id))
        .filter(incident_event::Column::ToState.eq(inc.state.as_str()))
        .filter(incident_event::Column::FromState.ne(inc.state.as_str()))
        .order_by_desc(incident_event::Column::Seq)
        .one(conn)
        .await?;
    Ok(ev.map(|e| Decision {
        action: e.action,
        at: e.at,
        by: e.actor_id,
    }))
}

/// The incident's latest appeal (open or decided), after its latest closing decision.
pub async fn latest<C: ConnectionTrait>(
    conn: &C,
    incident_id: i64,
) -> Result<Option<AppealView>, DbError> {
    let events = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(incident_id))
        .filter(incident_event::Column::Action.is_in(["appeal", "uphold_appeal", "grant_appeal"]))
        .order_by_asc(incident_event::Column::Seq)
        .all(conn)
        .await?;
    let mut out: Option<AppealView> = None;
    for e in events {
        let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
        if e.action == "appeal" {
            out = Some(AppealView {
                filed_at: e.at,
                due_at: None,
                contested_by: data.get("contested_by").and_then(serde_json::Value::as_i64),
                decision: None,
            });
        } else if let Some(a) = out.as_mut() {
            let reasons = data
                .get("reasons")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            a.decision = Some((e.action, reasons, e.at));
        }
    }
    if let Some(a) = out.as_mut() {
        a.due_at = incident_clock::Entity::find()
            .filter(incident_clock::Column::IncidentId.eq(incident_id))
            .filter(incident_clock::Column::Clock.eq(APPEAL_CLOCK))
            .order_by_desc(incident_clock::Column::Id)
            .one(conn)
            .await?
            .map(|c| c.due_at);
    }
    Ok(out)
}

/// Whether the incident has an appeal nobody has decided yet.
pub async fn is_open<C: ConnectionTrait>(conn: &C, incident_id: i64) -> Result<bool, DbError> {
    Ok(latest(conn, incident_id)
        .await?
        .is_some_and(|a| a.decision.is_none()))
}

/// Why a reporter may not appeal now.
#[derive(Debug, PartialEq, Eq)]
pub enum NotNow {
    NotFound,
    /// Neither rejected nor resolved.
    NoDecision,
    /// `public.appeal_days` have passed since the decision.
    TooLate,
    /// One is open already, or this decision was appealed once.
    AlreadyAppealed,
}

/// Whether `code`'s report may contest its incident's decision at `now`, and the decision.
pub async fn may_appeal<C: ConnectionTrait>(
    conn: &C,
    code: &TrackingCode,
    now: DateTime<Utc>,
    appeal_days: u32,
) -> Result<Result<(report::Model, incident::Model, Decision), NotNow>, DbError> {
    let Some(rep) = report::Entity::find()
        .filter(report::Column::TrackingCode.eq(code.as_str()))
        .one(conn)
        .await?
    else {
        return Ok(Err(NotNow::NotFound));
    };
    let Some(inc) = incident::Entity::find_by_id(rep.incident_id)
        .one(conn)
        .await?
    else {
        return Ok(Err(NotNow::NotFound));
    };
    let Some(d) = decision(conn, &inc).await? else {
        return Ok(Err(NotNow::NoDecision));
    };
    if now > d.at + Duration::days(i64::from(appeal_days)) {
        return Ok(Err(NotNow::TooLate));
    }
    if latest(conn, inc.id)
        .await?
        .is_some_and(|a| a.filed_at >= d.at)
    {
        return Ok(Err(NotNow::AlreadyAppealed));
    }
    Ok(Ok((rep, inc, d)))
}

/// Files an appeal: the reasons (kept like a reply), the `appeal` event, the `appeal` clock
/// (counted like the published feedback limit, `clock_days` working days) and a mail to the
/// leads. `notice` renders the leads' mail.
#[allow(clippy::too_many_arguments)]
pub async fn file(
    db: &Db,
    policy: &Policy,
    code: &TrackingCode,
    reasons: &str,
    now: DateTime<Utc>,
    appeal_days: u32,
    clock_days: u32,
    notice: &(dyn Fn(&incident::Model, &user::Model) -> Option<Mail> + Sync),
) -> Result<Result<i64, NotNow>, ActError> {
    let txn = db.begin_write().await?;
    let (rep, inc, d) = match may_appeal(&*txn, code, now, appeal_days).await? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let reasons = reasons.trim();
    let stored = reporter_message::ActiveModel {
        report_id: Set(rep.id),
        incident_id: Set(inc.id),
        direction: Set(FROM_REPORTER.into()),
        batch: Set(format!("appeal-{}", uuid::Uuid::now_v7())),
        body: Set(reasons.to_owned()),
        author: Set(REPORTER_ACTOR.into()),
        created_at: Set(now),
        read_at: Set(None),
        redacted_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let actor = Actor {
        label: REPORTER_ACTOR.into(),
        user_id: None,
        role: None,
        token: None,
    };
    let action = Action::Appeal {
        report_id: rep.id,
        message_id: stored.id,
        sha256: sha256_hex(reasons),
        contested: d.action.clone(),
        contested_by: d.by,
    };
    act_in(
        &txn, db, policy, inc.id, None, &action, &actor, now, &no_mail,
    )
    .await?;
    // The appeal clock is counted like the published feedback limit (same calendar and zone).
    if let Some(ack) = policy.rule(crate::domain::report::COMPLAINT_CLOCK) {
        let due = policy.due_for(ack, now, clock_days);
        let mut a = incident_clock::ActiveModel {
            incident_id: Set(inc.id),
            clock: Set(APPEAL_CLOCK.into()),
            started_at: Set(now),
            due_at: Set(due.due),
            stopped_at: Set(None),
            status: Set("running".into()),
            stop_reason: Set(None),
            next_fire_at: Set(None),
            ..Default::default()
        };
        super::deadlines::set_basis(&mut a, &due);
        a.insert(&*txn).await?;
    }
    let leads = user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .filter(user::Column::Role.eq("lead"))
        .order_by_asc(user::Column::Id)
        .all(&*txn)
        .await?;
    for u in &leads {
        if let Some(mail) = notice(&inc, u) {
            outbox::enqueue(&*txn, &mail, now, Some(inc.id), None).await?;
        }
    }
    txn.commit().await?;
    Ok(Ok(inc.id))
}

/// A lead decides the open appeal: `uphold_appeal` or `grant_appeal`, with the contested
/// decision's author filled in so the engine refuses a self-review; the appeal clock ends
/// (met or breached); `mail_for` tells the reporters.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: &Db,
    policy: &Policy,
    id: i64,
    seen_version: Option<i64>,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: MailFor<'_>,
) -> Result<(), ActError> {
    let txn = db.begin_write().await?;
    let open = latest(&*txn, id).await?.filter(|a| a.decision.is_none());
    let Some(open) = open else {
        return Err(ActError::Refused(Refusal::Invalid {
            field: "appeal",
            problem: Problem::NoOpenAppeal,
        }));
    };
    let action = match action {
        Action::UpholdAppeal { reasons, .. } => Action::UpholdAppeal {
            reasons: reasons.clone(),
            contested_by: open.contested_by,
        },
        Action::GrantAppeal { reasons, .. } => Action::GrantAppeal {
            reasons: reasons.clone(),
            contested_by: open.contested_by,
        },
        other => other.clone(),
    };
    act_in(
        &txn,
        db,
        policy,
        id,
        seen_version,
        &action,
        actor,
        now,
        mail_for,
    )
    .await?;
    if let Some(c) = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .filter(incident_clock::Column::Clock.eq(APPEAL_CLOCK))
        .filter(incident_clock::Column::Status.eq("running"))
        .one(&*txn)
        .await?
    {
        let due = c.due_at;
        let mut a: incident_clock::ActiveModel = c.into();
        a.status = Set(if now <= due { "met" } else { "breached" }.into());
        a.stopped_at = Set(Some(now));
        a.stop_reason = Set(Some(action.name().to_owned()));
        a.update(&*txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The actions that open and close an appeal, in the order the event log holds them: an
/// incident's appeal is open when the latest of these is an `appeal`.
const APPEAL_ACTIONS: [&str; 3] = ["appeal", "uphold_appeal", "grant_appeal"];

/// Incidents (among `ids`) with an appeal nobody has decided yet: one query for a page.
pub async fn open_among<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<i64>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(still_open(
        open_among_query(ids).into_tuple().all(conn).await?,
    ))
}

/// [`open_among`]'s query: the incident and action of each appeal event among `ids`, in the
/// log's order (two columns, not the events' whole rows).
pub(crate) fn open_among_query(ids: &[i64]) -> sea_orm::Select<incident_event::Entity> {
    incident_event::Entity::find()
        .select_only()
        .column(incident_event::Column::IncidentId)
        .column(incident_event::Column::Action)
        .filter(incident_event::Column::IncidentId.is_in(ids.iter().copied()))
        .filter(incident_event::Column::Action.is_in(APPEAL_ACTIONS))
        .order_by_asc(incident_event::Column::IncidentId)
        .order_by_asc(incident_event::Column::Seq)
}

/// The incidents whose latest appeal event, of [`open_among_query`]'s rows, is an `appeal`.
pub(crate) fn still_open(events: Vec<(i64, String)>) -> Vec<i64> {
    let mut open: Vec<i64> = Vec::new();
    for (incident_id, action) in events {
        open.retain(|id| *id != incident_id);
        if action == "appeal" {
            open.push(incident_id);
        }
    }
    open
}

/// The board's and list's `appeal=open` filter, as a condition on `incidents.id`: the same
/// rule as [`open_among`] (an `appeal` with no decision after it), in SQL both databases run.
pub fn open_condition() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Expr::cust(
        r#""incidents"."id" IN (SELECT a."incident_id" FROM "incident_events" a
            WHERE a."action" = 'appeal' AND NOT EXISTS (
              SELECT 1 FROM "incident_events" d WHERE d."incident_id" = a."incident_id"
              AND d."seq" > a."seq" AND d."action" IN ('uphold_appeal', 'grant_appeal')))"#,
    )
}

/// How many incidents have an undecided appeal, open or closed (the board's notice).
pub async fn open_count(db: &Db) -> Result<u64, DbError> {
    use sea_orm::PaginatorTrait;
    Ok(incident::Entity::find()
        .filter(open_condition())
        .count(&db.conn)
        .await?)
}

/// [`open_count`] as one `count(*)` statement, for a page read at once (`Db::on_reader`).
pub(crate) fn open_count_query() -> sea_orm::Select<incident::Entity> {
    incident::Entity::find()
        .select_only()
        .column_as(sea_orm::sea_query::Expr::cust("count(*)"), "n")
        .filter(open_condition())
}
