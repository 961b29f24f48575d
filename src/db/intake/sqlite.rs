//! The SQLite writer: one OS thread with its own connection (rusqlite, on the same SQLite
//! library sqlx links) that stores each batch synchronously.
//!
//! Why not sqlx here: through the pool every statement is a hop to the driver's thread and
//! back to the runtime, and each transaction a pool checkout and a return spawned on the
//! runtime; while handlers keep both cores busy those hops wait for a core inside the batch,
//! with the write gate held. On a thread of its own a batch runs straight through its SQLite
//! work, the statements stay prepared, and the WAL checkpoints can move to a thread beside it.
//! (Measured: the thread alone gained little, because a batch's own SQLite work was the larger
//! part, about 120 µs of CPU per report; what the writer does per report is what got cheaper:
//! checkpoints off the writer, UPDATEs of changed columns only, one index probe per content.)
//! Every other writer still goes through sqlx; the write gate orders them with this one.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use sea_orm::{DbBackend, EntityTrait, QueryTrait, Statement, Value};
use tokio::sync::mpsc;

use super::plan::{Fingerprints, plan};
use super::{Job, Stored, Submission, answer};
use crate::db::entities::incident;
use crate::db::{Db, DbError};
use crate::domain::deadlines::Policy;

/// Opens the writer's connection (so a bad file fails start-up, not the first report) and
/// starts its thread.
pub fn start(
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    rx: mpsc::Receiver<Job>,
) -> Result<(), DbError> {
    let conn = open(&db)?;
    // Writer-side automatic checkpoints would copy the WAL into the database file (and fsync
    // it) in the middle of a batch; a checkpointer thread does it beside the writer instead.
    // The writer's own threshold stays as a backstop should the checkpointer fall behind.
    conn.pragma_update(None, "wal_autocheckpoint", 20_000)?;
    let checkpointer = open(&db)?;
    let (alive, writer_gone) = std::sync::mpsc::channel::<()>();
    let spawn_err =
        |e: std::io::Error| DbError::Setup(format!("cannot start the intake writer: {e}"));
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || checkpoint_until(checkpointer, writer_gone))
        .map_err(spawn_err)?;
    std::thread::Builder::new()
        .name("sqlite-intake".into())
        .spawn(move || {
            run(conn, db, policy, batch, rx);
            drop(alive);
        })
        .map_err(spawn_err)?;
    Ok(())
}

/// Checkpoints the WAL every so often without waiting on the writer or readers (PASSIVE),
/// until the writer has stopped, then once more.
fn checkpoint_until(conn: Connection, writer_gone: std::sync::mpsc::Receiver<()>) {
    loop {
        let stop = !matches!(
            writer_gone.recv_timeout(std::time::Duration::from_millis(50)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if stop {
            return;
        }
    }
}

fn open(db: &Db) -> Result<Connection, DbError> {
    let path = db.sqlite_file().ok_or_else(|| {
        DbError::Setup("intake needs an SQLite database file, not an in-memory database".into())
    })?;
    let conn = Connection::open(path)?;
    conn.busy_timeout(db.busy_timeout())?;
    // The same settings as the pool's connections (see `Db::connect`): WAL is a property of
    // the file, the rest are per connection.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    conn.pragma_update(None, "mmap_size", crate::db::MMAP_BYTES)?;
    // One prepared statement per table and shape of query; batches of different sizes read
    // with different numbers of fingerprints.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn run(
    mut conn: Connection,
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    mut rx: mpsc::Receiver<Job>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batch);
    while rx.blocking_recv_many(&mut jobs, batch) > 0 {
        let _gate = db.write_guard_blocking();
        let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
        let result = store_batch(&mut conn, &policy, &subs);
        for (sub, done) in answer(&mut jobs, result) {
            let r = store_batch(&mut conn, &policy, &[&sub]);
            let _ = done.send(r.map(|mut v| v.remove(0)).map_err(Arc::new));
        }
    }
}

fn store_batch(
    conn: &mut Connection,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    // IMMEDIATE takes the write lock now, so another process writing the same file makes this
    // wait (busy timeout) instead of failing at the first write.
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let fps = Fingerprints::of(subs);
    let existing = incidents_with(&txn, fps.incidents().build(DbBackend::Sqlite))?;
    // One writer holds the file (the transaction is IMMEDIATE), so the next ids follow the
    // largest ones.
    let (last_incident, last_report): (i64, i64) = txn
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM incidents), \
             (SELECT COALESCE(MAX(id), 0) FROM reports)",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let new_incidents = fps.new_incidents(&existing) as i64;
    let p = plan(
        policy,
        subs,
        &fps,
        existing,
        (1..=new_incidents).map(|k| last_incident + k).collect(),
        (1..=subs.len() as i64).map(|k| last_report + k).collect(),
    )?;
    // Row by row through cached statements: SQLite's fastest way to insert, with no SQL to
    // parse after the first batch.
    insert(&txn, p.new_incidents)?;
    for update in p.updates {
        if execute(&txn, update.build(DbBackend::Sqlite))? != 1 {
            return Err(DbError::Conflict);
        }
    }
    insert(&txn, p.events)?;
    insert(&txn, p.clocks)?;
    insert(&txn, p.reports)?;
    insert(&txn, p.mails)?;
    txn.commit()?;
    Ok(p.stored)
}

fn insert<A>(txn: &Transaction<'_>, rows: Vec<A>) -> Result<(), DbError>
where
    A: sea_orm::ActiveModelTrait,
{
    for row in rows {
        execute(
            txn,
            <A::Entity as EntityTrait>::insert(row).build(DbBackend::Sqlite),
        )?;
    }
    Ok(())
}

fn execute(txn: &Transaction<'_>, s: Statement) -> Result<usize, DbError> {
    Ok(txn
        .prepare_cached(&s.sql)?
        .execute(rusqlite::params_from_iter(params(&s)))?)
}

fn params(s: &Statement) -> impl Iterator<Item = Bind<'_>> {
    s.values.iter().flat_map(|v| v.0.iter()).map(Bind)
}

/// A value bound as sqlx would have bound it, so rows written here read back through sea-orm
/// the same as any other: instants as RFC 3339 text, booleans as 0/1. Text is bound in place.
struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        fn or_null<'a, T>(
            v: &'a Option<T>,
            f: impl FnOnce(&'a T) -> ToSqlOutput<'a>,
        ) -> ToSqlOutput<'a> {
            v.as_ref().map_or(ToSqlOutput::Owned(Sql::Null), f)
        }
        let int = |i: i64| ToSqlOutput::Owned(Sql::Integer(i));
        Ok(match self.0 {
            Value::Bool(b) => or_null(b, |b| int(i64::from(*b))),
            Value::TinyInt(i) => or_null(i, |i| int(i64::from(*i))),
            Value::SmallInt(i) => or_null(i, |i| int(i64::from(*i))),
            Value::Int(i) => or_null(i, |i| int(i64::from(*i))),
            Value::BigInt(i) => or_null(i, |i| int(*i)),
            Value::TinyUnsigned(i) => or_null(i, |i| int(i64::from(*i))),
            Value::SmallUnsigned(i) => or_null(i, |i| int(i64::from(*i))),
            Value::Unsigned(i) => or_null(i, |i| int(i64::from(*i))),
            Value::Float(f) => or_null(f, |f| ToSqlOutput::Owned(Sql::Real(f64::from(*f)))),
            Value::Double(f) => or_null(f, |f| ToSqlOutput::Owned(Sql::Real(*f))),
            Value::String(s) => or_null(s, |s| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))),
            Value::Char(c) => or_null(c, |c| ToSqlOutput::Owned(Sql::Text(c.to_string()))),
            Value::Bytes(b) => or_null(b, |b| ToSqlOutput::Borrowed(ValueRef::Blob(b))),
            Value::Json(j) => or_null(j, |j| ToSqlOutput::Owned(Sql::Text(j.to_string()))),
            Value::ChronoDateTimeUtc(t) => or_null(t, |t| {
                ToSqlOutput::Owned(Sql::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("the SQLite intake writer cannot store {other:?}").into(),
                ));
            }
        })
    }
}

fn incidents_with(txn: &Transaction<'_>, s: Statement) -> Result<Vec<incident::Model>, DbError> {
    let mut st = txn.prepare_cached(&s.sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(params(&s)), incident_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An incident row, read the way sea-orm reads it through sqlx.
fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<incident::Model> {
    Ok(incident::Model {
        id: r.get("id")?,
        state: r.get("state")?,
        version: r.get("version")?,
        category: r.get("category")?,
        severity: r.get("severity")?,
        assignee_id: r.get("assignee_id")?,
        title: r.get("title")?,
        fingerprint: r.get("fingerprint")?,
        first_reported_at: instant(r, "first_reported_at")?,
        report_count: r.get("report_count")?,
        evidence_hold: r.get("evidence_hold")?,
        serious: r.get("serious")?,
        serious_at: maybe_instant(r, "serious_at")?,
        authority_reported_at: maybe_instant(r, "authority_reported_at")?,
        triaged_at: maybe_instant(r, "triaged_at")?,
        duplicate_of: r.get("duplicate_of")?,
        rejection_reasons: r.get("rejection_reasons")?,
        filter_rule: r.get("filter_rule")?,
        fix_plan: r.get("fix_plan")?,
        training_run: r.get("training_run")?,
        candidate_model_version: r.get("candidate_model_version")?,
        resolved_at: maybe_instant(r, "resolved_at")?,
        last_event_at: instant(r, "last_event_at")?,
        last_event_hash: r.get("last_event_hash")?,
        next_due_at: maybe_instant(r, "next_due_at")?,
        next_due_clock: r.get("next_due_clock")?,
        created_at: instant(r, "created_at")?,
    })
}

fn instant(r: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = r.get(column)?;
    parse_instant(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{column}: not an instant: {text:?}").into(),
        )
    })
}

fn maybe_instant(r: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get_ref(column)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => instant(r, column).map(Some),
    }
}

/// RFC 3339 (what sqlx writes), or SQLite's own `YYYY-MM-DD HH:MM:SS` taken as UTC.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    fn bound(v: Value) -> Sql {
        match Bind(&v).to_sql().unwrap() {
            ToSqlOutput::Owned(v) => v,
            ToSqlOutput::Borrowed(v) => v.into(),
            _ => panic!("an unexpected binding"),
        }
    }

    #[test]
    fn instants_are_written_as_sqlx_writes_them_and_read_back() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T02:26:30.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let Sql::Text(text) = bound(Value::ChronoDateTimeUtc(Some(t))) else {
            panic!("an instant is text");
        };
        assert_eq!(text, "2026-11-29T02:26:30.123456+00:00");
        assert_eq!(parse_instant(&text), Some(t));
        assert_eq!(
            parse_instant("2026-11-29 02:26:30"),
            Some(t.with_nanosecond(0).unwrap())
        );
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn nulls_booleans_and_text_bind_as_sqlx_binds_them() {
        assert_eq!(bound(Value::Bool(Some(true))), Sql::Integer(1));
        assert_eq!(bound(Value::String(None)), Sql::Null);
        assert_eq!(
            bound(Value::String(Some("违规".into()))),
            Sql::Text("违规".into())
        );
        assert_eq!(bound(Value::ChronoDateTimeUtc(None)), Sql::Null);
    }
}
