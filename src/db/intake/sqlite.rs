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
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sea_orm::{DbBackend, QueryTrait};
use tokio::sync::mpsc;

use super::inbox::{self, Taken};
use super::plan::{Fingerprints, plan};
use super::{
    Deferral, KnownSources, Stored, Submission, Work, answer, dedupe, reassemble, source_ids, split,
};

use crate::db::entities::incident;
use crate::db::{Db, DbError, raw};
use crate::domain::deadlines::Policy;

/// Opens the writer's connection (so a bad file fails start-up, not the first report) and
/// starts its thread.
pub fn start(
    db: Db,
    policy: Arc<Policy>,
    batch: usize,
    deferral: Deferral,
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
    // 17,200–19,500 reports/s, 100,000 (~390 MiB) 19,000–20,100, 200,000 no better. 50,000
    // (~195 MiB) keeps the file within the 256 MiB a flood may take on disk: the WAL grows past
    // the mark by what is written until the restart, more the faster reports come (60,000
    // frames reached 258 MiB in a 60 s flood at 20,000 reports/s; 55,000 reached 259 MiB at
    // 33,000/s). Cutting the file back at each restart (journal_size_limit)
    // cost 9%; the checkpointer cuts it back once intake is quiet instead. When intake is quiet
    // the checkpointer also catches up and the WAL restarts without a stop.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_FRAMES)?;
    let wal_held = Arc::new(AtomicBool::new(false));
    let checkpointer = Checkpointer::new(db.clone(), wal_held.clone())?;
    let (alive, writer_gone) = std::sync::mpsc::channel::<()>();
    let spawn_err =
        |e: std::io::Error| DbError::Setup(format!("cannot start the intake writer: {e}"));
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || checkpoint_until(checkpointer, writer_gone))
        .map_err(spawn_err)?;
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("sqlite-intake".into())
        .spawn(move || {
            let mut conn = conn;
            let left_out = match take_what_was_left(&mut conn, &db, &policy) {
                Ok(left_out) => {
                    let _ = ready.send(Ok(()));
                    left_out
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            // At the runtime's priority, behind the pooled connections' threads (staff pages;
            // see `staff_priority`). It ran at nice -10 until the fourteenth session: a flood
            // with no staff reading is as fast at 0, and under staff reading the writer ahead
            // of them doubled a search's p95.
            let pacing = Pacing {
                batch,
                deferral,
                wal_held,
            };
            run(conn, db, policy, pacing, left_out, rx);
            drop(alive);
        })
        .map_err(spawn_err)?;
    // Start-up waits for it (on a thread of the runtime, once).
    started
        .recv()
        .map_err(|_| DbError::Setup("the intake writer stopped while starting".into()))?
}

/// Stores the reports a crash left in the inbox, before anything is served: after a restart
/// every acknowledged report is in its tables, as it was before the inbox. (Only a crash in a
/// flood leaves many: about 3,000 are stored a second.) Returns the rows left out.
fn take_what_was_left(
    conn: &mut Connection,
    db: &Db,
    policy: &Policy,
) -> Result<std::collections::HashSet<i64>, DbError> {
    let started = std::time::Instant::now();
    let mut left_out = std::collections::HashSet::new();
    let mut rows = 0usize;
    while let Taken::Stored = {
        let _gate = db.write_guard_blocking();
        inbox::take_oldest(conn, policy, &mut left_out)?
    } {
        rows += 1;
    }
    if rows > 0 {
        tracing::info!(
            rows,
            seconds = started.elapsed().as_secs_f64(),
            "stored the reports an earlier run left in intake's inbox"
        );
    }
    Ok(left_out)
}

/// Checkpoints the WAL every 200 ms (more often as it nears the writer's mark, see
/// [`pause_before_next`]) until the writer has stopped, then once more.
fn checkpoint_until(mut checkpointer: Checkpointer, writer_gone: std::sync::mpsc::Receiver<()>) {
    loop {
        let pause = checkpointer.next_pause;
        let stop = !matches!(
            writer_gone.recv_timeout(pause),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        checkpointer.round(KEEP_WAL_BYTES, RESTART_PAST_FRAMES);
        if stop {
            return;
        }
    }
}

/// The writer connection's page cache.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Frames (pages of 4 KiB) the WAL may grow to before the writer restarts it.
const WAL_FRAMES: i64 = 50_000;

/// The WAL file's size to give back to the disk once intake is quiet: a flood leaves it at up
/// to about 250 MiB (see [`WAL_FRAMES`]).
const KEEP_WAL_BYTES: u64 = 64 << 20;

/// The checkpointer's connection, and what its last round found.
struct Checkpointer {
    conn: Connection,
    db: Db,
    wal: std::path::PathBuf,
    /// The WAL's frames at the last round, when every one had been copied.
    settled: Option<i64>,
    /// Whether the last round failed: a failure is logged when it starts and when it ends,
    /// not every 200 ms.
    failing: bool,
    /// When a restart may be tried again after one gave up.
    retry_restart_at: std::time::Instant,
    /// The WAL's frames at the last round, and when: how fast it grows.
    last_seen: Option<(std::time::Instant, i64)>,
    /// How long to wait before the next round ([`pause_before_next`]).
    next_pause: std::time::Duration,
    /// Set while a restart waits for readers, and after one has given up while the WAL is
    /// past its mark: the writer's own work (storing the inbox, indexing) waits meanwhile (see
    /// [`Pacing::wal_held`]).
    held: Arc<AtomicBool>,
}

impl Checkpointer {
    fn new(db: Db, held: Arc<AtomicBool>) -> Result<Checkpointer, DbError> {
        let conn = open(&db)?;
        // PASSIVE never waits; TRUNCATE, the only mode here that does, runs with the write
        // gate held, and must then give up at once on a reader rather than stall intake.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        // (`open` has checked that there is a file.)
        let mut wal = db
            .sqlite_file()
            .map(|p| p.as_os_str().to_owned())
            .unwrap_or_default();
        wal.push("-wal");
        Ok(Checkpointer {
            conn,
            wal: wal.into(),
            db,
            settled: None,
            failing: false,
            retry_restart_at: std::time::Instant::now(),
            last_seen: None,
            next_pause: PAUSE,
            held,
        })
    }

    /// One round: copies into the database what the writer has committed, without waiting on
    /// it or on readers (PASSIVE). When the round before had copied everything and nothing
    /// was written since, and the WAL file is larger than `keep_bytes`, it also cuts the file
    /// to nothing (TRUNCATE), holding the write gate. Returns whether it cut. A WAL of more
    /// than `restart_past` frames is started over ([`Checkpointer::restart`]).
    fn round(&mut self, keep_bytes: u64, restart_past: i64) -> bool {
        let counts = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            });
        let (frames, copied) = match counts {
            Ok(c) => c,
            Err(e) => {
                if !self.failing {
                    tracing::warn!(path = %self.wal.display(), error = %e,
                        "WAL checkpoint failed (logged once until it works again)");
                    self.failing = true;
                }
                self.settled = None;
                return false;
            }
        };
        if self.failing {
            tracing::info!(path = %self.wal.display(), "WAL checkpoint works again");
            self.failing = false;
        }
        // While staff read the restart starts earlier, so that one that gives up (a search
        // still reading) leaves room to try again within the WAL's bound.
        let restart_past = if self.db.reading() {
            restart_past.min(RESTART_WHILE_READING_PAST_FRAMES)
        } else {
            restart_past
        };
        let now = std::time::Instant::now();
        let per_second = match self.last_seen {
            Some((then, before)) if frames >= before => {
                (frames - before) as f64 / now.duration_since(then).as_secs_f64().max(1e-3)
            }
            // Started over since: how fast it grows is seen at the next round.
            _ => 0.0,
        };
        self.last_seen = Some((now, frames));
        self.next_pause = pause_before_next(frames, restart_past.min(WAL_FRAMES), per_second);
        if frames <= restart_past {
            self.held.store(false, Ordering::Relaxed);
        } else if self.retry_restart_at <= now {
            let ok = self.restart();
            // Once started over (or copied and free to be: the next write starts it over),
            // the writer's own work may go on; while a reader keeps it from that, the writer
            // stores reports as they come and nothing more, so that only intake grows the WAL.
            self.held.store(!ok, Ordering::Relaxed);
            if !ok {
                // A reader that outlasts the wait may be a long one (an export, say): intake
                // is not held up every round for it.
                self.retry_restart_at = std::time::Instant::now() + RESTART_BACKOFF;
            }
            self.settled = None;
            return false;
        }
        let all_copied = frames == copied;
        let quiet = all_copied && self.settled == Some(frames);
        self.settled = all_copied.then_some(frames);
        if !quiet || std::fs::metadata(&self.wal).is_ok_and(|m| m.len() <= keep_bytes) {
            return false;
        }
        let _gate = self.db.write_guard_blocking();
        // (busy, frames, copied): busy when a reader was still on the WAL; the next quiet round
        // tries again.
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            }) {
            Ok(busy) => busy == 0,
            Err(e) => {
                tracing::warn!(error = %e, "WAL truncation failed");
                false
            }
        }
    }

    /// Starts the WAL over when staff reading beside intake kept the writer from doing so: the
    /// writer restarts it only once every frame is copied and no reader is still on it, and
    /// with a board and a search read all the time some reader always was (the `mixed` bench's
    /// WAL grew to 658 MiB in 20 s, and would have grown as long as both went on). A RESTART
    /// checkpoint waits, holding off writers, until the readers on the WAL have finished (new
    /// ones then read the database file), copies everything, and the next transaction writes
    /// the WAL from its start. Intake waits for it, so the readers are waited for first,
    /// without the write gate: the reader threads start no page meanwhile (see
    /// [`ReadPause`](crate::db::readers::ReadPause)), and the pool, which cannot be held, is
    /// waited for until none of its connections is in use. Then intake waits only for the
    /// copy, about once per [`WAL_FRAMES`] written. Returns whether the WAL was started over.
    fn restart(&mut self) -> bool {
        // While it waits for readers, the writer's own work (storing the inbox, indexing),
        // which writes the most frames a second, waits too: only intake grows the WAL then.
        self.held.store(true, Ordering::Relaxed);
        let until = std::time::Instant::now() + RESTART_WAIT;
        let Some(_paused) = self.db.read_pause.pause(RESTART_WAIT) else {
            return false;
        };
        // (A connection may be taken from the pool without reading, or kept for long: the
        // restart is tried all the same once the wait is over.)
        while self.db.reading() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _gate = self.db.write_guard_blocking();
        // A read through the pool that outlasted that wait, or began since, is waited for a
        // millisecond at a time (SQLite's own busy wait sleeps up to 100 ms at once, 25 ms by
        // its eighth try), not for long: intake waits meanwhile.
        let _ = self.conn.busy_handler(Some(wait_a_millisecond));
        let outcome = self
            .conn
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        match outcome {
            Ok(busy) => busy == 0,
            Err(e) => {
                tracing::warn!(error = %e, "WAL restart failed");
                false
            }
        }
    }
}

/// The restart's busy handler, with the write gate held: `tries` milliseconds waited so far.
fn wait_a_millisecond(tries: i32) -> bool {
    if tries >= RESTART_WAIT_UNDER_GATE_MS {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

/// Frames past which the checkpointer starts the WAL over itself ([`Checkpointer::restart`]):
/// the writer starts it over at [`WAL_FRAMES`] when it can, so a WAL this much larger means
/// readers kept it from doing so.
const RESTART_PAST_FRAMES: i64 = WAL_FRAMES + 2_000;

/// The same while pooled connections read: 65,536 frames are the 256 MiB a WAL may take, and a
/// WAL this size leaves 20,000 frames (about 2.4 s of intake at half rate beside staff) for
/// restarts that give up because a search is still reading (the `mixed` bench reached 278 MiB
/// when they began at [`RESTART_PAST_FRAMES`]).
const RESTART_WHILE_READING_PAST_FRAMES: i64 = 45_000;

/// The checkpointer's usual pause between rounds. Measured: every 50 ms it copied pages the
/// writer was about to change again (intake ÷ healthz 0.21); every 200 ms, 0.22; every 500 ms
/// no better.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Its shortest pause, near and past the mark.
const NEAR_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// The pause before the next round, given the WAL's `frames`, the `mark` at which it should
/// start over, and how many frames a second it grew by since the last round: half the time
/// the WAL needs to reach the mark at that pace, between [`NEAR_PAUSE`] and [`PAUSE`]. Storing
/// a flood's inbox writes about 100,000 frames a second, and the writer seldom starts the WAL
/// over itself then (its own checkpoint cannot copy the last frames while it keeps writing),
/// so the restart is the checkpointer's: with a look every 200 ms, one below the mark and the
/// next could be 20,000 frames (80 MiB) past it (279 MiB while a flood's inbox was stored,
/// twenty-ninth session). A flood (about 17,000 frames a second) is looked at more often only
/// in its last few hundred milliseconds before each restart.
fn pause_before_next(frames: i64, mark: i64, per_second: f64) -> std::time::Duration {
    if frames >= mark {
        return NEAR_PAUSE;
    }
    if per_second <= 0.0 {
        return PAUSE;
    }
    let to_mark = (mark - frames) as f64 / per_second;
    std::time::Duration::from_secs_f64(to_mark / 2.0).clamp(NEAR_PAUSE, PAUSE)
}

/// How long a restart waits for readers on the WAL without holding intake back.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// How long, after that, it may wait holding the write gate (intake waiting too) for a read
/// through the pool.
const RESTART_WAIT_UNDER_GATE_MS: i32 = 50;

/// How long after a restart that gave up the next one is tried.
const RESTART_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

fn open(db: &Db) -> Result<Connection, DbError> {
    let path = db.sqlite_file().ok_or_else(|| {
        DbError::Setup("intake needs an SQLite database file, not an in-memory database".into())
    })?;
    // Read-write, never the read-only fallback SQLite takes on a file it cannot write: a
    // writer reopened while the disk fails must fail to open, not stay read-only afterwards.
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| DbError::Setup(format!("cannot open {}: {e}", path.display())))?;
    if conn.is_readonly(rusqlite::DatabaseName::Main)? {
        return Err(DbError::Setup(format!(
            "{} could only be opened read-only",
            path.display()
        )));
    }
    conn.busy_timeout(db.write_timeout())?;
    // The same settings as the pool's connections (see `Db::connect`): WAL is a property of
    // the file, the rest are per connection.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    conn.pragma_update(None, "mmap_size", db.mmap_bytes())?;
    // Each distinct report inserts into indexes keyed by hashes and codes (content fingerprint,
    // tracking code): random pages of large B-trees, which SQLite's default 2 MiB cache kept
    // fetching again.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    // One prepared statement per table and shape of query; batches of different sizes read
    // with different numbers of fingerprints.
    conn.set_prepared_statement_cache_capacity(256);
    // Planned once, as the pool's connections are (see `db::plan_once`).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// How the writer takes its work.
struct Pacing {
    /// Reports per batch, at most.
    batch: usize,
    deferral: Deferral,
    /// Whether the WAL is past its mark and a reader keeps it from starting over: the writer's
    /// own work (storing the inbox, indexing for search) then waits until it has. Measured:
    /// one long read as the writer began to store a flood's inbox (2 million reports; the
    /// bench counting them, reading GiBs of rows) let the WAL grow to 655 MiB, the writer
    /// writing about 400 MB/s of it meanwhile.
    wal_held: Arc<AtomicBool>,
}

fn run(
    mut conn: Connection,
    db: Db,
    policy: Arc<Policy>,
    pacing: Pacing,
    mut left_out: std::collections::HashSet<i64>,
    mut rx: mpsc::Receiver<Work>,
) {
    let Pacing {
        batch,
        deferral,
        wal_held,
    } = pacing;
    let mut work: Vec<Work> = Vec::with_capacity(batch);
    let mut failing = false;
    let mut reopen = false;
    // Waiting for reports with a timeout: the search index is brought up to date when no
    // report has come for a while.
    let Ok(waiter) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        tracing::error!("the SQLite writer cannot start its timer");
        return;
    };
    let mut to_index = true;
    let mut to_take = false;
    let mut deferring = false;
    let mut last_work = std::time::Instant::now();
    let mut load = Load::default();
    let mut arrivals = Arrivals::default();
    loop {
        deferring = deferral.now(deferring, arrivals.rate());
        let held = wal_held.load(Ordering::Relaxed);
        if to_take && !failing && !held {
            // As for indexing below, but first: the inbox's reports have no incident yet. Not
            // while reports come faster than the writer should store them one by one (that is
            // what the inbox is for); after a batch once they come slower, or when none came
            // for a moment.
            let quiet = rx.is_empty() && last_work.elapsed() >= crate::db::search_index::QUIET;
            let spare = !quiet && !deferring && load.busy() < crate::db::search_index::SPARE_BELOW;
            if quiet || spare {
                let started = std::time::Instant::now();
                let taken = {
                    let _gate = db.write_guard_blocking();
                    inbox::take_oldest(&mut conn, &policy, &mut left_out)
                };
                load.worked(started.elapsed());
                match taken {
                    Ok(Taken::Stored) => to_index = true,
                    Ok(Taken::Nothing) => to_take = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "storing reports from intake's inbox failed; retried later");
                        to_take = false;
                    }
                }
                if quiet {
                    continue;
                }
            }
        }
        if to_index && !to_take && !failing && !held {
            use crate::db::search_index::{QUIET, QUIET_CHUNK, SPARE_BELOW, STEADY_CHUNK};
            // Indexing takes the write lock like a batch. Once no report has come for a while,
            // in large steps; otherwise a small step after a batch only while the writer has
            // capacity to spare (busy less than half of the last second): steady traffic is
            // indexed as it goes, and a flood, which keeps the writer busy, is not slowed by
            // it: the index catches up after the flood, and a search meanwhile says how many
            // reports it does not cover (`search::READ_UNINDEXED`).
            let quiet = rx.is_empty() && last_work.elapsed() >= QUIET;
            let spare = !quiet && load.busy() < SPARE_BELOW;
            if quiet || spare {
                let started = std::time::Instant::now();
                let _gate = db.write_guard_blocking();
                let chunk = if quiet { QUIET_CHUNK } else { STEADY_CHUNK };
                to_index = match in_transaction(&mut conn, |txn| {
                    crate::db::search_index::step(txn, chunk)
                }) {
                    Ok(more) => more,
                    Err(e) => {
                        tracing::warn!(error = %e, "indexing new reports for search failed; retried later");
                        false
                    }
                };
                load.worked(started.elapsed());
                if quiet {
                    continue;
                }
            }
        }
        let wait = if to_index || to_take {
            crate::db::search_index::QUIET
                .saturating_sub(last_work.elapsed())
                .max(std::time::Duration::from_millis(1))
        } else {
            // Rows others wrote (an import in another process) are looked for now and then.
            std::time::Duration::from_secs(1)
        };
        let received = waiter
            .block_on(async { tokio::time::timeout(wait, rx.recv_many(&mut work, batch)).await });
        match received {
            Ok(0) => break,
            Ok(n) => {
                last_work = std::time::Instant::now();
                arrivals.count(n);
                // Only while staff read: what sharing a commit buys is theirs (see `gather`),
                // and without readers a few clients that each wait for their answer lost 10-19%
                // to the wait.
                // Nor while reports go to the inbox: a batch there is one cheap row.
                if db.reading() && !deferral.now(deferring, arrivals.rate()) {
                    let limits = (COMMIT_WINDOW, arrivals.gap_to_give_up());
                    gather(&waiter, &mut rx, &mut work, &mut arrivals, batch, limits);
                }
            }
            Err(_) => {
                if !to_index {
                    to_index = crate::db::search_index::pending(&conn).unwrap_or(false);
                }
                if !to_take {
                    to_take = inbox::pending(&conn).unwrap_or(false);
                }
                continue;
            }
        }
        if reopen {
            // A connection that met an I/O error may keep a broken view of the files; a new
            // one sees them as they are now, so the writer recovers once they are writable.
            // Until it opens, the old one goes on answering (503).
            if let Ok(c) = open(&db) {
                conn = c;
                reopen = false;
            }
        }
        let (jobs, tasks) = split(&mut work, &policy);
        deferring = deferral.now(deferring, arrivals.rate());
        // A panic inside a batch must not take intake down for good: the batch's submitters
        // are answered (their replies are dropped: 503, "try again") and the writer goes on
        // with a fresh connection, as if restarted.
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            one_round(&mut conn, &db, &policy, jobs, tasks, deferring)
        }));
        load.worked(started.elapsed());
        reopen |= match outcome {
            // Only a round that stored reports shows the writer can write again (one with only
            // tasks may have met the same lock and said nothing).
            Ok(Ok(Wrote { stored, deferred })) => {
                to_index |= stored;
                to_take |= deferred;
                let stored = stored || deferred;
                if failing && stored {
                    tracing::info!(path = %path_of(&db), "the SQLite writer can write again");
                    failing = false;
                }
                false
            }
            Ok(Err(e)) => {
                // Logged once per failing spell, with the file, not once per batch.
                // (The failure itself went to the submitters as 503.)
                if !failing {
                    if matches!(e, DbError::Busy) {
                        tracing::warn!(path = %path_of(&db),
                            "the database is locked by another writer (another process?); \
                             reports are answered 503 until it is free");
                    } else {
                        tracing::error!(path = %path_of(&db), error = %e,
                            "the SQLite writer cannot write; reports are answered 503 until it can");
                    }
                    failing = true;
                }
                // A lock held elsewhere is not the connection's fault: keep it.
                !matches!(e, DbError::Busy)
            }
            Err(_) => {
                tracing::error!(path = %path_of(&db),
                    "the SQLite writer panicked; its batch was answered 503 and it restarts");
                true
            }
        };
    }
}

/// How long a report may wait for others to share its commit. From 4 ms (and [`GATHER_UP_TO`]
/// from 16), fifteenth session: beside staff reading, at half intake's rate, fewer commits
/// meant fewer emptied reader caches and index pages written again; in three alternating
/// pairs of the `mixed` bench the search's p95 was 113–118 ms against 131–194, the board's
/// 36–44 against 49–51. A flood hardly waits (`intake`: 30 s at 5,200 a second, p99 14 ms).
const COMMIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// The largest batch worth waiting for: beyond it a commit's fixed cost is small beside its
/// reports'.
const GATHER_UP_TO: usize = 32;

/// Waits, once reports have come, for as many more as arrive within [`COMMIT_WINDOW`] at the
/// recent rate (at most [`GATHER_UP_TO`]), so that they share a commit. Each commit rewrites the
/// pages of a dozen indexes that every report touches, and a reader's next transaction after a
/// commit starts with an empty page cache (staff pages beside intake used twice the CPU they use
/// alone). Measured in three A/B pairs of the `mixed` bench: the board's p95 beside intake at
/// half rate 42–46 ms with the wait against 52–64 without, the search's 197–235 against
/// 265–331 ms; a flood fills its batches while the writer works, so it seldom waits (`intake`
/// within noise). A lone report, or any at under 500 a second, is not held at all; nor, for a
/// second, are reports after a wait that brought none: a client that sends one report after
/// another (or a few at a time) fast enough to pass 500 a second is waiting for its answer, so
/// nothing more would come, and it would otherwise lose up to the whole window on each.
fn gather(
    waiter: &tokio::runtime::Runtime,
    rx: &mut mpsc::Receiver<Work>,
    work: &mut Vec<Work>,
    arrivals: &mut Arrivals,
    batch: usize,
    (window, gap): (std::time::Duration, std::time::Duration),
) {
    let want = arrivals.batch_worth_waiting_for(work.len(), batch);
    if want == 0 {
        return;
    }
    let had = work.len();
    let until = std::time::Instant::now() + window;
    // Reports that stop coming are not waited for to the end of the window: a gap of twice
    // the usual one between arrivals (`gap`) ends the wait (a few clients that each wait for
    // their answer have all sent theirs).
    while work.len() < want {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let more = want - work.len();
        match waiter
            .block_on(async { tokio::time::timeout(left.min(gap), rx.recv_many(work, more)).await })
        {
            Ok(n) if n > 0 => arrivals.count(n),
            // Closed (the writer's loop sees it at its next receive), the gap, or the window.
            _ => break,
        }
    }
    if work.len() == had {
        arrivals.no_wait_until = std::time::Instant::now() + Arrivals::NO_WAIT_AFTER_NONE;
    }
}

/// A sum over about the last second (or `window` seconds) that forgets exponentially: what was
/// added, faded by the time since, so that it reads as a rate per second (or a share of each
/// second).
#[derive(Debug)]
struct Fading {
    sum: f64,
    at: std::time::Instant,
    /// The time constant in seconds.
    window: f64,
}

impl Default for Fading {
    fn default() -> Self {
        Fading::over(1.0)
    }
}

impl Fading {
    fn over(window: f64) -> Fading {
        Fading {
            sum: 0.0,
            at: std::time::Instant::now(),
            window,
        }
    }

    /// Adds what `amount` makes of the time since the last addition.
    fn add(&mut self, amount: impl FnOnce(std::time::Duration) -> f64) {
        let now = std::time::Instant::now();
        let since = now.duration_since(self.at);
        self.at = now;
        self.sum =
            self.sum * (-since.as_secs_f64() / self.window).exp() + amount(since) / self.window;
    }

    /// The sum now.
    fn now(&self) -> f64 {
        self.sum * (-self.at.elapsed().as_secs_f64() / self.window).exp()
    }
}

/// How fast reports have come lately (per second).
#[derive(Debug)]
struct Arrivals {
    per_sec: Fading,
    /// The same over the last tenth of a second: a flood is seen in its first hundred ms.
    lately: Fading,
    /// Until when [`gather`] does not wait, after a wait that brought no report.
    no_wait_until: std::time::Instant,
}

impl Default for Arrivals {
    fn default() -> Self {
        Arrivals {
            per_sec: Fading::default(),
            lately: Fading::over(0.1),
            no_wait_until: std::time::Instant::now(),
        }
    }
}

impl Arrivals {
    const NO_WAIT_AFTER_NONE: std::time::Duration = std::time::Duration::from_secs(1);

    fn count(&mut self, n: usize) {
        self.per_sec.add(|_| n as f64);
        self.lately.add(|_| n as f64);
    }

    /// The rates that decide whether reports go to the inbox (see [`Deferral`]).
    fn rate(&self) -> (f64, f64) {
        (self.per_sec.now(), self.lately.now())
    }

    /// How many reports come in `span` at the rate now (rounded down).
    fn expected(&self, span: std::time::Duration) -> usize {
        (self.per_sec.now() * span.as_secs_f64()) as usize
    }

    /// How long without a report ends a wait: twice the mean gap between arrivals at the rate
    /// now.
    fn gap_to_give_up(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64((2.0 / self.per_sec.now().max(1.0)).min(1.0))
    }

    /// The batch [`gather`] waits for, given `have` reports: what the rate brings within
    /// [`COMMIT_WINDOW`], at most [`GATHER_UP_TO`] and `batch`; 0 for not waiting at all.
    fn batch_worth_waiting_for(&self, have: usize, batch: usize) -> usize {
        let want = self.expected(COMMIT_WINDOW).min(GATHER_UP_TO).min(batch);
        if have >= want || std::time::Instant::now() < self.no_wait_until {
            0
        } else {
            want
        }
    }
}

/// How busy the writer has been lately: the share of the last second or so it spent writing,
/// updated as work ends.
#[derive(Debug, Default)]
struct Load(Fading);

impl Load {
    /// Counts `busy` of work that has just ended.
    fn worked(&mut self, busy: std::time::Duration) {
        self.0.add(|since| busy.min(since).as_secs_f64());
    }

    /// The share now.
    fn busy(&self) -> f64 {
        self.0.now()
    }
}

fn path_of(db: &Db) -> String {
    db.sqlite_file()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// What a round wrote.
struct Wrote {
    /// Reports stored in their tables.
    stored: bool,
    /// Reports stored in the inbox.
    deferred: bool,
}

/// One batch of reports and the tasks that came with it, under the write gate; with `defer`,
/// the reports that may wait go to the inbox as one row. Returns what was written, or the
/// storage failure when there was one (the submitters have their answers either way).
fn one_round(
    conn: &mut Connection,
    db: &Db,
    policy: &Policy,
    jobs: Vec<super::Job>,
    tasks: Vec<super::Task>,
    defer: bool,
) -> Result<Wrote, DbError> {
    let timeout = db.write_timeout();
    let now = std::time::Instant::now();
    // Reports whose submitter has gone (or was already told 503) are not stored: nobody would
    // be told their tracking code.
    let (jobs, stale): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|(sub, done)| !done.is_closed() && sub.answer_by.is_none_or(|t| now < t));
    for (_, done) in stale {
        let _ = done.send(Err(Arc::new(DbError::Busy)));
    }
    let mut failure = None;
    conn.busy_timeout(timeout)?;
    let (mut waiting, mut jobs): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|(sub, _)| defer && inbox::deferrable(sub));
    let wrote = Wrote {
        stored: !jobs.is_empty(),
        deferred: !waiting.is_empty(),
    };
    if jobs.is_empty() && waiting.is_empty() {
        let _gate = db.write_guard_blocking();
        for task in tasks {
            task(conn);
        }
        return Ok(wrote);
    }
    // A request waits at most its write timeout; an import (no deadline of its own) keeps
    // trying for a while longer before its batch fails.
    let deadline = jobs
        .iter()
        .filter_map(|(s, _)| s.answer_by)
        .min()
        .unwrap_or(now + timeout * 10);
    let _gate = db.write_guard_blocking();
    if !waiting.is_empty() {
        let subs: Vec<&Submission> = waiting.iter().map(|(s, _)| s).collect();
        let result = write_until(conn, deadline, |conn| {
            in_transaction(conn, |txn| inbox::put(txn, &subs))
        })
        .map(|()| {
            subs.iter()
                .map(|s| Stored::pending(s.code.clone()))
                .collect()
        });
        // A row that fails for a reason of its own (not the disk) fails whole: its reports
        // are then stored one by one, as a failed batch's are.
        failure = failure.or(settle(conn, policy, &mut waiting, result, deadline));
    }
    if !jobs.is_empty() {
        let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
        let result = store_batch(conn, policy, &subs, deadline);
        failure = failure.or(settle(conn, policy, &mut jobs, result, deadline));
    }
    conn.busy_timeout(timeout)?;
    for task in tasks {
        task(conn);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // A task (the readiness probe, the outbox) may have met the failure alone.
    if TASK_FAILED.swap(false, Ordering::AcqRel) {
        return Err(DbError::Setup(
            "a write on the writer's thread failed".into(),
        ));
    }
    Ok(wrote)
}

/// Answers `jobs` with `result`; when one report may have failed the lot, stores them one by
/// one. Returns the failure of the storage itself, for the writer's log, when there was one.
fn settle(
    conn: &mut Connection,
    policy: &Policy,
    jobs: &mut Vec<super::Job>,
    result: Result<Vec<Stored>, DbError>,
    deadline: std::time::Instant,
) -> Option<DbError> {
    let failure = match &result {
        Err(e) if e.is_unavailable() => Some(copy_failure(e)),
        _ => None,
    };
    for (sub, done) in answer(jobs, result) {
        let r = store_batch(conn, policy, &[&sub], deadline);
        let _ = done.send(r.map(|mut v| v.remove(0)).map_err(Arc::new));
    }
    failure
}

/// The same failure again, for the log (the original went to the submitters).
fn copy_failure(e: &DbError) -> DbError {
    match e {
        DbError::Sqlite(rusqlite::Error::SqliteFailure(code, msg)) => {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        DbError::Busy => DbError::Busy,
        other => DbError::Setup(other.to_string()),
    }
}

/// Set when a task on the writer's thread met a storage failure, so that the writer reopens
/// its connection as it does when a batch of reports fails.
static TASK_FAILED: AtomicBool = AtomicBool::new(false);

/// Runs `f` in an IMMEDIATE transaction of its own on the writer's connection.
pub(crate) fn in_transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let r = in_transaction_once(conn, f);
    if let Err(e) = &r
        && matches!(e.failure(), crate::db::error::Failure::Storage)
    {
        TASK_FAILED.store(true, Ordering::Release);
    }
    r
}

fn in_transaction_once<R>(
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

/// Stores a batch, trying again when the file was busy, until `deadline` (the write timeout
/// of the batch's oldest report): with two processes on one file (`rectify import` beside
/// `serve`), SQLite answers some conflicts with BUSY at once instead of waiting in the busy
/// handler (while the other process restarts the WAL, for one). Past the deadline the batch is
/// answered [`DbError::Busy`].
fn store_batch(
    conn: &mut Connection,
    policy: &Policy,
    subs: &[&Submission],
    deadline: std::time::Instant,
) -> Result<Vec<Stored>, DbError> {
    write_until(conn, deadline, |conn| store_batch_once(conn, policy, subs))
}

/// Runs `write` until it is not answered BUSY or `deadline` passes (see [`store_batch`]).
fn write_until<R>(
    conn: &mut Connection,
    deadline: std::time::Instant,
    mut write: impl FnMut(&mut Connection) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let mut attempt = 0u64;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(DbError::Busy);
        }
        // The busy handler waits no longer than the time left.
        conn.busy_timeout(left)?;
        match write(conn) {
            Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                attempt += 1;
                std::thread::sleep(
                    std::time::Duration::from_millis(20 * attempt.min(10))
                        .min(deadline.saturating_duration_since(std::time::Instant::now())),
                );
            }
            other => return other,
        }
    }
}

fn store_batch_once(
    conn: &mut Connection,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    in_transaction(conn, |txn| store_in(txn, policy, subs))
}

/// Stores a batch in `txn`: its incidents, events, clocks, reports and mail.
pub(super) fn store_in(
    txn: &Transaction<'_>,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    let known = known_sources(txn, subs)?;
    let (to_store, slots) = dedupe(subs, &known);
    if to_store.is_empty() {
        return Ok(reassemble(subs, slots, Vec::new()));
    }
    let all = subs;
    let subs = to_store.as_slice();
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
    insert(txn, p.attachments)?;
    insert(txn, p.cases)?;
    insert(txn, p.sources)?;
    insert(txn, p.mails)?;
    Ok(reassemble(all, slots, p.stored))
}

/// The batch's discovery findings that are stored already.
fn known_sources(txn: &Transaction<'_>, subs: &[&Submission]) -> Result<KnownSources, DbError> {
    let mut known = KnownSources::new();
    for (tool, ids) in source_ids(subs) {
        let marks = vec!["?"; ids.len()].join(", ");
        let mut st = txn.prepare_cached(&format!(
            "SELECT s.source_id, s.report_id, r.incident_id FROM discovery_sources s \
             JOIN reports r ON r.id = s.report_id WHERE s.tool = ? AND s.source_id IN ({marks})"
        ))?;
        let params = std::iter::once(tool).chain(ids.iter().copied());
        let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (id, report, incident) = row?;
            known.insert((tool.to_owned(), id), (report, incident));
        }
    }
    Ok(known)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpointer_looks_sooner_the_faster_the_wal_nears_its_mark() {
        let ms = |frames, per_second| pause_before_next(frames, 50_000, per_second).as_millis();
        // Far from the mark, or not growing: the usual pause.
        assert_eq!(ms(10_000, 17_000.0), 200);
        assert_eq!(ms(49_000, 0.0), 200);
        // A flood's pace, 1,000 frames short: 29 ms to the mark, looked at half-way.
        assert_eq!(ms(49_000, 17_000.0), 29);
        // A flood's inbox being stored: 20,000 short is 200 ms away, looked at in 100.
        assert_eq!(ms(30_000, 100_000.0), 100);
        assert_eq!(ms(45_000, 100_000.0), 25);
        assert_eq!(ms(48_000, 100_000.0), 20);
        // At or past it: every 20 ms, until it starts over.
        assert_eq!(ms(50_000, 0.0), 20);
        assert_eq!(ms(60_000, 100_000.0), 20);
    }

    /// A WAL database in a temporary folder and a writer on it that never checkpoints itself:
    /// only the checkpointer's rounds copy, cut and restart.
    struct WalFile {
        rt: tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        db: Db,
        writer: Connection,
    }

    impl WalFile {
        fn new() -> WalFile {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}?mode=rwc", dir.path().join("t.db").display());
            let db = rt
                .block_on(Db::connect(&url, 2, std::time::Duration::from_secs(5)))
                .unwrap();
            let writer = open(&db).unwrap();
            writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
            writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
            WalFile {
                rt,
                dir,
                db,
                writer,
            }
        }

        /// Rows of about three quarters of a page each.
        fn write(&self, rows: usize) {
            for _ in 0..rows {
                self.writer
                    .execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                    .unwrap();
            }
        }

        fn wal_len(&self) -> u64 {
            std::fs::metadata(self.dir.path().join("t.db-wal"))
                .unwrap()
                .len()
        }
    }

    #[test]
    fn reports_wait_for_others_to_share_a_commit_only_when_many_come() {
        let mut arrivals = Arrivals::default();
        // A lone report, nothing else lately: written at once.
        arrivals.count(1);
        assert_eq!(arrivals.batch_worth_waiting_for(1, 64), 0);
        // 5,000 a second: 50 come within the window; it waits for 32, never more than a batch.
        arrivals.count(5_000);
        assert_eq!(arrivals.batch_worth_waiting_for(1, 64), GATHER_UP_TO);
        assert_eq!(arrivals.batch_worth_waiting_for(1, 4), 4);
        assert_eq!(arrivals.batch_worth_waiting_for(GATHER_UP_TO, 64), 0);

        // The waiting itself, with windows long enough that a busy machine cannot upset it.
        let waiter = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (tx, mut rx) = mpsc::channel::<Work>(64);
        let task = || Work::Task(Box::new(|_: &mut Connection| {}));
        let long = std::time::Duration::from_secs(60);
        let ms = std::time::Duration::from_millis;

        // Those already queued join at once, up to the batch waited for.
        for _ in 0..GATHER_UP_TO + 10 {
            assert!(tx.try_send(task()).is_ok());
        }
        let mut work = vec![task()];
        let t = std::time::Instant::now();
        gather(&waiter, &mut rx, &mut work, &mut arrivals, 64, (long, long));
        assert_eq!(work.len(), GATHER_UP_TO);
        assert!(t.elapsed() < long / 2, "{:?}", t.elapsed());

        // Those that come within the window join; the wait ends with the window...
        while rx.try_recv().is_ok() {}
        work.truncate(1);
        let send_after = |delays: Vec<u64>| {
            let tx = tx.clone();
            // A task on the writer's timer runtime: it runs while gather waits.
            waiter.spawn(async move {
                for d in delays {
                    tokio::time::sleep(ms(d)).await;
                    assert!(tx.send(task()).await.is_ok());
                }
            })
        };
        // One wait with these (window, gap), on the reports in `work`; how long it took.
        let mut wait = |work: &mut Vec<Work>, arrivals: &mut Arrivals, windows| {
            let t = std::time::Instant::now();
            gather(&waiter, &mut rx, work, arrivals, 64, windows);
            t.elapsed()
        };
        let _sender = send_after(vec![20]);
        let took = wait(&mut work, &mut arrivals, (ms(300), long));
        assert_eq!(
            work.len(),
            2,
            "the report that came within the window joined"
        );
        assert!(took >= ms(300) && took < long / 2, "{took:?}");
        // ...or once none has come for the gap: the clients have all sent theirs.
        work.truncate(1);
        let _sender = send_after(vec![20, 20]);
        let took = wait(&mut work, &mut arrivals, (long, ms(300)));
        assert_eq!(work.len(), 3);
        assert!(took >= ms(340) && took < long / 2, "{took:?}");

        // A wait that brings nobody (a client waiting for its answer before it sends the next
        // report) is not repeated for a while.
        work.truncate(1);
        assert!(
            arrivals.batch_worth_waiting_for(1, 64) > 1,
            "the rate still asks for a wait"
        );
        wait(&mut work, &mut arrivals, (ms(30), ms(30)));
        assert_eq!(work.len(), 1);
        assert_eq!(arrivals.batch_worth_waiting_for(1, 64), 0);

        // The gap: twice the mean between arrivals (2,000 a second: 1 ms).
        let mut arrivals = Arrivals::default();
        arrivals.count(2_000);
        let gap = arrivals.gap_to_give_up();
        assert!(gap > std::time::Duration::from_micros(900), "{gap:?}");
        assert!(gap < std::time::Duration::from_micros(1_010), "{gap:?}");
    }

    #[test]
    fn a_wal_that_readers_keep_from_restarting_is_started_over() {
        let f = WalFile::new();
        let (db, writer) = (&f.db, &f.writer);
        let write = |rows: usize| f.write(rows);
        let wal_len = || f.wal_len();
        let held = Arc::new(AtomicBool::new(false));
        let held_now = || held.load(Ordering::Relaxed);
        let mut c = Checkpointer::new(db.clone(), held.clone()).unwrap();
        let frames = |c: &Checkpointer| -> i64 {
            c.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap()
        };

        // A reader on an old snapshot of the WAL, neither a reader thread nor the pool's (a
        // command's connection, say): the restart waits for it briefly, holding intake, then
        // gives up.
        let reader = open(db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        write(100);
        let t = std::time::Instant::now();
        assert!(!c.round(u64::MAX, 50));
        let waited = t.elapsed();
        let under_gate =
            std::time::Duration::from_millis(RESTART_WAIT_UNDER_GATE_MS.unsigned_abs().into());
        assert!(waited >= under_gate && waited < RESTART_WAIT, "{waited:?}");
        assert!(
            frames(&c) >= 100,
            "not started over while the reader is on it"
        );
        assert!(held_now(), "the writer's own work waits meanwhile");
        // It backs off rather than hold intake up every round for the same reader.
        let t = std::time::Instant::now();
        c.round(u64::MAX, 50);
        assert!(t.elapsed() < RESTART_WAIT, "{:?}", t.elapsed());
        assert!(held_now(), "still past the mark and not started over");

        // Once the reader is done, the WAL is written again from its start: it stops growing.
        reader.execute_batch("COMMIT").unwrap();
        c.retry_restart_at = std::time::Instant::now();
        c.round(u64::MAX, 50);
        assert!(
            !held_now(),
            "free to be started over: the writer's work goes on"
        );
        let len = wal_len();
        write(10);
        assert!(frames(&c) < 50, "{} frames", frames(&c));
        assert_eq!(wal_len(), len);
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 110);
    }

    #[test]
    fn a_page_being_read_is_waited_for_without_holding_intake_back() {
        let f = WalFile::new();
        let db = &f.db;
        let held = Arc::new(AtomicBool::new(false));
        let mut c = Checkpointer::new(db.clone(), held.clone()).unwrap();
        f.write(10);
        // A staff page on a reader thread: it reads, then goes on for 200 ms more.
        let (reading, has_read) = std::sync::mpsc::channel();
        let page = f.rt.spawn({
            let db = db.clone();
            async move {
                db.on_reader(move |txn| {
                    let n: i64 = txn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
                    reading.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(n)
                })
                .await
            }
        });
        has_read.recv().unwrap();
        f.write(100);
        let (gate_waited, restart_took) = std::thread::scope(|s| {
            // Intake asks for the write gate while the restart waits for the page.
            let intake = s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let t = std::time::Instant::now();
                drop(db.write_guard_blocking());
                t.elapsed()
            });
            let t = std::time::Instant::now();
            c.round(u64::MAX, 50);
            (intake.join().unwrap(), t.elapsed())
        });
        assert!(
            gate_waited < std::time::Duration::from_millis(20),
            "intake waited {gate_waited:?} for the gate"
        );
        assert!(
            restart_took >= std::time::Duration::from_millis(100),
            "the page was waited for: {restart_took:?}"
        );
        assert!(!held.load(Ordering::Relaxed), "started over");
        let len = f.wal_len();
        f.write(10);
        assert_eq!(f.wal_len(), len, "written again from its start");
        let rows = f.rt.block_on(page).unwrap().unwrap().unwrap();
        assert_eq!(rows, 10, "the page read its own snapshot to the end");
    }

    #[test]
    fn a_quiet_wal_is_cut_back_and_a_busy_one_left() {
        let f = WalFile::new();
        let (db, writer) = (&f.db, &f.writer);
        let write = |rows: usize| f.write(rows);
        let wal_len = || f.wal_len();
        let mut c = Checkpointer::new(db.clone(), Default::default()).unwrap();

        write(100);
        assert!(wal_len() > 100 * 3000);
        assert!(
            !c.round(0, i64::MAX),
            "the first round cannot know intake is quiet"
        );
        write(10);
        assert!(
            !c.round(0, i64::MAX),
            "written since the last round: not quiet"
        );
        assert!(wal_len() > 0);
        assert!(
            c.round(0, i64::MAX),
            "nothing written since a round that copied everything"
        );
        assert_eq!(wal_len(), 0);

        // A reader on the WAL: the cut gives up at once (it holds the write gate meanwhile).
        write(20);
        let reader = open(db).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!(!c.round(0, i64::MAX));
        let t = std::time::Instant::now();
        assert!(!c.round(0, i64::MAX), "a reader holds the WAL");
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert!(wal_len() > 0);
        reader.execute_batch("COMMIT").unwrap();
        assert!(c.round(0, i64::MAX), "the reader is gone");
        assert_eq!(wal_len(), 0);

        write(1);
        assert!(!c.round(1 << 20, i64::MAX));
        assert!(
            !c.round(1 << 20, i64::MAX),
            "a WAL under the size kept is left alone"
        );
        assert!(wal_len() > 0);
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 131);
    }
}
