//! SQLite: threads of our own that answer a whole staff page at once, each with a read-only
//! connection of its own, at the staff priority.
//!
//! Through the pool every query of a page is a trip between the runtime and a connection's
//! thread, and every answer waits for the runtime, where, beside a flood, intake's requests
//! queue ahead of it: the board's dozen queries waited a dozen times (and a column's rows came
//! back fifty at a time). Here a page's statements run one after another on one thread, in one
//! read transaction, and the page waits once. PostgreSQL has no such threads (its queries are a
//! round trip to the server whichever way they are asked).

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use rusqlite::Connection;

use super::{Db, DbError};

/// A page's work: runs on a reader thread with its connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// How many reader threads answer staff pages at once (one per core of the machine this was
/// measured on; more pages at once wait in the queue).
const THREADS: usize = 2;

/// The reader threads' queue. The threads end when the last `Db` holding it is dropped.
pub(crate) struct Readers {
    queue: mpsc::Sender<Job>,
}

impl Readers {
    /// Starts the threads, each with its own connection to `db`'s file.
    fn start(db: &Db) -> Result<Readers, DbError> {
        let pause = db.read_pause.clone();
        let path = db
            .sqlite_file()
            .ok_or_else(|| DbError::Setup("no SQLite database file to read".into()))?
            .to_path_buf();
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..THREADS {
            let conn = open(&path, db.busy_timeout())?;
            let (jobs, pause) = (jobs.clone(), pause.clone());
            std::thread::Builder::new()
                .name(format!("rectify-reader-{i}"))
                .spawn(move || run(conn, &jobs, &pause))
                .map_err(|e| DbError::Setup(format!("cannot start a reader thread: {e}")))?;
        }
        Ok(Readers { queue })
    }
}

fn run(mut conn: Connection, jobs: &Mutex<mpsc::Receiver<Job>>, pause: &ReadPause) {
    crate::nice::set_this_thread(super::staff_priority::NICE);
    loop {
        // The lock is held only while waiting for the next job; the job runs without it.
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        match job {
            // A page that panics is answered as an error (its answer's sender is dropped) and
            // the thread goes on to the next.
            Ok(job) => {
                let _reading = pause.enter();
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
            }
            Err(_) => return,
        }
    }
}

/// Lets the WAL's restart (see `intake::sqlite`) wait for the reader threads' pages instead of
/// holding intake back while they finish. A restart must wait until no read that began before
/// it is still on the WAL, and it waited holding the write gate: intake's acknowledgements
/// stopped as long as the longest page in progress (a restart held intake 182 ms beside the
/// `mixed` bench's board and search, 2,000 reports waiting for their answers). Paused, the
/// threads start no page; the restart waits for those in progress without the gate, then
/// takes it only for the copy and the restart itself. A page asked meanwhile waits that long.
#[derive(Default)]
pub(crate) struct ReadPause {
    state: Mutex<PauseState>,
    changed: Condvar,
}

#[derive(Default)]
struct PauseState {
    /// Pages being read now.
    reading: usize,
    paused: bool,
}

/// The longest a page waits for a pause to end: the pause ends well before (the restart's own
/// wait is bounded), this only keeps a page from waiting on a pauser that went away.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

impl ReadPause {
    /// A reader thread about to read a page: waits while paused, then counts the page as
    /// reading until the guard is dropped.
    fn enter(&self) -> Reading<'_> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, LONGEST_PAUSE, |s| s.paused)
            .unwrap_or_else(|e| e.into_inner());
        state.reading += 1;
        Reading(self)
    }

    /// Stops pages from starting and waits up to `wait` for those being read to end. `None`
    /// (and pages start again) when they outlast it; otherwise pages start again when the
    /// guard is dropped.
    pub(crate) fn pause(&self, wait: Duration) -> Option<Paused<'_>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.paused = true;
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| s.reading > 0)
            .unwrap_or_else(|e| e.into_inner());
        if state.reading > 0 {
            state.paused = false;
            drop(state);
            self.changed.notify_all();
            return None;
        }
        Some(Paused(self))
    }

    fn update(&self, f: impl FnOnce(&mut PauseState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changed.notify_all();
    }
}

/// A page being read (see [`ReadPause::enter`]).
struct Reading<'a>(&'a ReadPause);

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.reading -= 1);
    }
}

/// Pages held from starting (see [`ReadPause::pause`]).
pub(crate) struct Paused<'a>(&'a ReadPause);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.paused = false);
    }
}

/// A connection set as the pool's are (see `Db::connect_with`), read-only.
fn open(path: &std::path::Path, busy_timeout: std::time::Duration) -> Result<Connection, DbError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| DbError::Setup(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(busy_timeout)?;
    // No memory map, as for the pool's connections (see `Db::connect_with`).
    conn.pragma_update(None, "mmap_size", 0)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // What a search reads with: its table of matches (in memory, the connection's own, which a
    // read-only connection may write), and the byte search for texts not indexed yet.
    conn.pragma_update(None, "temp_store", "memory")?;
    conn.execute_batch(super::search::MATCHES_TABLE)?;
    // SAFETY: the handle is this open connection's, used on this thread only.
    super::contains::install(unsafe { conn.handle() });
    Ok(conn)
}

impl Db {
    /// SQLite: runs `f` on a reader thread in one read transaction (one snapshot for all it
    /// reads) and answers what it returns; `None` on PostgreSQL or in memory (no file to open
    /// beside the pool), where the caller asks through the pool instead.
    pub(crate) async fn on_reader<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, DbError> + Send + 'static,
    ) -> Option<Result<R, DbError>> {
        if self.is_postgres() || self.sqlite_file().is_none() {
            return None;
        }
        let readers = match self.readers.get() {
            Some(r) => r,
            None => match Readers::start(self) {
                // Two pages starting them at once: one set of threads is kept, the other's
                // end as its queue is dropped.
                Ok(r) => self.readers.get_or_init(|| r),
                Err(e) => return Some(Err(e)),
            },
        };
        let (done, wait) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let answer = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
                .map_err(DbError::from)
                .and_then(|txn| f(&txn));
            let _ = done.send(answer);
        });
        if readers.queue.send(job).is_err() {
            return Some(Err(DbError::Setup("the reader threads stopped".into())));
        }
        Some(
            wait.await
                .unwrap_or_else(|_| Err(DbError::Setup("a reader thread stopped".into()))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_pause_waits_for_the_pages_being_read_and_holds_new_ones_until_it_ends() {
        let pause = ReadPause::default();
        let page = pause.enter();
        std::thread::scope(|s| {
            // The page ends 100 ms from now; the pause waits for it.
            s.spawn(|| {
                std::thread::sleep(100 * MS);
                drop(page);
            });
            let t = Instant::now();
            let paused = pause.pause(Duration::from_secs(5)).expect("the page ended");
            assert!(t.elapsed() >= 90 * MS, "{:?}", t.elapsed());

            // A page asked now waits until the pause is over.
            let next = s.spawn(|| {
                let t = Instant::now();
                let _page = pause.enter();
                t.elapsed()
            });
            std::thread::sleep(100 * MS);
            drop(paused);
            let waited = next.join().unwrap();
            assert!(waited >= 90 * MS, "{waited:?}");
            assert!(waited < LONGEST_PAUSE, "{waited:?}");
        });
    }

    #[test]
    fn a_page_that_outlasts_the_wait_is_left_to_read_and_others_go_on() {
        let pause = ReadPause::default();
        let _long = pause.enter();
        let t = Instant::now();
        assert!(pause.pause(50 * MS).is_none());
        assert!(t.elapsed() >= 50 * MS, "{:?}", t.elapsed());
        // Not paused any more: the next page starts at once.
        let t = Instant::now();
        let _page = pause.enter();
        assert!(t.elapsed() < 20 * MS, "{:?}", t.elapsed());
    }
}
