//! The PostgreSQL writers: a few tasks on the server's runtime, each storing the batch it took
//! in one transaction through the pool. They, and other instances, write at once, so reports
//! with the same content are serialised by advisory locks and ids come from the tables'
//! sequences.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryTrait, Statement,
    TransactionTrait,
};
use tokio::sync::mpsc;

use super::plan::{Fingerprints, plan};
use super::{
    KnownSources, Stored, Submission, Work, answer, dedupe, reassemble, source_ids, split,
};
use crate::db::entities::incident;
use crate::db::{Db, DbError, search_queue};
use crate::domain::deadlines::Policy;

/// Batches in flight at once, at most (and never more than half the pool, which the pages
/// need too). Four while each insert was parsed and planned anew; once a batch's statements
/// were cached, two did better on two cores (seven alternating 15 s floods each: 1,341
/// reports/s on average against 1,136, p99 28-30 ms against 49-55 in the quieter runs):
/// fewer writers take larger batches, so fewer statements per report.
const WRITERS: u32 = 2;

/// Starts the writers: tasks that each take the batch waiting and store it. One writer spent
/// most of each batch waiting on round trips and on the server's work while the machine sat
/// half idle; several keep the server busy, the way several instances do (the locks below
/// make that safe).
pub fn start(db: Db, policy: Arc<Policy>, batch: usize, rx: mpsc::Receiver<Work>) {
    let writers = WRITERS.min(db.pool_size() / 2).max(1);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let load = Arc::new(search_queue::Load::default());
    for _ in 0..writers {
        tokio::spawn(run(
            db.clone(),
            policy.clone(),
            batch,
            rx.clone(),
            load.clone(),
        ));
    }
    // The search index of report texts, brought up to date when the writers leave room.
    tokio::spawn(search_queue::run(db, load, writers));
}

async fn run(
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Work>>>,
    load: Arc<search_queue::Load>,
) {
    let mut work: Vec<Work> = Vec::with_capacity(batch);
    // One writer at a time waits on the queue; it takes what is there and lets the queue go
    // before it stores that (the guard is dropped with the loop's condition).
    while rx.lock().await.recv_many(&mut work, batch).await > 0 {
        // Tasks are for SQLite's writer thread; none is sent here (see `Db::on_writer`).
        let (jobs, _) = split(&mut work);
        // As on SQLite: a report whose submitter was answered 503 (or left) is not stored.
        let now = std::time::Instant::now();
        let (mut jobs, stale): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .partition(|(sub, done)| !done.is_closed() && sub.answer_by.is_none_or(|t| now < t));
        for (_, done) in stale {
            let _ = done.send(Err(Arc::new(DbError::Busy)));
        }
        if jobs.is_empty() {
            continue;
        }
        let began = std::time::Instant::now();
        let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
        let result = store_batch(&db, &policy, &subs).await;
        for (sub, done) in answer(&mut jobs, result) {
            let r = store_batch(&db, &policy, &[&sub]).await;
            let _ = done.send(r.map(|mut v| v.remove(0)).map_err(Arc::new));
        }
        load.add(began.elapsed());
    }
}

async fn store_batch(
    db: &Db,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    let txn = db.write_conn().begin().await?;
    // A row lock held elsewhere (another instance, an operator's session) fails the batch
    // after the write timeout (503) instead of holding every report behind it.
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        format!(
            "SET LOCAL lock_timeout = {}",
            db.write_timeout().as_millis().max(1)
        ),
    ))
    .await?;
    // Two imports of the same finding at once must not both store it: each takes the
    // finding's lock first (sorted, like the fingerprints' below), then looks.
    let ids = source_ids(subs);
    let mut keys: Vec<String> = ids
        .iter()
        .flat_map(|(tool, ids)| ids.iter().map(move |id| format!("{tool}\u{1f}{id}")))
        .collect();
    keys.sort_unstable();
    for key in &keys {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
            [key.as_str().into()],
        ))
        .await?;
    }
    let known = known_sources(&txn, &ids).await?;
    let (to_store, slots) = dedupe(subs, &known);
    if to_store.is_empty() {
        txn.commit().await?;
        return Ok(reassemble(subs, slots, Vec::new()));
    }
    let all = subs;
    let subs = to_store.as_slice();
    let fps = Fingerprints::of(subs);
    // Two instances receiving the same content at once must not both open an incident;
    // sorted, so two batches never wait on each other in opposite orders. One statement for
    // the batch (a round trip per content was most of a batch of distinct reports' waiting);
    // the locks are taken in the array's order.
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) \
         FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
        [text_array(&fps.distinct)],
    ))
    .await?;
    let existing = incidents_with(&txn, &fps.distinct).await?;
    let incident_ids = next_ids(&txn, "incidents", fps.new_incidents(&existing)).await?;
    let report_ids = next_ids(&txn, "reports", subs.len()).await?;
    let p = plan(policy, subs, &fps, existing, incident_ids, report_ids)?;
    insert(&txn, p.new_incidents).await?;
    for update in p.updates {
        if txn
            .execute_raw(update.build(DbBackend::Postgres))
            .await?
            .rows_affected()
            != 1
        {
            return Err(DbError::Conflict);
        }
    }
    insert(&txn, p.events).await?;
    insert(&txn, p.clocks).await?;
    insert(&txn, p.reports).await?;
    insert(&txn, p.attachments).await?;
    insert(&txn, p.cases).await?;
    insert(&txn, p.sources).await?;
    insert(&txn, p.mails).await?;
    txn.commit().await?;
    Ok(reassemble(all, slots, p.stored))
}

async fn known_sources(
    txn: &DatabaseTransaction,
    ids: &[(&str, Vec<&str>)],
) -> Result<KnownSources, DbError> {
    let mut known = KnownSources::new();
    for (tool, ids) in ids {
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT s.source_id, s.report_id, r.incident_id FROM discovery_sources s \
                 JOIN reports r ON r.id = s.report_id \
                 WHERE s.tool = $1 AND s.source_id = ANY($2)",
                [(*tool).into(), text_array(ids)],
            ))
            .await?;
        for r in rows {
            known.insert(
                ((*tool).to_owned(), r.try_get::<String>("", "source_id")?),
                (
                    r.try_get::<i64>("", "report_id")?,
                    r.try_get::<i64>("", "incident_id")?,
                ),
            );
        }
    }
    Ok(known)
}

/// The incidents with these contents, oldest first ([`plan`] keeps the open ones): the index
/// asked once per content. Without statistics on `incidents` (a new database, or autovacuum
/// off, as on the machine the benchmarks run on) PostgreSQL guesses that each content matches
/// half a percent of the table and reads all of it for a batch of 32 contents: 23 ms a batch
/// at 28,000 incidents, growing with the table. A lateral subquery it cannot merge into the
/// join (`OFFSET 0`; without it the join became a hash join over the whole table again) leaves
/// it one index lookup per content, whatever it guesses: 0.6 ms instead of 39 for 32 contents.
async fn incidents_with(
    txn: &DatabaseTransaction,
    fingerprints: &[String],
) -> Result<Vec<incident::Model>, DbError> {
    Ok(incident::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT i.* FROM unnest($1::text[]) AS f(fp) \
             CROSS JOIN LATERAL (SELECT * FROM incidents WHERE fingerprint = f.fp OFFSET 0) AS i \
             ORDER BY i.id",
            [text_array(fingerprints)],
        ))
        .all(txn)
        .await?)
}

/// A `text[]` parameter.
fn text_array<S: AsRef<str>>(items: &[S]) -> sea_orm::Value {
    sea_orm::Value::Array(
        sea_orm::sea_query::ArrayType::String,
        Some(Box::new(
            items
                .iter()
                .map(|s| sea_orm::Value::from(s.as_ref()))
                .collect(),
        )),
    )
}

/// A batch's rows for one table in one statement whose text does not change with the batch:
/// the rows travel as one JSON array that `json_populate_recordset` turns back into the
/// table's rows. sea-orm's multi-row `VALUES` has a different text (and a bind per value) for
/// each batch size, so with nine tables and batches of 1 to 32 the connections' statement
/// caches kept missing and each insert was parsed and planned again (`GetCachedPlan` and
/// executor start-up were 18% of the backends' time in a flood). Sent as text and read as
/// `json`, not `jsonb`: receiving `jsonb` built a whole binary value (11% of the backends'
/// time) only for the rows to be taken out of it; `json` is checked, then parsed once into the
/// rows. Rows whose columns differ, or that hold a type this does not carry, take sea-orm's
/// insert.
async fn insert<A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<(), DbError>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::EntityName;
    if rows.is_empty() {
        return Ok(());
    }
    let Some((columns, json)) = json_rows(&rows) else {
        return insert_many(txn, rows).await;
    };
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let columns = columns.join(", ");
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} \
             FROM json_populate_recordset(NULL::{table}, $1::text::json)"
        ),
        [sea_orm::Value::String(Some(json.to_string()))],
    ))
    .await?;
    Ok(())
}

/// The rows' set columns (quoted) and the rows as a JSON array of objects, or `None` when the
/// rows do not all set the same columns or a value has no faithful JSON form here.
fn json_rows<A: sea_orm::ActiveModelTrait>(rows: &[A]) -> Option<(Vec<String>, serde_json::Value)> {
    use sea_orm::{ActiveValue, IdenStatic, Iterable};
    let set = |row: &A| -> Vec<(&'static str, sea_orm::Value)> {
        <A::Entity as EntityTrait>::Column::iter()
            .filter_map(|c| match row.get(c) {
                ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some((c.as_str(), v)),
                ActiveValue::NotSet => None,
            })
            .collect()
    };
    let mut columns: Option<Vec<&'static str>> = None;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let values = set(row);
        let names = values.iter().map(|(name, _)| *name);
        match &columns {
            None => columns = Some(names.collect()),
            Some(first) if !names.eq(first.iter().copied()) => return None,
            Some(_) => {}
        }
        let mut object = serde_json::Map::with_capacity(values.len());
        for (name, value) in values {
            object.insert(name.to_owned(), json_value(value)?);
        }
        out.push(serde_json::Value::Object(object));
    }
    let names = columns?.iter().map(|c| format!("\"{c}\"")).collect();
    Some((names, serde_json::Value::Array(out)))
}

/// A value as PostgreSQL's JSON-to-row conversion reads it back: numbers and booleans as
/// such, instants in RFC 3339 with microseconds (a `timestamptz` keeps no more), `jsonb`
/// values nested. `None` for a type the intake tables do not use.
fn json_value(value: sea_orm::Value) -> Option<serde_json::Value> {
    use sea_orm::Value as V;
    use serde_json::Value as J;
    Some(match value {
        V::Bool(v) => v.map_or(J::Null, J::Bool),
        V::Int(v) => v.map_or(J::Null, J::from),
        V::BigInt(v) => v.map_or(J::Null, J::from),
        V::Double(v) => match v {
            None => J::Null,
            Some(f) => J::Number(serde_json::Number::from_f64(f)?),
        },
        V::String(v) => v.map_or(J::Null, J::String),
        V::Json(v) => v.map_or(J::Null, |j| *j),
        V::ChronoDateTimeUtc(v) => v.map_or(J::Null, |t| {
            J::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        }),
        _ => return None,
    })
}

/// sea-orm's multi-row inserts, in chunks that stay within the bind limit.
async fn insert_many<A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<(), DbError>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(256).collect();
        let insert = <A::Entity as EntityTrait>::insert_many(chunk).build(DbBackend::Postgres);
        txn.execute_raw(insert).await?;
    }
    Ok(())
}

/// Ids for new rows, taken before the insert because the first event's hash covers the
/// incident's id.
async fn next_ids(txn: &DatabaseTransaction, table: &str, n: usize) -> Result<Vec<i64>, DbError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, $1)"
            ),
            [(n as i64).into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64>("", "id").map_err(DbError::from))
        .collect()
}
