//! SQLite: threads of our own that answer a whole staff page at once, each with a read-only
//! connection of its own, at the staff priority.
//!
//! Through the pool every query of a page is a trip between the runtime and a connection's
//! thread, and every answer waits for the runtime, where, beside a flood, intake's requests
//! queue ahead of it: the board's dozen queries waited a dozen times (and a column's rows came
//! back fifty at a time). Here a page's statements run one after another on one thread, in one
//! read transaction, and the page waits once. PostgreSQL has no such threads (its queries are a
//! round trip to the server whichever way they are asked).

use std::sync::{Arc, Mutex, mpsc};

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
        let path = db
            .sqlite_file()
            .ok_or_else(|| DbError::Setup("no SQLite database file to read".into()))?
            .to_path_buf();
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..THREADS {
            let conn = open(&path, db.busy_timeout())?;
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("rectify-reader-{i}"))
                .spawn(move || run(conn, &jobs))
                .map_err(|e| DbError::Setup(format!("cannot start a reader thread: {e}")))?;
        }
        Ok(Readers { queue })
    }
}

fn run(mut conn: Connection, jobs: &Mutex<mpsc::Receiver<Job>>) {
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
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
            }
            Err(_) => return,
        }
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
