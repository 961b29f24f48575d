//! The deadline sweep's queries: the clocks whose next escalation step has come (by the indexed
//! `incident_clocks.next_fire_at`, so a sweep costs what is due, not what is stored), the steps
//! already fired, the people to tell, and the writes of a sweep chunk.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement, Value,
};

use super::DbError;
use super::entities::{alert_notice, escalation, incident, incident_clock, outbox, user};
use crate::domain::deadlines::Policy;
use crate::domain::escalation::occurrences;
use crate::domain::workflow::State;

/// Running clocks whose next step is due at `now`, in order of their next fire time (then id),
/// after the clock `after` (its next fire time and id), at most `limit`: one range of the
/// `next_fire_at` index, however many clocks are stored. On PostgreSQL the rows are locked for
/// the caller's transaction and rows another sweep holds are skipped, so two instances sweeping
/// at once split the work.
pub async fn due_clocks<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: u64,
) -> Result<Vec<incident_clock::Model>, DbError> {
    use incident_clock::Column as C;
    let mut q = incident_clock::Entity::find()
        .filter(C::NextFireAt.lte(now))
        .filter(C::Status.eq("running"));
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any()
                .add(C::NextFireAt.gt(at))
                .add(C::NextFireAt.eq(at).and(C::Id.gt(id))),
        );
    }
    Ok(q.order_by_asc(C::NextFireAt)
        .order_by_asc(C::Id)
        .limit(limit)
        .lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked)
        .all(conn)
        .await?)
}

/// Whether these clocks are still as they were read, every column: what lets a sweep chunk
/// planned on a snapshot be written as planned (see `jobs::sweep`).
pub async fn clocks_unchanged<C: ConnectionTrait>(
    conn: &C,
    read: &[incident_clock::Model],
) -> Result<bool, DbError> {
    let mut stored = Vec::with_capacity(read.len());
    for chunk in read.chunks(1000) {
        stored.extend(clocks_by_id(chunk).all(conn).await?);
    }
    Ok(same_clocks(read, stored))
}

/// The query of [`clocks_unchanged`] for up to a thousand clocks (chunks of `read`).
pub fn clocks_by_id(read: &[incident_clock::Model]) -> sea_orm::Select<incident_clock::Entity> {
    incident_clock::Entity::find()
        .filter(incident_clock::Column::Id.is_in(read.iter().map(|c| c.id)))
}

/// Whether `stored` holds every clock of `read` as it was read.
pub fn same_clocks(
    read: &[incident_clock::Model],
    stored: impl IntoIterator<Item = incident_clock::Model>,
) -> bool {
    let stored: HashMap<i64, incident_clock::Model> =
        stored.into_iter().map(|c| (c.id, c)).collect();
    read.iter().all(|c| stored.get(&c.id) == Some(c))
}

/// The steps already fired on these incidents: (incident, clock) → step names.
pub async fn fired_steps<C: ConnectionTrait>(
    conn: &C,
    incident_ids: &[i64],
) -> Result<HashMap<(i64, String), HashSet<String>>, DbError> {
    let mut out: HashMap<(i64, String), HashSet<String>> = HashMap::new();
    for chunk in incident_ids.chunks(1000) {
        let rows = escalation::Entity::find()
            .filter(escalation::Column::IncidentId.is_in(chunk.iter().copied()))
            .all(conn)
            .await?;
        for r in rows {
            out.entry((r.incident_id, r.clock))
                .or_default()
                .insert(r.step);
        }
    }
    Ok(out)
}

/// The incidents of these ids.
///
/// The rows are locked (PostgreSQL), and an incident someone is changing right now is left out
/// rather than waited for: a workflow action locks its incident and then its clocks, while the
/// sweep has locked clocks first; had the sweep waited here (or in the foreign-key check of the
/// escalation rows it inserts), the two would deadlock. The next sweep takes what was left out.
/// The lock is [`super::incidents::lock`]'s: with `FOR UPDATE` an incident whose key a
/// foreign-key check held at that moment (a report being added, its title being indexed) was
/// skipped too, and a new incident's due step waited a sweep.
pub async fn incidents<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
) -> Result<HashMap<i64, incident::Model>, DbError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        for r in incident::Entity::find()
            .filter(incident::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(incident::Column::Id)
            .lock_with_behavior(LockType::NoKeyUpdate, LockBehavior::SkipLocked)
            .all(conn)
            .await?
        {
            out.insert(r.id, r);
        }
    }
    Ok(out)
}

/// The next fire time of a clock (re)started or moved by a workflow change: its first step that
/// has not fired yet, whenever that falls (a step whose time passed while the clock was stopped
/// fires at the next sweep). `None` when nothing is left or the clock is not configured.
pub async fn next_fire_for<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    incident_id: i64,
    clock: &str,
    started: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    let Some(rule) = policy.rule(clock) else {
        return Ok(None);
    };
    let fired: HashSet<String> = escalation::Entity::find()
        .filter(escalation::Column::IncidentId.eq(incident_id))
        .filter(escalation::Column::Clock.eq(clock))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.step)
        .collect();
    Ok(occurrences(&rule.ladder(), started, due)
        .find(|o| !fired.contains(&o.name))
        .map(|o| o.at))
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// The statements that set `next_fire_at` of many clocks, a thousand per statement
/// (`UPDATE … FROM (VALUES (id, at), …)`, which both databases take).
fn next_fire_statements(
    backend: DbBackend,
    updates: &[(i64, Option<DateTime<Utc>>)],
) -> Vec<Statement> {
    updates
        .chunks(1000)
        .map(|chunk| {
            let mut values = Vec::with_capacity(chunk.len() * 2);
            let mut tuples = Vec::with_capacity(chunk.len());
            for (i, (id, at)) in chunk.iter().enumerate() {
                tuples.push(format!(
                    "({}, {})",
                    placeholder(backend, 2 * i + 1),
                    placeholder(backend, 2 * i + 2)
                ));
                values.push(Value::from(*id));
                values.push(Value::from(*at));
            }
            let sql = format!(
                "UPDATE incident_clocks SET next_fire_at = v.column2 FROM (VALUES {}) AS v \
                 WHERE incident_clocks.id = v.column1",
                tuples.join(", ")
            );
            Statement::from_sql_and_values(backend, sql, values)
        })
        .collect()
}

/// The statements that write fired steps. The unique (incident, clock, step) index refuses a
/// step fired twice, which fails the whole sweep transaction rather than tell anyone twice.
fn fired_statements(backend: DbBackend, rows: Vec<escalation::ActiveModel>) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<escalation::ActiveModel> = rows.by_ref().take(500).collect();
        out.push(escalation::Entity::insert_many(chunk).build(backend));
    }
    out
}

/// Active users with role `lead` or `compliance`, and the active users among `assignees`.
pub async fn people<C: ConnectionTrait>(
    conn: &C,
    assignees: &[i64],
) -> Result<(Vec<user::Model>, HashMap<i64, user::Model>), DbError> {
    let staff = user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .filter(user::Column::Role.is_in(["lead", "compliance"]))
        .order_by_asc(user::Column::Id)
        .all(conn)
        .await?;
    let mut by_id = HashMap::new();
    for chunk in assignees.chunks(1000) {
        for u in user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .filter(user::Column::Disabled.eq(false))
            .all(conn)
            .await?
        {
            by_id.insert(u.id, u);
        }
    }
    Ok((staff, by_id))
}

/// Running clocks past their due instant at `now`, with their incidents, for the digest. Reads
/// the incidents by their indexed nearest deadline, so it costs what is overdue.
pub async fn overdue<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Vec<(incident::Model, incident_clock::Model)>, DbError> {
    let states: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
    let incidents = incident::Entity::find()
        .filter(incident::Column::State.is_in(states))
        .filter(incident::Column::NextDueAt.lt(now))
        .order_by_asc(incident::Column::Id)
        .all(conn)
        .await?;
    let mut out = Vec::new();
    for chunk in incidents.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|i| i.id).collect();
        let clocks = incident_clock::Entity::find()
            .filter(incident_clock::Column::IncidentId.is_in(ids))
            .filter(incident_clock::Column::Status.eq("running"))
            .filter(incident_clock::Column::DueAt.lt(now))
            .order_by_asc(incident_clock::Column::Id)
            .all(conn)
            .await?;
        let by_id: HashMap<i64, &incident::Model> = chunk.iter().map(|i| (i.id, i)).collect();
        for c in clocks {
            if let Some(i) = by_id.get(&c.incident_id) {
                out.push(((*i).clone(), c));
            }
        }
    }
    Ok(out)
}

/// Active leads, for the digest.
pub async fn leads<C: ConnectionTrait>(conn: &C) -> Result<Vec<user::Model>, DbError> {
    Ok(user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .filter(user::Column::Role.eq("lead"))
        .order_by_asc(user::Column::Id)
        .all(conn)
        .await?)
}

/// When each person was last told about each clock of these incidents:
/// (incident, clock, lowercased address) → instant.
pub async fn alert_notices<C: ConnectionTrait>(
    conn: &C,
    incident_ids: &[i64],
) -> Result<HashMap<(i64, String, String), DateTime<Utc>>, DbError> {
    let mut out = HashMap::new();
    for chunk in incident_ids.chunks(1000) {
        for r in alert_notice::Entity::find()
            .filter(alert_notice::Column::IncidentId.is_in(chunk.iter().copied()))
            .all(conn)
            .await?
        {
            out.insert((r.incident_id, r.clock, r.recipient), r.told_at);
        }
    }
    Ok(out)
}

/// The statements that record that these people were told about these clocks at `now` (one
/// row per person and clock, moved forward each time).
fn alert_notice_statements(
    backend: DbBackend,
    told: &[(i64, String, String)],
    now: DateTime<Utc>,
) -> Vec<Statement> {
    use sea_orm::ActiveValue::Set;
    use sea_orm::sea_query::OnConflict;
    told.chunks(500)
        .map(|chunk| {
            let rows = chunk
                .iter()
                .map(|(id, clock, who)| alert_notice::ActiveModel {
                    incident_id: Set(*id),
                    clock: Set(clock.clone()),
                    recipient: Set(who.clone()),
                    told_at: Set(now),
                    ..Default::default()
                });
            alert_notice::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        alert_notice::Column::IncidentId,
                        alert_notice::Column::Clock,
                        alert_notice::Column::Recipient,
                    ])
                    .update_column(alert_notice::Column::ToldAt)
                    .to_owned(),
                )
                .build(backend)
        })
        .collect()
}

/// What a sweep chunk writes, worked out from what it read (see `jobs::sweep`).
pub struct ChunkWrite {
    /// The chunk's clocks as they were read: [`write_chunk_on_writer`] writes only while they
    /// are still so.
    pub clocks: Vec<incident_clock::Model>,
    /// One mail per person, each with the key (lowercased address) that fired steps find it by.
    pub mails: Vec<(String, outbox::ActiveModel)>,
    /// (incident, clock, lowercased address) told of a repeating reminder now.
    pub told_now: Vec<(i64, String, String)>,
    /// The fired steps, each with the addresses told: its row points at the first of them
    /// that a mail went to.
    pub fired: Vec<(escalation::ActiveModel, Vec<String>)>,
    /// Each clock's next fire time.
    pub next_fire: Vec<(i64, Option<DateTime<Utc>>)>,
}

impl ChunkWrite {
    /// What follows the mails, in order: the repeat notices, the fired steps pointing at (the
    /// first) mail that told of them (`outbox_of`: each mail's row by its key), then each
    /// clock's next fire time.
    fn statements(
        &self,
        backend: DbBackend,
        outbox_of: &HashMap<&str, i64>,
        now: DateTime<Utc>,
    ) -> Vec<Statement> {
        use sea_orm::ActiveValue::Set;
        let fired = self
            .fired
            .iter()
            .map(|(row, told)| {
                let mut row = row.clone();
                row.outbox_id = Set(told
                    .iter()
                    .find_map(|e| outbox_of.get(e.to_lowercase().as_str()).copied()));
                row
            })
            .collect();
        let mut out = alert_notice_statements(backend, &self.told_now, now);
        out.extend(fired_statements(backend, fired));
        out.extend(next_fire_statements(backend, &self.next_fire));
        out
    }
}

/// Writes a chunk: its mails, then [`ChunkWrite::statements`]. The caller has checked its
/// clocks.
pub async fn write_chunk<C: ConnectionTrait>(
    conn: &C,
    chunk: &ChunkWrite,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    use sea_orm::ActiveModelTrait;
    let mut outbox_of: HashMap<&str, i64> = HashMap::new();
    for (key, row) in &chunk.mails {
        outbox_of.insert(key, row.clone().insert(conn).await?.id);
    }
    for s in chunk.statements(conn.get_database_backend(), &outbox_of, now) {
        conn.execute_raw(s).await?;
    }
    Ok(())
}

/// SQLite: checks a chunk's clocks and writes it in one transaction on the intake writer's
/// thread (see [`super::Db::on_writer`]); whether it was written (false: a clock had changed
/// since it was read, and nothing was). `None` when no intake writer runs (a command) or on
/// PostgreSQL.
///
/// Why there: through the pool a chunk of 1,000 escalations held the write gate, and intake
/// with it, 58–101 ms beside intake at half its rate (`mixed`): the pool's connection starts
/// each transaction with its page cache emptied by intake's commits, reads and writes the
/// clocks' pages one system call at a time, and its commit empties the writer's cache in turn.
/// The writer's connection has its pages cached and the file mapped.
pub async fn write_chunk_on_writer(
    db: &super::Db,
    chunk: ChunkWrite,
    now: DateTime<Utc>,
) -> Option<Result<bool, DbError>> {
    if db.is_postgres() {
        return None;
    }
    db.on_writer(move |txn| {
        if !clocks_unchanged_in(txn, &chunk.clocks)? {
            return Ok(false);
        }
        let mut outbox_of: HashMap<&str, i64> = HashMap::new();
        for (key, row) in &chunk.mails {
            super::raw::insert(txn, row.clone())?;
            outbox_of.insert(key, txn.last_insert_rowid());
        }
        for s in chunk.statements(DbBackend::Sqlite, &outbox_of, now) {
            super::raw::execute(txn, &s)?;
        }
        Ok(true)
    })
    .await
}

/// [`clocks_unchanged`] on the SQLite writer's connection.
fn clocks_unchanged_in(
    txn: &rusqlite::Transaction<'_>,
    read: &[incident_clock::Model],
) -> Result<bool, DbError> {
    let mut stored = Vec::with_capacity(read.len());
    for chunk in read.chunks(1000) {
        let s = clocks_by_id(chunk).build(DbBackend::Sqlite);
        stored.extend(super::raw::query::<incident_clock::Model>(txn, &s)?);
    }
    Ok(same_clocks(read, stored))
}

/// SQLite: [`clocks_unchanged`] asked on the intake writer's thread, as a chunk written there
/// asks it (for tests: both must read a clock alike). `None` where no intake writer runs.
pub async fn clocks_unchanged_on_writer(
    db: &super::Db,
    read: Vec<incident_clock::Model>,
) -> Option<Result<bool, DbError>> {
    if db.is_postgres() {
        return None;
    }
    db.on_writer(move |txn| clocks_unchanged_in(txn, &read))
        .await
}
