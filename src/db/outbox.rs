//! Outbox queries: enqueue in the caller's transaction; claim, and record delivery outcomes.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::entities::outbox::{self, Column, Entity};
use super::{Db, DbError, raw};
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

/// The outbox row of an escalation mail, with the steps it tells of.
pub fn row_with_steps(
    mail: &Mail,
    now: DateTime<Utc>,
    incident_id: Option<i64>,
    steps: Option<String>,
) -> outbox::ActiveModel {
    let mut row = row(mail, now, incident_id, None);
    row.steps = Set(steps);
    row
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

/// Claims up to `limit` pending rows after `after_id` for this worker until `lease_until`, in id
/// order: rows never tried, rows whose backoff has run out (or every pending row when
/// `ignore_backoff`), none that another worker holds a lease on. One statement. On PostgreSQL,
/// `UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR UPDATE SKIP LOCKED)) RETURNING …`: concurrent
/// workers skip each other's rows instead of waiting, and a row's conditions are checked again
/// once it is locked, so of two workers racing for a row exactly one gets it.
/// A worker that dies after claiming leaves its rows to whoever claims after `lease_until`.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
    after_id: i64,
    ignore_backoff: bool,
) -> Result<Vec<outbox::Model>, DbError> {
    use sea_orm::sea_query::{Order, Query};
    let free = Condition::any()
        .add(Column::LeaseUntil.is_null())
        .add(Column::LeaseUntil.lt(now));
    let due = if ignore_backoff {
        Condition::all()
    } else {
        // A row never tried is due whatever its timestamp says (a sweep run with `--now` in the
        // future writes rows stamped then); backoff applies from the first failure on.
        Condition::any()
            .add(Column::Attempts.eq(0))
            .add(Column::NextAttemptAt.lte(now))
    };
    if db.is_postgres() {
        // `= ANY(ARRAY(…))` runs the locking subquery once (an InitPlan). Written as `IN (…)` the
        // planner may rescan it, and each rescan skips the rows this very statement already
        // updated and takes the next ones, past the limit.
        let backoff = if ignore_backoff {
            ""
        } else {
            "AND (attempts = 0 OR next_attempt_at <= $3) "
        };
        let sql = format!(
            "UPDATE outbox SET lease_until = $1 WHERE id = ANY(ARRAY(\
             SELECT id FROM outbox WHERE status = 'pending' AND id > $2 \
             AND (lease_until IS NULL OR lease_until < $3) {backoff}\
             ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)) RETURNING *"
        );
        let mut claimed = Entity::find()
            .from_raw_sql(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                sql,
                [
                    lease_until.into(),
                    after_id.into(),
                    now.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .all(&db.conn)
            .await?;
        claimed.sort_by_key(|r| r.id);
        return Ok(claimed);
    }
    // SQLite has one writer at a time: the uncorrelated subquery is evaluated once, and no other
    // claim can interleave with this statement.
    let mut pick = Query::select();
    pick.column(Column::Id)
        .from(Entity)
        .and_where(Column::Status.eq(PENDING))
        .and_where(Column::Id.gt(after_id))
        .cond_where(free)
        .cond_where(due)
        .order_by(Column::Id, Order::Asc)
        .limit(limit);
    // The conditions are not repeated outside: the subquery already applied them, and with
    // them the planner would scan every pending row instead of fetching ten by id.
    let claim = Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .filter(Column::Id.in_subquery(pick));
    let mut returning = claim.clone().into_query();
    returning.returning_all();
    let returning = DbBackend::Sqlite.build(&returning);
    let mut claimed = match db
        .on_writer(move |txn| raw::query::<outbox::Model>(txn, &returning))
        .await
    {
        Some(rows) => rows?,
        None => {
            let txn = db.begin_write().await?;
            let rows = claim.exec_with_returning(&*txn).await?;
            txn.commit().await?;
            rows
        }
    };
    claimed.sort_by_key(|r| r.id);
    Ok(claimed)
}

/// Gives claimed rows back without an attempt, for another pass (or worker) to take at once.
pub async fn release(db: &Db, ids: &[i64]) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let release = Entity::update_many()
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::Status.eq(PENDING));
    db.write_statement(release.build(db.backend())).await?;
    Ok(())
}

/// Queues dead rows again with a fresh count of attempts: the given ids, or every dead row when
/// `ids` is empty. Returns how many.
pub async fn requeue_dead(db: &Db, ids: &[i64], now: DateTime<Utc>) -> Result<u64, DbError> {
    let mut q = Entity::update_many()
        .col_expr(Column::Status, Expr::value(PENDING))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Status.eq(DEAD));
    if !ids.is_empty() {
        q = q.filter(Column::Id.is_in(ids.iter().copied()));
    }
    db.write_statement(q.build(db.backend())).await
}

/// Whether a mail with this Message-ID was ever queued (digests use it as their key).
pub async fn message_id_exists<C: ConnectionTrait>(
    conn: &C,
    message_id: &str,
) -> Result<bool, DbError> {
    Ok(Entity::find()
        .filter(Column::MessageId.eq(message_id))
        .one(conn)
        .await?
        .is_some())
}

/// One row of the admin page's outbox table (without the bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAdminRow {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    /// `dead` or `pending`.
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// When a pending row is tried next (rows never tried go at once).
    pub next_attempt_at: DateTime<Utc>,
    /// Set while a worker holds the row.
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub incident_id: Option<i64>,
}

/// What the admin page shows: every dead row (they need a person), then the pending ones
/// (oldest first: the head of the queue), at most 500 of each.
pub async fn outbox_admin_rows(db: &Db) -> Result<Vec<OutboxAdminRow>, DbError> {
    let mut out = Vec::new();
    for (status, newest_first) in [(DEAD, true), (PENDING, false)] {
        let q = Entity::find().filter(Column::Status.eq(status));
        let q = if newest_first {
            q.order_by_desc(Column::Id)
        } else {
            q.order_by_asc(Column::Id)
        };
        for r in q.limit(500).all(&db.conn).await? {
            out.push(OutboxAdminRow {
                id: r.id,
                kind: r.kind,
                recipient: r.recipient,
                subject: r.subject,
                status: r.status,
                attempts: r.attempts,
                created_at: r.created_at,
                next_attempt_at: r.next_attempt_at,
                lease_until: r.lease_until,
                last_error: r.last_error,
                incident_id: r.incident_id,
            });
        }
    }
    Ok(out)
}

/// Marks delivered rows sent, in one statement for a whole pass.
pub async fn mark_sent(db: &Db, ids: &[i64], at: DateTime<Utc>) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let sent = Entity::update_many()
        .col_expr(Column::Status, Expr::value(SENT))
        .col_expr(Column::SentAt, Expr::value(at))
        .col_expr(
            Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.is_in(ids.iter().copied()));
    db.write_statement(sent.build(db.backend())).await?;
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
    let error: String = error.chars().take(2000).collect();
    let failed = Entity::update_many()
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
        .filter(Column::Id.eq(id));
    db.write_statement(failed.build(db.backend())).await?;
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
