//! The PostgreSQL writers: a few tasks on a thread and runtime of their own, each storing the
//! batch it took in one transaction on a connection of its own. They, and other instances,
//! write at once, so reports with the same content are serialised by advisory locks and ids
//! come from the tables' sequences.

use std::sync::Arc;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{Postgres, Row};
use sea_orm::{DbBackend, EntityTrait, QueryTrait, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::mpsc;

use super::plan::{Fingerprints, plan};
use super::{
    KnownSources, Stored, Submission, Work, answer, dedupe, reassemble, source_ids, split,
};
use crate::db::entities::incident;
use crate::db::{Db, DbError, search_queue};
use crate::domain::deadlines::Policy;

/// Batches in flight at once, at most (and never more than half `database.max_connections`;
/// the writers hold as many connections of their own beside the pool). Four while each insert was parsed and planned anew; once a batch's statements
/// were cached, two did better on two cores (seven alternating 15 s floods each: 1,341
/// reports/s on average against 1,136, p99 28-30 ms against 49-55 in the quieter runs):
/// fewer writers take larger batches, so fewer statements per report.
const WRITERS: u32 = 2;

/// The writers' thread runs ahead of the server's requests. It spends most of a batch waiting
/// on PostgreSQL's answers, and at the same priority each answer's wake-up waited for a core
/// behind the requests and the backends: a batch took 4.2-4.45 ms in a flood, against
/// 3.65-4.0 ms ahead of them (two pairs alternating; about 5% more reports a second). It uses
/// a quarter of a core. Lowering it needs CAP_SYS_NICE; without that it stays at 0.
const WRITER_NICE: i32 = -10;

/// Starts the writers: tasks that each take the batch waiting and store it, on a thread of
/// their own. One writer spent most of each batch waiting on round trips and on the server's
/// work while the machine sat half idle; several keep the server busy, the way several
/// instances do (the locks below make that safe).
pub fn start(db: Db, policy: Arc<Policy>, batch: usize, rx: mpsc::Receiver<Work>) {
    let writers = WRITERS.min(db.pool_size() / 2).max(1);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let load = Arc::new(search_queue::Load::default());
    // The search index of report texts, brought up to date when the writers leave room.
    tokio::spawn(search_queue::run(db.clone(), load.clone(), writers));
    let writing = Writing {
        db,
        policy,
        batch,
        rx,
        load,
        writers,
        lock_timeout_set: false,
    };
    // The writers run on a thread and a runtime of their own, with connections of their own:
    // on the server's runtime each of a batch's round trips (seven then) woke a writer that then
    // waited behind the requests queued there (same bench, four pairs alternating: 2,368-2,872
    // reports/s over the rounds against 2,859-3,234 on their own thread).
    let on_thread = writing.clone();
    let spawned = std::thread::Builder::new()
        .name("rectify-pg-writer".into())
        .spawn(move || {
            crate::nice::set_this_thread(WRITER_NICE);
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(on_thread.run_with_own_connections()),
                Err(e) => tracing::error!(error = %e, "the intake writers' runtime did not start"),
            }
        });
    if let Err(e) = spawned {
        // Slower, but nothing waits for a writer that never comes.
        tracing::warn!(error = %e, "the intake writers run on the server's runtime");
        tokio::spawn(writing.run_all());
    }
}

/// What the writers share.
#[derive(Clone)]
struct Writing {
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Work>>>,
    load: Arc<search_queue::Load>,
    writers: u32,
    /// The connections were opened with `lock_timeout` set (see [`Db::with_own_writer`]).
    lock_timeout_set: bool,
}

impl Writing {
    /// On the writers' own runtime: connections opened here, whose I/O this runtime drives.
    async fn run_with_own_connections(self) {
        match self.db.with_own_writer(self.writers).await {
            Ok(own) => {
                let pool = own.write_conn().clone();
                Writing {
                    db: own,
                    lock_timeout_set: true,
                    ..self
                }
                .run_all()
                .await;
                let _ = pool.close().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the intake writers write through the main pool");
                self.run_all().await;
            }
        }
    }

    /// Every writer, until the queue closes.
    async fn run_all(self) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..self.writers {
            set.spawn(self.clone().run());
        }
        set.join_all().await;
    }

    /// One writer.
    async fn run(self) {
        let Writing {
            db,
            policy,
            batch,
            rx,
            load,
            lock_timeout_set,
            ..
        } = self;
        let mut work: Vec<Work> = Vec::with_capacity(batch);
        // One writer at a time waits on the queue; it takes what is there and lets the queue go
        // before it stores that (the guard is dropped with the loop's condition).
        while rx.lock().await.recv_many(&mut work, batch).await > 0 {
            // Tasks are for SQLite's writer thread; none is sent here (see `Db::on_writer`).
            let (jobs, _) = split(&mut work, &policy);
            // As on SQLite: a report whose submitter was answered 503 (or left) is not stored.
            let now = std::time::Instant::now();
            let (mut jobs, stale): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(sub, done)| {
                !done.is_closed() && sub.answer_by.is_none_or(|t| now < t)
            });
            for (_, done) in stale {
                let _ = done.send(Err(Arc::new(DbError::Busy)));
            }
            if jobs.is_empty() {
                continue;
            }
            let began = std::time::Instant::now();
            let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
            let result = store_batch(&db, &policy, &subs, lock_timeout_set).await;
            for (sub, done) in answer(&mut jobs, result) {
                let r = store_batch(&db, &policy, &[&sub], lock_timeout_set).await;
                let _ = done.send(r.map(|mut v| v.remove(0)).map_err(Arc::new));
            }
            load.add(began.elapsed());
        }
    }
}

async fn store_batch(
    db: &Db,
    policy: &Policy,
    subs: &[&Submission],
    lock_timeout_set: bool,
) -> Result<Vec<Stored>, DbError> {
    let conn = db
        .write_conn()
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(sqlx_error)?;
    let mut txn = Txn { conn, open: false };
    let stored = match write_batch(&mut txn, db, policy, subs, lock_timeout_set).await {
        Ok(stored) => stored,
        Err(e) => {
            txn.rollback().await;
            return Err(e);
        }
    };
    txn.commit().await?;
    Ok(stored)
}

/// A batch's reads and writes, in the transaction its first statement begins.
async fn write_batch(
    txn: &mut Txn,
    db: &Db,
    policy: &Policy,
    subs: &[&Submission],
    lock_timeout_set: bool,
) -> Result<Vec<Stored>, DbError> {
    // A row lock held elsewhere (another instance, an operator's session) fails the batch
    // after the write timeout (503) instead of holding every report behind it.
    let mut begin = String::from("BEGIN;");
    if !lock_timeout_set {
        begin.push_str(&format!(
            " SET LOCAL lock_timeout = {};",
            db.write_timeout().as_millis().max(1)
        ));
    }
    // Two imports of the same finding at once must not both store it: each takes the
    // finding's lock first (sorted, like the fingerprints' below), then looks.
    let ids = source_ids(subs);
    let (all, subs, slots) = if ids.is_empty() {
        (subs, subs.to_vec(), Vec::new())
    } else {
        txn.simple(&begin).await?;
        begin.clear();
        let mut keys: Vec<String> = ids
            .iter()
            .flat_map(|(tool, ids)| ids.iter().map(move |id| format!("{tool}\u{1f}{id}")))
            .collect();
        keys.sort_unstable();
        for key in &keys {
            txn.query(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
                [key.as_str().into()],
            ))
            .await?;
        }
        let known = known_sources(txn, &ids).await?;
        let (to_store, slots) = dedupe(subs, &known);
        if to_store.is_empty() {
            return Ok(reassemble(subs, slots, Vec::new()));
        }
        (subs, to_store, slots)
    };
    let fps = Fingerprints::of(&subs);
    let (incident_ids, report_ids, existing) =
        lock_and_look_up(txn, &begin, &fps.distinct, subs.len()).await?;
    let p = plan(policy, &subs, &fps, existing, incident_ids, report_ids)?;
    let updates: Vec<Statement> = p
        .updates
        .into_iter()
        .map(|u| u.build(DbBackend::Postgres))
        .collect();
    let mut rows = Vec::new();
    columns_of(p.new_incidents, &mut rows)?;
    columns_of(p.events, &mut rows)?;
    columns_of(p.clocks, &mut rows)?;
    columns_of(p.reports, &mut rows)?;
    columns_of(p.attachments, &mut rows)?;
    columns_of(p.cases, &mut rows)?;
    columns_of(p.sources, &mut rows)?;
    columns_of(p.mails, &mut rows)?;
    let expected = updates.len() as i64;
    if let Some(write) = batch_statement(updates, rows) {
        let returned = txn.query(write).await?;
        // Each update is guarded by the version read: one that found the incident changed
        // meanwhile fails the batch, as on SQLite.
        if expected > 0 {
            let updated = returned
                .first()
                .map(|r| r.try_get::<i64, _>("updated"))
                .transpose()
                .map_err(sqlx_error)?;
            if updated != Some(expected) {
                return Err(DbError::Conflict);
            }
        }
    }
    let stored = p.stored;
    Ok(if slots.is_empty() {
        stored
    } else {
        reassemble(all, slots, stored)
    })
}

/// A transaction on one of the writers' connections. It is begun by the text of the batch's
/// first round trip, `BEGIN` with the statements that follow it (sea-orm's and sqlx's
/// transactions send `BEGIN` alone and wait for its answer: a round trip of the five a batch
/// took). Statements with parameters go through sqlx's statement cache, as sea-orm's did.
struct Txn {
    conn: PoolConnection<Postgres>,
    /// `BEGIN` was sent and neither `COMMIT` nor `ROLLBACK` answered since.
    open: bool,
}

impl Txn {
    /// `sql`, a text of statements without parameters, in one round trip: each statement's
    /// rows, in order (a statement without rows, such as `BEGIN`, gives an empty list).
    async fn simple(&mut self, sql: &str) -> Result<Vec<Vec<PgRow>>, DbError> {
        use futures_util::TryStreamExt;
        use sea_orm::sqlx::{AssertSqlSafe, Either, Executor};
        if sql.trim_start().starts_with("BEGIN") {
            self.open = true;
        }
        let mut out = vec![Vec::new()];
        let mut results = self.conn.fetch_many(AssertSqlSafe(sql));
        while let Some(item) = results.try_next().await.map_err(sqlx_error)? {
            match item {
                Either::Left(_) => out.push(Vec::new()),
                Either::Right(row) => out.last_mut().expect("never empty").push(row),
            }
        }
        out.pop();
        Ok(out)
    }

    /// One statement with parameters: its rows.
    async fn query(&mut self, stmt: Statement) -> Result<Vec<PgRow>, DbError> {
        use sea_orm::sqlx::{AssertSqlSafe, Executor};
        let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
        let query = sea_orm::sqlx::query_with(AssertSqlSafe(stmt.sql), SqlxValues(values));
        self.conn.fetch_all(query).await.map_err(sqlx_error)
    }

    async fn commit(mut self) -> Result<(), DbError> {
        self.simple("COMMIT").await?;
        self.open = false;
        Ok(())
    }

    /// Rolls back what the batch began. A connection that cannot say so is closed instead,
    /// which rolls its transaction back too.
    async fn rollback(&mut self) {
        if self.open && self.simple("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }
}

impl Drop for Txn {
    /// A batch dropped half-way (its task cancelled, a `ROLLBACK` that failed) leaves a
    /// transaction open on the connection: it must not go back to the pool like that.
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> DbError {
    DbError::Db(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(
        Arc::new(e),
    )))
}

async fn known_sources(txn: &mut Txn, ids: &[(&str, Vec<&str>)]) -> Result<KnownSources, DbError> {
    let mut known = KnownSources::new();
    for (tool, ids) in ids {
        let rows = txn
            .query(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT s.source_id, s.report_id, r.incident_id FROM discovery_sources s \
                 JOIN reports r ON r.id = s.report_id \
                 WHERE s.tool = $1 AND s.source_id = ANY($2)",
                [(*tool).into(), text_array(ids)],
            ))
            .await?;
        for r in rows {
            known.insert(
                (
                    (*tool).to_owned(),
                    r.try_get::<String, _>("source_id").map_err(sqlx_error)?,
                ),
                (
                    r.try_get::<i64, _>("report_id").map_err(sqlx_error)?,
                    r.try_get::<i64, _>("incident_id").map_err(sqlx_error)?,
                ),
            );
        }
    }
    Ok(known)
}

/// A `text[]` parameter.
fn text_array<S: AsRef<str>>(items: &[S]) -> sea_orm::Value {
    array(
        sea_orm::sea_query::ArrayType::String,
        items
            .iter()
            .map(|s| sea_orm::Value::from(s.as_ref()))
            .collect(),
    )
}

/// Rows of one table that set the same columns, as one array per column.
struct Rows {
    table: &'static str,
    columns: Vec<Column>,
}

struct Column {
    name: &'static str,
    nullable: bool,
    values: Vec<sea_orm::Value>,
}

/// Adds `rows` to `out` as column arrays, a group for each set of columns the rows set.
fn columns_of<A>(rows: Vec<A>, out: &mut Vec<Rows>) -> Result<(), DbError>
where
    A: sea_orm::ActiveModelTrait,
{
    use sea_orm::{ActiveValue, ColumnTrait, EntityName, IdenStatic, Iterable};
    let table = <A::Entity as Default>::default().table_name();
    let first = out.len();
    for row in rows {
        let set: Vec<(<A::Entity as EntityTrait>::Column, sea_orm::Value)> =
            <A::Entity as EntityTrait>::Column::iter()
                .filter_map(|c| match row.get(c) {
                    ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some((c, v)),
                    ActiveValue::NotSet => None,
                })
                .collect();
        let group = match out[first..].iter().position(|g| {
            g.columns.len() == set.len()
                && g.columns
                    .iter()
                    .zip(&set)
                    .all(|(a, (b, _))| a.name == b.as_str())
        }) {
            Some(i) => &mut out[first + i],
            None => {
                out.push(Rows {
                    table,
                    columns: set
                        .iter()
                        .map(|(c, _)| Column {
                            name: c.as_str(),
                            nullable: c.def().is_null(),
                            values: Vec::new(),
                        })
                        .collect(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        for (column, (c, value)) in group.columns.iter_mut().zip(set) {
            if sql_type(&value).is_none() || (!column.nullable && !value.is_some()) {
                return Err(DbError::Setup(format!(
                    "{table}.{} cannot be written as an array: {value:?}",
                    c.as_str()
                )));
            }
            column.values.push(value);
        }
    }
    Ok(())
}

/// PostgreSQL's name for an array of `value`'s type, for the types the intake tables use.
fn sql_type(value: &sea_orm::Value) -> Option<&'static str> {
    use sea_orm::Value as V;
    Some(match value {
        V::Bool(_) => "boolean[]",
        V::Int(_) => "integer[]",
        V::BigInt(_) => "bigint[]",
        V::Double(_) => "double precision[]",
        V::String(_) => "text[]",
        V::ChronoDateTimeUtc(_) => "timestamptz[]",
        _ => return None,
    })
}

/// A batch's writes in one statement: the joined incidents' updates and its new rows, every
/// table. Each group of rows is an `INSERT ... SELECT FROM unnest(...)` of one typed array per
/// column; the updates (each `RETURNING` a row) and the groups are joined as data-modifying
/// `WITH` parts, which PostgreSQL runs exactly once each, checking foreign keys at the end of
/// the statement, when every part's rows are there. With updates the statement is a `SELECT`
/// of how many rows they changed (`updated`); without, the last insert is the statement.
///
/// Before, each table was a statement of its own reading its rows from a JSON array (parsing
/// it was 17% of the backends' time in a flood) and each update another: about 8 round trips
/// for a batch of 8 reports, against 6 now. The text depends only on the batch's tables,
/// column sets and number of updates, so the connections' statement caches keep them.
/// sea-orm binds arrays without NULL elements, so a nullable column travels as its values (any
/// value where NULL) and a `boolean[]` saying which are NULL.
fn batch_statement(updates: Vec<Statement>, groups: Vec<Rows>) -> Option<Statement> {
    use sea_orm::sea_query::ArrayType;
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut parts = Vec::with_capacity(updates.len() + groups.len());
    for (j, update) in updates.into_iter().enumerate() {
        let sql = renumber(&update.sql, values.len());
        values.extend(update.values.map(|v| v.0).unwrap_or_default());
        parts.push(format!("u{j} AS ({sql} RETURNING 1)"));
    }
    // Only the updates are in `parts` yet.
    let updated: Vec<String> = (0..parts.len())
        .map(|j| format!("(SELECT count(*) FROM u{j})"))
        .collect();
    let mut inserts = Vec::with_capacity(groups.len());
    for rows in groups {
        // Per column: its name, what the SELECT takes, the unnest's arrays and their names.
        let (mut names, mut select, mut arrays, mut aliases) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (k, column) in rows.columns.into_iter().enumerate() {
            let ty = sql_type(&column.values[0]).expect("checked by columns_of");
            let array_type = column.values[0].array_type();
            names.push(format!("\"{}\"", column.name));
            if column.nullable {
                let nulls = column
                    .values
                    .iter()
                    .map(|v| (!v.is_some()).into())
                    .collect();
                let filled = column
                    .values
                    .into_iter()
                    .map(|v| if v.is_some() { v } else { v.dummy_value() })
                    .collect();
                values.push(array(array_type, filled));
                arrays.push(format!("${}::{ty}", values.len()));
                values.push(array(ArrayType::Bool, nulls));
                arrays.push(format!("${}::boolean[]", values.len()));
                aliases.extend([format!("c{k}"), format!("n{k}")]);
                select.push(format!("CASE WHEN n{k} THEN NULL ELSE c{k} END"));
            } else {
                values.push(array(array_type, column.values));
                arrays.push(format!("${}::{ty}", values.len()));
                aliases.push(format!("c{k}"));
                select.push(format!("c{k}"));
            }
        }
        inserts.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS u({})",
            rows.table,
            names.join(", "),
            select.join(", "),
            arrays.join(", "),
            aliases.join(", ")
        ));
    }
    let primary = if updated.is_empty() {
        inserts.pop()?
    } else {
        format!("SELECT {} AS updated", updated.join(" + "))
    };
    parts.extend(
        inserts
            .into_iter()
            .enumerate()
            .map(|(g, insert)| format!("t{g} AS ({insert})")),
    );
    let sql = if parts.is_empty() {
        primary
    } else {
        format!("WITH {} {primary}", parts.join(", "))
    };
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

/// `sql`'s placeholders `$1`, `$2`, ... counted on from `offset` (`$offset+1`, ...), to join
/// a statement built on its own into a larger one. sea-query binds every value, so a `$`
/// in the text is always a placeholder.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = 0usize;
        let mut digits = false;
        while let Some(&(_, d)) = chars.peek()
            && let Some(v) = d.to_digit(10)
        {
            n = n * 10 + v as usize;
            digits = true;
            chars.next();
        }
        if digits {
            out.push_str(&(n + offset).to_string());
        }
    }
    out
}

/// An array parameter of `values`, all of `ty`.
fn array(ty: sea_orm::sea_query::ArrayType, values: Vec<sea_orm::Value>) -> sea_orm::Value {
    sea_orm::Value::Array(ty, Some(Box::new(values)))
}

/// Takes the batch's contents' locks and the ids it may need, then reads the incidents with
/// those contents, in one round trip, after `begin` (`BEGIN`, or nothing when the batch has
/// begun). Two instances receiving the same content at once must not both open an incident:
/// the locks are taken in the array's order (sorted, so two batches never wait on each other
/// in opposite orders), and the lookup is the next statement, whose snapshot comes after them.
/// An id for an incident is taken for every distinct content, before the lookup says which of
/// them open one; the rest are left unused, a gap like a rolled-back insert's. (Ids are taken
/// before the insert because the first event's hash covers the incident's id.)
///
/// The statements travel as one text, the contents written into it: only a text without
/// parameters may hold several statements. A fingerprint is hex (SHA-256), so it needs no
/// quoting; anything else is refused rather than written into SQL.
///
/// The lookup asks the index once per content. Without statistics on `incidents` (a new
/// database, or autovacuum off, as on the machine the benchmarks run on) PostgreSQL guesses
/// that each content matches half a percent of the table and reads all of it for a batch of
/// 32 contents: 23 ms a batch at 28,000 incidents, growing with the table. A lateral subquery
/// it cannot merge into the join (`OFFSET 0`; without it the join became a hash join over the
/// whole table again) leaves it one index lookup per content, whatever it guesses: 0.6 ms
/// instead of 39 for 32 contents. [`plan`] keeps the open incidents of those it returns,
/// oldest first.
async fn lock_and_look_up(
    txn: &mut Txn,
    begin: &str,
    fingerprints: &[String],
    reports: usize,
) -> Result<(Vec<i64>, Vec<i64>, Vec<incident::Model>), DbError> {
    use sea_orm::FromQueryResult;
    if let Some(bad) = fingerprints
        .iter()
        .find(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(DbError::Setup(format!(
            "a fingerprint that is not hex: {bad:?}"
        )));
    }
    let list = format!("'{{{}}}'::text[]", fingerprints.join(","));
    let sql = format!(
        "{begin} \
         WITH locked AS MATERIALIZED (\
           SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
           FROM unnest({list}) WITH ORDINALITY AS t(k, n) ORDER BY n) \
         SELECT 2 AS t, count(*) AS id FROM locked \
         UNION ALL SELECT 0, nextval(pg_get_serial_sequence('incidents', 'id')) \
         FROM generate_series(1, {incidents}) \
         UNION ALL SELECT 1, nextval(pg_get_serial_sequence('reports', 'id')) \
         FROM generate_series(1, {reports}); \
         SELECT i.* FROM unnest({list}) AS f(fp) \
         CROSS JOIN LATERAL (SELECT * FROM incidents WHERE fingerprint = f.fp OFFSET 0) AS i \
         ORDER BY i.id",
        incidents = fingerprints.len(),
    );
    let mut results = txn.simple(&sql).await?;
    let (Some(found), Some(taken)) = (results.pop(), results.pop()) else {
        return Err(DbError::Setup(
            "the contents' lookup answered fewer results than it asked".into(),
        ));
    };
    let (mut i, mut r) = (
        Vec::with_capacity(fingerprints.len()),
        Vec::with_capacity(reports),
    );
    for row in taken {
        let id = row.try_get::<i64, _>("id").map_err(sqlx_error)?;
        match row.try_get::<i32, _>("t").map_err(sqlx_error)? {
            0 => i.push(id),
            1 => r.push(id),
            _ => {}
        }
    }
    let existing = found
        .into_iter()
        .map(|row| incident::Model::from_query_result(&sea_orm::QueryResult::from(row), ""))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((i, r, existing))
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn placeholders_are_counted_on_from_the_offset() {
        assert_eq!(
            renumber(
                r#"UPDATE "incidents" SET "a" = $1 WHERE "id" = $2 AND "v" = $10"#,
                7
            ),
            r#"UPDATE "incidents" SET "a" = $8 WHERE "id" = $9 AND "v" = $17"#
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
    }
}
