//! Incidents as stored: converting rows to the workflow's projection and appending events with
//! their row update in the caller's transaction, guarded by the row's version.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect,
};

use super::entities::{incident, incident_event};
use super::{Db, DbError};
use crate::domain::audit::StoredEvent;
use crate::domain::workflow::{Incident, NewEvent};

fn bad_row(id: i64, what: &str) -> DbError {
    DbError::Setup(format!("incident {id}: unreadable {what} in the row"))
}

/// The workflow's view of a row.
/// The incident, read for a change in the caller's transaction: on PostgreSQL locked until it
/// commits (SQLite's write gate already serialises writers).
///
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: an incident's id never changes, and `FOR UPDATE` also
/// waits for, and is waited on by, the foreign-key checks of rows that point at the incident
/// (an intake batch's events and reports, the search task's titles). A merge locks two
/// incidents; the search task, inserting titles, held one's key-share lock while waiting for
/// the other's, and the two deadlocked (seen in CI). The sweep's `SKIP LOCKED` reads
/// (`escalation::incidents`) take the same lock, so they still skip an incident an action holds.
pub async fn lock(
    txn: &DatabaseTransaction,
    db: &Db,
    id: i64,
) -> Result<Option<incident::Model>, DbError> {
    let q = incident::Entity::find_by_id(id);
    let q = if db.is_postgres() {
        q.lock(LockType::NoKeyUpdate)
    } else {
        q
    };
    Ok(q.one(txn).await?)
}

pub fn to_domain(m: &incident::Model) -> Result<Incident, DbError> {
    Ok(Incident {
        id: m.id,
        state: m.state.parse().map_err(|_| bad_row(m.id, "state"))?,
        version: m.version,
        category: m.category.clone(),
        severity: m
            .severity
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad_row(m.id, "severity"))?,
        assignee: m.assignee_id,
        title: m.title.clone(),
        fingerprint: m.fingerprint.clone(),
        first_reported_at: m.first_reported_at,
        report_count: i64::from(m.report_count),
        evidence_hold: m.evidence_hold,
        serious: m
            .serious
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad_row(m.id, "serious kind"))?,
        serious_at: m.serious_at,
        authority_reported_at: m.authority_reported_at,
        triaged_at: m.triaged_at,
        duplicate_of: m.duplicate_of,
        rejection_reasons: m.rejection_reasons.clone(),
        filter_rule: m.filter_rule.clone(),
        fix_plan: m.fix_plan.clone(),
        training_run: m.training_run.clone(),
        candidate_model_version: m.candidate_model_version.clone(),
        resolved_at: m.resolved_at,
        last_event_at: m.last_event_at,
        desired: match (&m.desired_kind, &m.desired_response) {
            (Some(kind), Some(text)) => Some(crate::domain::cases::DesiredBehaviour {
                kind: kind
                    .parse()
                    .map_err(|_| bad_row(m.id, "desired behaviour"))?,
                text: text.clone(),
            }),
            _ => None,
        },
    })
}

/// Writes a projection's fields onto a row (the clock columns are the caller's), marking only
/// those that differ from the row as read: an UPDATE rewrites the index entries of every column
/// it sets, and most events change few.
fn set_projection(a: &mut incident::ActiveModel, i: &Incident) {
    a.state.set_ne(i.state.as_str().to_string());
    a.version.set_ne(i.version);
    a.category.set_ne(i.category.clone());
    a.severity
        .set_ne(i.severity.map(|s| s.as_str().to_string()));
    a.assignee_id.set_ne(i.assignee);
    a.title.set_ne(i.title.clone());
    a.fingerprint.set_ne(i.fingerprint.clone());
    a.first_reported_at.set_ne(i.first_reported_at);
    a.report_count
        .set_ne(i32::try_from(i.report_count).unwrap_or(i32::MAX));
    a.evidence_hold.set_ne(i.evidence_hold);
    a.serious.set_ne(i.serious.map(|s| s.as_str().to_string()));
    a.serious_at.set_ne(i.serious_at);
    a.authority_reported_at.set_ne(i.authority_reported_at);
    a.triaged_at.set_ne(i.triaged_at);
    a.duplicate_of.set_ne(i.duplicate_of);
    a.rejection_reasons.set_ne(i.rejection_reasons.clone());
    a.filter_rule.set_ne(i.filter_rule.clone());
    a.fix_plan.set_ne(i.fix_plan.clone());
    a.training_run.set_ne(i.training_run.clone());
    a.candidate_model_version
        .set_ne(i.candidate_model_version.clone());
    a.resolved_at.set_ne(i.resolved_at);
    a.last_event_at.set_ne(i.last_event_at);
    a.desired_kind
        .set_ne(i.desired.as_ref().map(|d| d.kind.as_str().to_string()));
    a.desired_response
        .set_ne(i.desired.as_ref().map(|d| d.text.clone()));
}

/// The log row of a sealed event.
pub fn event_row(e: &StoredEvent, actor_id: Option<i64>) -> incident_event::ActiveModel {
    incident_event::ActiveModel {
        incident_id: Set(e.incident_id),
        seq: Set(e.seq),
        at: Set(e.at),
        actor: Set(e.actor.clone()),
        actor_id: Set(actor_id),
        action: Set(e.action.clone()),
        from_state: Set(e.from.clone()),
        to_state: Set(e.to.clone()),
        data: Set(e.data.to_string()),
        prev_hash: Set(e.prev_hash.clone()),
        hash: Set(e.hash.clone()),
        ..Default::default()
    }
}

async fn insert_event<C: ConnectionTrait>(
    conn: &C,
    e: &StoredEvent,
    actor_id: Option<i64>,
) -> Result<(), DbError> {
    event_row(e, actor_id).insert(conn).await?;
    Ok(())
}

/// The row of a new incident with a pre-allocated id, its chain head and nearest deadline.
pub fn new_row(
    i: &Incident,
    last_event_hash: &str,
    next_due: Option<&(DateTime<Utc>, String)>,
    created_at: DateTime<Utc>,
) -> incident::ActiveModel {
    let mut a = incident::ActiveModel {
        id: Set(i.id),
        last_event_hash: Set(last_event_hash.to_string()),
        next_due_at: Set(next_due.map(|(d, _)| *d)),
        next_due_clock: Set(next_due.map(|(_, c)| c.clone())),
        created_at: Set(created_at),
        ..Default::default()
    };
    set_projection(&mut a, i);
    a
}

/// Stores a projection computed from `before` plus several events (sealed and written by the
/// caller), only if nobody changed the row meanwhile: a query to build into a statement.
pub fn projection_update(
    before: &incident::Model,
    after: &Incident,
    last_event_hash: &str,
) -> sea_orm::UpdateMany<incident::Entity> {
    let mut a: incident::ActiveModel = before.clone().into();
    set_projection(&mut a, after);
    a.last_event_hash = Set(last_event_hash.to_string());
    incident::Entity::update_many()
        .set(a)
        .filter(incident::Column::Id.eq(before.id))
        .filter(incident::Column::Version.eq(before.version))
}

/// Appends `event` to `before`'s chain and stores the projection `after`, only if the row is
/// still at `before.version` (otherwise someone else acted first: [`DbError::Conflict`]).
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    before: &incident::Model,
    after: &Incident,
    event: &NewEvent,
    actor_id: Option<i64>,
) -> Result<String, DbError> {
    let stored = event.seal(before.id, after.version, &before.last_event_hash);
    let res = projection_update(before, after, &stored.hash)
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Err(DbError::Conflict);
    }
    insert_event(conn, &stored, actor_id).await?;
    Ok(stored.hash)
}

/// Sets the denormalised nearest deadline the board sorts on.
pub async fn set_next_due<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    next: Option<(DateTime<Utc>, String)>,
) -> Result<(), DbError> {
    let (at, clock) = match next {
        Some((at, c)) => (Some(at), Some(c)),
        None => (None, None),
    };
    incident::Entity::update_many()
        .col_expr(incident::Column::NextDueAt, Expr::value(at))
        .col_expr(incident::Column::NextDueClock, Expr::value(clock))
        .filter(incident::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}
