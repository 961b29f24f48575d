//! Outbox queries: enqueue in the caller's transaction; claim, and record delivery outcomes.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entities::outbox::{self, Column, Entity};
use super::{Db, DbError};
use crate::mail::Mail;

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const DEAD: &str = "dead";

/// Writes a mail to the outbox on `conn` (the caller's transaction).
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    mail: &Mail,
    now: DateTime<Utc>,
    incident_id: Option<i64>,
    report_id: Option<i64>,
) -> Result<i64, DbError> {
    let row = row(mail, now, incident_id, report_id).insert(conn).await?;
    Ok(row.id)
}

/// The outbox row of a mail, due at once.
pub fn row(
    mail: &Mail,
    now: DateTime<Utc>,
    incident_id: Option<i64>,
    report_id: Option<i64>,
) -> outbox::ActiveModel {
    outbox::ActiveModel {
        created_at: Set(now),
        kind: Set(mail.kind.to_string()),
        recipient: Set(mail.recipient.clone()),
        locale: Set(mail.locale.clone()),
        subject: Set(mail.subject.clone()),
        body_text: Set(mail.text.clone()),
        body_html: Set(mail.html.clone()),
        status: Set(PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        message_id: Set(mail.message_id.clone()),
        incident_id: Set(incident_id),
        report_id: Set(report_id),
        ..Default::default()
    }
}

/// Claims up to `limit` due rows for this worker until `lease_until`. The claim is a conditional
/// update per row, so of two workers racing for a row exactly one gets it, on either database.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbError> {
    let free = Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now));
    let candidates = Entity::find()
        .filter(Column::Status.eq(PENDING))
        .filter(Column::NextAttemptAt.lte(now))
        .filter(free.clone())
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = candidates.iter().map(|r| r.id).collect();
    // The conditions are checked again by the update itself: a row another worker claimed
    // between our read and this write no longer matches, so it is not returned to us.
    let _gate = db.write_guard().await;
    let mut claimed = Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .filter(Column::Id.is_in(ids))
        .filter(Column::Status.eq(PENDING))
        .filter(free)
        .exec_with_returning(&db.conn)
        .await?;
    claimed.sort_by_key(|r| r.id);
    Ok(claimed)
}

/// Marks delivered rows sent, in one statement for a whole pass.
pub async fn mark_sent(db: &Db, ids: &[i64], at: DateTime<Utc>) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let _gate = db.write_guard().await;
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(SENT))
        .col_expr(Column::SentAt, Expr::value(at))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(&db.conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(
    db: &Db,
    id: i64,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    error: &str,
    dead: bool,
) -> Result<(), DbError> {
    let _gate = db.write_guard().await;
    let error: String = error.chars().take(2000).collect();
    Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(if dead { DEAD } else { PENDING }),
        )
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::LastError, Expr::value(error))
        .filter(Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Rows by status (all when `status` is None), newest first.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbError> {
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(s) = status {
        q = q.filter(Column::Status.eq(s));
    }
    Ok(q.all(&db.conn).await?)
}
