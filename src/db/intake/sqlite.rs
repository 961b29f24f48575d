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
//! The outbox worker's writes run here too, between batches (`Db::on_writer`). Every other
//! writer still goes through sqlx; the write gate orders them with this one.

use std::sync::Arc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sea_orm::{DbBackend, QueryTrait};
use tokio::sync::mpsc;

use super::plan::{Fingerprints, plan};
use super::{Stored, Submission, Work, answer, split};
use crate::db::entities::incident;
use crate::db::{Db, DbError, raw};
use crate::domain::deadlines::Policy;

/// Opens the writer's connection (so a bad file fails start-up, not the first report) and
/// starts its thread.
pub fn start(
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    rx: mpsc::Receiver<Work>,
) -> Result<(), DbError> {
    let conn = open(&db)?;
    // A checkpointer thread copies the WAL into the database beside the writer (PASSIVE). The
    // writer's own automatic checkpoint remains for what that cannot do under a steady flood:
    // finish the copy while nothing is written, so the next transaction restarts the WAL at
    // its start. It flushes both files with the writer stopped, about 13 ms here whatever the
    // WAL's size. A flood grows the WAL by about 400 MB/s (each report changes about six pages,
    // four of them at random places in indexes and incidents), so SQLite's default 1,000
    // frames would stop intake all the time; 20,000 frames (every ~200 ms) measured
    // 17,200–19,500 reports/s, 100,000 (~390 MiB) 19,000–20,100, 200,000 no better. The
    // file keeps its largest size: cutting it back on restart (journal_size_limit) cost 9%.
    // When intake is quiet the checkpointer catches up and the WAL restarts without a stop.
    conn.pragma_update(None, "wal_autocheckpoint", 100_000)?;
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
            // Every report waits on this one thread, and while handlers kept both cores busy it
            // was preempted inside its batches with the write gate held: a batch took about 1.5
            // times its CPU time in wall time, about 1.15 times ahead of the runtime's threads.
            crate::nice::set_this_thread(-10);
            run(conn, db, policy, batch, rx);
            drop(alive);
        })
        .map_err(spawn_err)?;
    Ok(())
}

/// Checkpoints the WAL every 200 ms without waiting on the writer or readers (PASSIVE),
/// until the writer has stopped, then once more.
fn checkpoint_until(conn: Connection, writer_gone: std::sync::mpsc::Receiver<()>) {
    loop {
        let stop = !matches!(
            // Measured: every 50 ms the checkpointer copied pages the writer was about to change
            // again (intake ÷ healthz 0.21); every 200 ms, 0.22; every 500 ms no better. The WAL
            // file grows to what intake writes between two checkpoints.
            writer_gone.recv_timeout(std::time::Duration::from_millis(200)),
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
    mut rx: mpsc::Receiver<Work>,
) {
    let mut work: Vec<Work> = Vec::with_capacity(batch);
    while rx.blocking_recv_many(&mut work, batch) > 0 {
        let (mut jobs, tasks) = split(&mut work);
        let _gate = db.write_guard_blocking();
        if !jobs.is_empty() {
            let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
            let result = store_batch(&mut conn, &policy, &subs);
            for (sub, done) in answer(&mut jobs, result) {
                let r = store_batch(&mut conn, &policy, &[&sub]);
                let _ = done.send(r.map(|mut v| v.remove(0)).map_err(Arc::new));
            }
        }
        for task in tasks {
            task(&mut conn);
        }
    }
}

/// Runs `f` in an IMMEDIATE transaction of its own on the writer's connection.
pub(crate) fn in_transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    // IMMEDIATE takes the write lock now, so another process writing the same file makes this
    // wait (busy timeout) instead of failing at the first write.
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let r = f(&txn)?;
    txn.commit()?;
    Ok(r)
}

fn store_batch(
    conn: &mut Connection,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    in_transaction(conn, |txn| {
        let fps = Fingerprints::of(subs);
        let existing: Vec<incident::Model> =
            raw::query(txn, &fps.incidents().build(DbBackend::Sqlite))?;
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
        insert(txn, p.new_incidents)?;
        for update in p.updates {
            if raw::execute(txn, &update.build(DbBackend::Sqlite))? != 1 {
                return Err(DbError::Conflict);
            }
        }
        insert(txn, p.events)?;
        insert(txn, p.clocks)?;
        insert(txn, p.reports)?;
        insert(txn, p.mails)?;
        Ok(p.stored)
    })
}

fn insert<A: sea_orm::ActiveModelTrait>(
    txn: &Transaction<'_>,
    rows: Vec<A>,
) -> Result<(), DbError> {
    for row in rows {
        raw::insert(txn, row)?;
    }
    Ok(())
}
