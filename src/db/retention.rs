//! Personal data that does not outlive its purpose: a closed incident's reporters' names,
//! addresses and reply texts are erased `retention.reporter_days` after it closed, each
//! report's erasure a `redact` event whose data holds the SHA-256 of what was erased.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::entities::{incident_event, outbox, report, reporter_message};
use super::messages::FROM_REPORTER;
use super::workflow::{ActError, act_in, no_mail};
use super::{Db, DbError};
use crate::domain::deadlines::Policy;
use crate::domain::workflow::{Action, Actor};

/// A report whose personal data is due for erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub report_id: i64,
    pub incident_id: i64,
    pub tracking_code: String,
    /// When its incident closed (the latest transition into its closed state).
    pub closed_at: DateTime<Utc>,
    /// What will be erased: "name", "email", "replies:N".
    pub fields: Vec<String>,
}

/// What an erased mail's recipient becomes (`.invalid` can never be delivered, RFC 2606).
pub const ERASED_ADDRESS: &str = "erased@invalid";

const CLOSED: [&str; 3] = ["resolved", "rejected", "duplicate"];

/// Every report with personal data left whose incident closed at least `days` before `now`.
pub async fn due(db: &Db, now: DateTime<Utc>, days: u32) -> Result<Vec<Due>, DbError> {
    let cutoff = now - Duration::days(i64::from(days));
    // Every sweep asks this, so it must cost what is left to erase, not what is stored:
    // incidents whose reports were erased already are left out by the `EXISTS` (before, three
    // queries each on every sweep for ever). SQLite read the whole table for the states, in id
    // order or through the narrow (id, state) index once statistics said every incident had
    // the same state (128 ms a sweep at 1,000,000 open incidents, none closed, `sweep` bench);
    // the board's (state, next_due_at) index finds the closed states' few entries.
    let indexed = if db.is_postgres() {
        ""
    } else {
        " INDEXED BY incidents_board"
    };
    let sql = format!(
        "SELECT i.id, i.state FROM incidents AS i{indexed} WHERE i.state IN ('{}') \
         AND EXISTS (SELECT 1 FROM reports AS r WHERE r.incident_id = i.id \
           AND (r.reporter_name IS NOT NULL OR r.reporter_email IS NOT NULL \
             OR EXISTS (SELECT 1 FROM reporter_messages AS m WHERE m.report_id = r.id \
               AND m.direction = '{FROM_REPORTER}' AND m.redacted_at IS NULL)))",
        CLOSED.join("', '")
    );
    let mut closed = Vec::new();
    for row in db
        .conn
        .query_all_raw(Statement::from_string(db.backend(), sql))
        .await?
    {
        closed.push((
            row.try_get::<i64>("", "id")?,
            row.try_get::<String>("", "state")?,
        ));
    }
    closed.sort_unstable();
    let mut out = Vec::new();
    for (id, state) in closed {
        // A reopened and closed again incident counts from its latest closing.
        let Some(closing) = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::ToState.eq(state.as_str()))
            .filter(incident_event::Column::FromState.ne(state.as_str()))
            .order_by_desc(incident_event::Column::Seq)
            .one(&db.conn)
            .await?
        else {
            continue;
        };
        // An open appeal still needs the reporter's data (to answer them).
        if closing.at > cutoff || super::appeals::is_open(&db.conn, id).await? {
            continue;
        }
        let reports = report::Entity::find()
            .filter(report::Column::IncidentId.eq(id))
            .order_by_asc(report::Column::Id)
            .all(&db.conn)
            .await?;
        for r in reports {
            let replies = unredacted_replies(&db.conn, r.id).await?;
            let mut fields = Vec::new();
            if r.reporter_name.is_some() {
                fields.push("name".to_owned());
            }
            if r.reporter_email.is_some() {
                fields.push("email".to_owned());
            }
            if !replies.is_empty() {
                fields.push(format!("replies:{}", replies.len()));
            }
            if !fields.is_empty() {
                out.push(Due {
                    report_id: r.id,
                    incident_id: id,
                    tracking_code: r.tracking_code,
                    closed_at: closing.at,
                    fields,
                });
            }
        }
    }
    Ok(out)
}

async fn unredacted_replies<C: sea_orm::ConnectionTrait>(
    conn: &C,
    report_id: i64,
) -> Result<Vec<reporter_message::Model>, DbError> {
    Ok(reporter_message::Entity::find()
        .filter(reporter_message::Column::ReportId.eq(report_id))
        .filter(reporter_message::Column::Direction.eq(FROM_REPORTER))
        .filter(reporter_message::Column::RedactedAt.is_null())
        .order_by_asc(reporter_message::Column::Id)
        .all(conn)
        .await?)
}

/// Erases one report's personal data with its `redact` event, in one transaction. The hash is
/// over what was there (name, email, each reply by id), so anyone holding a copy can show it
/// was this; the content itself leaves the database.
pub async fn erase(
    db: &Db,
    policy: &Policy,
    due: &Due,
    now: DateTime<Utc>,
) -> Result<(), ActError> {
    let txn = db.begin_write().await?;
    let Some(rep) = report::Entity::find_by_id(due.report_id).one(&*txn).await? else {
        return Err(ActError::NotFound);
    };
    let replies = unredacted_replies(&*txn, rep.id).await?;
    let erased = json!({
        "name": rep.reporter_name,
        "email": rep.reporter_email,
        "replies": replies.iter().map(|m| json!({"id": m.id, "body": m.body})).collect::<Vec<_>>(),
    });
    let sha256 = hex::encode(Sha256::digest(erased.to_string().as_bytes()));
    report::Entity::update_many()
        .col_expr(report::Column::ReporterName, Expr::value(None::<String>))
        .col_expr(report::Column::ReporterEmail, Expr::value(None::<String>))
        .col_expr(report::Column::ErasedAt, Expr::value(Some(now)))
        .filter(report::Column::Id.eq(rep.id))
        .exec(&*txn)
        .await?;
    reporter_message::Entity::update_many()
        .col_expr(reporter_message::Column::Body, Expr::value(String::new()))
        .col_expr(reporter_message::Column::RedactedAt, Expr::value(Some(now)))
        .filter(reporter_message::Column::ReportId.eq(rep.id))
        .filter(reporter_message::Column::Direction.eq(FROM_REPORTER))
        .filter(reporter_message::Column::RedactedAt.is_null())
        .exec(&*txn)
        .await?;
    // The report's mail keeps no address either: rows written for the report, and the
    // incident's rows to this address (outcome and message mail). A mail still pending a
    // year after closing has no purpose left: it is given up rather than sent.
    let mut mine = sea_orm::Condition::any().add(outbox::Column::ReportId.eq(rep.id));
    if let Some(email) = &rep.reporter_email {
        mine = mine.add(
            sea_orm::Condition::all()
                .add(outbox::Column::IncidentId.eq(rep.incident_id))
                .add(outbox::Column::Recipient.eq(email.as_str())),
        );
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(super::outbox::DEAD))
        .col_expr(
            outbox::Column::LastError,
            Expr::value(Some("erased under the retention policy")),
        )
        .filter(mine.clone())
        .filter(outbox::Column::Status.eq(super::outbox::PENDING))
        .exec(&*txn)
        .await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Recipient, Expr::value(ERASED_ADDRESS))
        .filter(mine)
        .exec(&*txn)
        .await?;
    let action = Action::Redact {
        report_id: rep.id,
        sha256,
        fields: due.fields.clone(),
    };
    act_in(
        &txn,
        db,
        policy,
        rep.incident_id,
        None,
        &action,
        &Actor::system(),
        now,
        &no_mail,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Erases everything due at `now` (or, with `dry_run`, only says what would be).
pub async fn run(
    db: &Db,
    policy: &Policy,
    now: DateTime<Utc>,
    days: u32,
    dry_run: bool,
) -> Result<Vec<Due>, ActError> {
    let due = due(db, now, days).await?;
    if !dry_run {
        for d in &due {
            erase(db, policy, d, now).await?;
        }
    }
    Ok(due)
}
