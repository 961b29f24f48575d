//! Messages both ways between staff and the reporters of an incident: each is stored with its
//! event in one transaction, with the mail it causes written to the outbox in the same one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use super::entities::{incident, report, reporter_message, user};
use super::workflow::{ActError, act_in, no_mail};
use super::{Db, DbError, outbox};
use crate::domain::deadlines::Policy;
use crate::domain::tracking_code::TrackingCode;
use crate::domain::workflow::{Action, Actor, Problem, Refusal};
use crate::mail::Mail;

pub const FROM_STAFF: &str = "staff";
pub const FROM_REPORTER: &str = "reporter";
/// How the event log names a reporter who acted through their tracking code.
pub const REPORTER_ACTOR: &str = "reporter";

/// One reporter a staff message goes to.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub report_id: i64,
    pub email: Option<String>,
    pub locale: String,
    pub tracking_code: String,
}

/// Renders the mail of a staff message to one reporter with an address.
pub type MessageMail<'a> = &'a (dyn Fn(&Recipient, &str) -> Option<Mail> + Sync);

/// Sends `text` to the reporter of `report_id` (one of the incident's reports), or to every
/// reporter of the incident: a `message_reporter` event (which meets the feedback clock), a
/// stored message per report, and a mail to each reporter who gave an address.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &Db,
    policy: &Policy,
    incident_id: i64,
    seen_version: Option<i64>,
    report_id: Option<i64>,
    text: &str,
    actor: &Actor,
    now: DateTime<Utc>,
    render: MessageMail<'_>,
) -> Result<usize, ActError> {
    let txn = db.begin_write().await?;
    let mut reports = report::Entity::find()
        .filter(report::Column::IncidentId.eq(incident_id))
        .order_by_asc(report::Column::Id)
        .all(&*txn)
        .await?;
    if let Some(one) = report_id {
        reports.retain(|r| r.id == one);
        if reports.is_empty() {
            return Err(ActError::Refused(Refusal::Invalid {
                field: "report_id",
                problem: Problem::NotThisIncidentsReport { report_id: one },
            }));
        }
    }
    let action = Action::MessageReporter {
        report_id,
        text: text.to_owned(),
    };
    act_in(
        &txn,
        db,
        policy,
        incident_id,
        seen_version,
        &action,
        actor,
        now,
        &no_mail,
    )
    .await?;
    let text = text.trim();
    let batch = uuid::Uuid::now_v7().to_string();
    let mut mailed = 0;
    for r in &reports {
        reporter_message::ActiveModel {
            report_id: Set(r.id),
            incident_id: Set(incident_id),
            direction: Set(FROM_STAFF.into()),
            batch: Set(batch.clone()),
            body: Set(text.to_owned()),
            author: Set(actor.label.clone()),
            created_at: Set(now),
            read_at: Set(Some(now)),
            redacted_at: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        let to = Recipient {
            report_id: r.id,
            email: r.reporter_email.clone(),
            locale: r.locale.clone(),
            tracking_code: r.tracking_code.clone(),
        };
        if to.email.is_some()
            && let Some(mail) = render(&to, text)
        {
            outbox::enqueue(&*txn, &mail, now, Some(incident_id), Some(r.id)).await?;
            mailed += 1;
        }
    }
    txn.commit().await?;
    Ok(mailed)
}

/// Who is told of a reporter's reply: the assignee, or the leads when nobody is assigned.
pub type ReplyNotice<'a> = &'a (dyn Fn(&incident::Model, &user::Model) -> Option<Mail> + Sync);

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A reporter's answer on their status page: stored beside a `reporter_reply` event that
/// carries only the text's SHA-256 (the text is personal data the retention policy erases),
/// and the assignee (or the leads) told by mail. A `file` (bytes already written by hash)
/// gets its row, linked to the reply and the incident, and the event carries its SHA-256 too.
/// `None` when no report has that code.
#[allow(clippy::too_many_arguments)]
pub async fn reply(
    db: &Db,
    policy: &Policy,
    code: &TrackingCode,
    text: &str,
    file: Option<&super::attachments::WrittenFile>,
    now: DateTime<Utc>,
    notice: ReplyNotice<'_>,
) -> Result<Option<i64>, ActError> {
    let txn = db.begin_write().await?;
    let Some(rep) = report::Entity::find()
        .filter(report::Column::TrackingCode.eq(code.as_str()))
        .one(&*txn)
        .await?
    else {
        return Ok(None);
    };
    let text = text.trim();
    let stored = reporter_message::ActiveModel {
        report_id: Set(rep.id),
        incident_id: Set(rep.incident_id),
        direction: Set(FROM_REPORTER.into()),
        batch: Set(uuid::Uuid::now_v7().to_string()),
        body: Set(text.to_owned()),
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
    let attachment = match file {
        Some(f) => Some(
            super::attachments::reporter_row(f, rep.id, rep.incident_id, Some(stored.id), now)
                .insert(&*txn)
                .await?,
        ),
        None => None,
    };
    let action = Action::ReporterReply {
        report_id: rep.id,
        message_id: stored.id,
        sha256: sha256_hex(text),
        attachment_id: attachment.as_ref().map(|a| a.id),
        attachment_sha256: attachment.map(|a| a.sha256),
    };
    act_in(
        &txn,
        db,
        policy,
        rep.incident_id,
        None,
        &action,
        &actor,
        now,
        &no_mail,
    )
    .await?;
    let inc = incident::Entity::find_by_id(rep.incident_id)
        .one(&*txn)
        .await?
        .ok_or(ActError::NotFound)?;
    let users = user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .order_by_asc(user::Column::Id)
        .all(&*txn)
        .await?;
    let assignee: Vec<&user::Model> = users
        .iter()
        .filter(|u| Some(u.id) == inc.assignee_id)
        .collect();
    let told = if assignee.is_empty() {
        users.iter().filter(|u| u.role == "lead").collect()
    } else {
        assignee
    };
    for u in told {
        if let Some(mail) = notice(&inc, u) {
            outbox::enqueue(&*txn, &mail, now, Some(inc.id), None).await?;
        }
    }
    txn.commit().await?;
    Ok(Some(inc.id))
}

/// A report's thread, oldest first.
pub async fn for_report(db: &Db, report_id: i64) -> Result<Vec<reporter_message::Model>, DbError> {
    Ok(reporter_message::Entity::find()
        .filter(reporter_message::Column::ReportId.eq(report_id))
        .order_by_asc(reporter_message::Column::CreatedAt)
        .order_by_asc(reporter_message::Column::Id)
        .all(&db.conn)
        .await?)
}

/// The threads of every report an incident now carries, oldest first.
pub async fn for_incident(
    db: &Db,
    incident_id: i64,
) -> Result<Vec<reporter_message::Model>, DbError> {
    let ids: Vec<i64> = report::Entity::find()
        .filter(report::Column::IncidentId.eq(incident_id))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    Ok(reporter_message::Entity::find()
        .filter(reporter_message::Column::ReportId.is_in(ids))
        .order_by_asc(reporter_message::Column::CreatedAt)
        .order_by_asc(reporter_message::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Staff opened the incident: its reporters' replies are read. Nothing is written when
/// nothing is unread (the common case costs one read, not a write).
pub async fn mark_read(db: &Db, incident_id: i64, now: DateTime<Utc>) -> Result<(), DbError> {
    let unread = for_incident(db, incident_id)
        .await?
        .into_iter()
        .filter(|m| m.direction == FROM_REPORTER && m.read_at.is_none())
        .map(|m| m.id)
        .collect::<Vec<_>>();
    if unread.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    reporter_message::Entity::update_many()
        .col_expr(reporter_message::Column::ReadAt, Expr::value(Some(now)))
        .filter(reporter_message::Column::Id.is_in(unread))
        .exec(&*txn)
        .await?;
    txn.commit().await
}

/// Incidents with a reporter reply no member of staff has opened yet, sorted by id (a reply
/// follows its report into the incident that now carries it). Not limited to a page's cards,
/// so the board asks it beside its columns instead of after them: unread replies are few, and
/// each query waits for a core beside a flood.
pub async fn with_unread_replies(db: &Db) -> Result<Vec<i64>, DbError> {
    let mut out: Vec<i64> = unread_replies_query().into_tuple().all(&db.conn).await?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// [`with_unread_replies`]'s query: the incident of each report with an unread reply (sort
/// and dedup what it answers).
pub(crate) fn unread_replies_query() -> sea_orm::Select<report::Entity> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::Query;
    let unread = Query::select()
        .column(reporter_message::Column::ReportId)
        .from(reporter_message::Entity)
        .and_where(reporter_message::Column::Direction.eq(FROM_REPORTER))
        .and_where(reporter_message::Column::ReadAt.is_null())
        .to_owned();
    report::Entity::find()
        .select_only()
        .column(report::Column::IncidentId)
        .filter(report::Column::Id.in_subquery(unread))
}

/// The latest public summary of what was done, from the incident's `publish_summary` events.
pub async fn public_summary(db: &Db, incident_id: i64) -> Result<Option<String>, DbError> {
    use super::entities::incident_event;
    let ev = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(incident_id))
        .filter(incident_event::Column::Action.eq("publish_summary"))
        .order_by_desc(incident_event::Column::Seq)
        .one(&db.conn)
        .await?;
    Ok(ev.and_then(|e| {
        serde_json::from_str::<serde_json::Value>(&e.data)
            .ok()?
            .get("text")?
            .as_str()
            .map(str::to_owned)
    }))
}

/// A containment or a verified fix with the public summary staff wrote for the reporters: the
/// action's event and a `publish_summary` event in one transaction, so the reporters are told
/// what was done exactly when it was done. `mail_for` renders the reporters' mail for the
/// summary (the action itself sends none).
#[allow(clippy::too_many_arguments)]
pub async fn act_with_summary(
    db: &Db,
    policy: &Policy,
    id: i64,
    seen_version: Option<i64>,
    action: &Action,
    summary: &str,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: super::workflow::MailFor<'_>,
) -> Result<crate::domain::workflow::Incident, ActError> {
    let txn = db.begin_write().await?;
    act_in(
        &txn,
        db,
        policy,
        id,
        seen_version,
        action,
        actor,
        now,
        &no_mail,
    )
    .await?;
    let publish = Action::PublishSummary {
        text: summary.to_owned(),
    };
    let after = act_in(&txn, db, policy, id, None, &publish, actor, now, mail_for).await?;
    txn.commit().await?;
    Ok(after)
}
