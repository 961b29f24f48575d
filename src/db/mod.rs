//! Storage: the connection (SQLite in WAL mode, or PostgreSQL), entities, and the queries the
//! application needs, grouped by what they serve.

pub mod appeals;
pub mod attachments;
pub mod audit;
pub mod board;
pub mod cases;
mod contains;
pub mod deadlines;
pub mod discovery;
pub mod entities;
pub mod error;
pub mod escalation;
pub mod export;
pub mod incident_page;
pub mod incidents;
pub mod intake;
pub mod list;
pub mod messages;
pub mod outbox;
mod raw;
mod readers;
pub mod retention;
pub mod search;
pub(crate) mod search_index;
pub mod search_queue;
mod sqlite_function;
mod staff_priority;
pub mod status;
pub mod storage;
pub mod tokens;
pub mod users;
pub mod verification;
pub mod workflow;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub use error::DbError;

/// How much of an SQLite file the intake writer maps into memory by default (256 MiB of address
/// space; the pages themselves are the OS's page cache). Pooled connections map nothing (see
/// `Db::connect_with`).
pub const MMAP_BYTES: u64 = 256 << 20;

/// The database and how to write to it safely.
#[derive(Clone)]
pub struct Db {
    pub conn: DatabaseConnection,
    /// SQLite allows one writer at a time and fails a deferred transaction that tries to upgrade
    /// while another commits; taking this gate before every write transaction turns that into an
    /// orderly queue. PostgreSQL needs no gate (rows are locked instead).
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: one connection that does every write. A connection's page cache goes cold
    /// whenever another connection has written, so writing through whichever pooled connection
    /// is free would re-read the pages each time; a single writer keeps its cache warm (intake
    /// measured 27% faster). PostgreSQL: the main pool.
    writer: DatabaseConnection,
    backend: DbBackend,
    /// SQLite: the database file, for the intake writer's own connection.
    sqlite_file: Option<Arc<std::path::Path>>,
    /// SQLite: the intake writer's queue once it runs (see [`Db::on_writer`]). Weak, so the
    /// writer still ends when the last intake handle is dropped.
    writer_thread: Arc<std::sync::OnceLock<tokio::sync::mpsc::WeakSender<intake::Work>>>,
    busy_timeout: Duration,
    /// How long a write waits for the gate and then for SQLite's lock before it gives up with
    /// [`DbError::Busy`] (the web answers 503).
    write_timeout: Duration,
    mmap_bytes: u64,
    /// SQLite: searches that may hold a pooled connection at once (half the pool; see
    /// `search::Matched`). Such a page still asks the pool for other connections meanwhile,
    /// and a pool held entirely by searches would leave none of them one.
    pub(crate) search_slots: Arc<tokio::sync::Semaphore>,
    /// The main pool's size.
    pool_size: u32,
    /// SQLite: the threads that answer a staff page at once (see [`Db::on_reader`]), started
    /// when the first page asks.
    readers: Arc<std::sync::OnceLock<readers::Readers>>,
    /// SQLite: holds the reader threads' pages back while the WAL is started over.
    pub(crate) read_pause: Arc<readers::ReadPause>,
    /// The database's URL as connected (TLS left off on loopback), for a pool of another
    /// runtime's own (see [`Db::with_own_writer`]).
    url: Arc<str>,
}

/// SQLite: how long the pool's writer connection waits for the file's lock. A request waits
/// no longer than its write timeout in all.
fn writer_busy_timeout(write_timeout: Duration, busy_timeout: Duration) -> Duration {
    write_timeout.min(busy_timeout)
}

impl Db {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        busy_timeout: Duration,
    ) -> Result<Db, DbError> {
        Db::connect_with(url, max_connections, busy_timeout, busy_timeout, MMAP_BYTES).await
    }

    /// [`Db::connect`], with writes giving up after `write_timeout` (`rectify serve`: a request
    /// is answered 503 rather than left waiting on another process's lock).
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        busy_timeout: Duration,
        write_timeout: Duration,
        mmap_bytes: u64,
    ) -> Result<Db, DbError> {
        let url = &loopback_without_tls(url);
        if let Some(path) = sqlite_path(url)
            && let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError::Setup(format!("cannot create {}: {e}", parent.display())))?;
        }
        let options = |max: u32, busy_timeout: Duration| {
            let mut opts = ConnectOptions::new(url.to_string());
            opts.max_connections(max)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false)
                // A ping before every checkout costs a round trip per transaction; a dead connection
                // shows up as an error on first use instead and the pool replaces it.
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(move |o| {
                    // WAL: readers never wait for the writer. synchronous=NORMAL in WAL mode keeps every
                    // committed transaction across a crash of the process (kill -9); only an OS crash or
                    // power loss can take the last commits back.
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(busy_timeout)
                        .foreign_keys(true)
                        .create_if_missing(true)
                        // No memory map: a pooled connection's page cache is emptied, and its
                        // map unmapped, at each read transaction after another connection wrote,
                        // which beside intake is every one; faulting the map in again and
                        // unmapping it cost more than reading the pages (`mixed` bench, search
                        // p95 114–137 ms, median 119, in five runs against 119–138, median 136,
                        // in nine with 256 MiB mapped). Only the intake writer maps the file
                        // (`database.mmap_mib`).
                        .pragma("mmap_size", "0")
                        // A search's table of matches (see `search::Matched`) and its rollback
                        // journal in memory, not in a temporary file.
                        .pragma("temp_store", "memory")
                })
                .map_sqlx_sqlite_pool_opts(|o| {
                    o.after_connect(|conn, _| {
                        Box::pin(async move {
                            let mut handle = conn.lock_handle().await?;
                            plan_once(handle.as_raw_handle().as_ptr());
                            contains::install(handle.as_raw_handle().as_ptr());
                            staff_priority::install(handle.as_raw_handle().as_ptr());
                            drop(handle);
                            sea_orm::sqlx::Executor::execute(&mut *conn, staff_priority::RAISE)
                                .await?;
                            let mut handle = conn.lock_handle().await?;
                            staff_priority::remove(handle.as_raw_handle().as_ptr());
                            drop(handle);
                            sea_orm::sqlx::Executor::execute(&mut *conn, search::MATCHES_TABLE)
                                .await?;
                            Ok(())
                        })
                    })
                });
            opts
        };
        if let Some(path) = sqlite_path(url) {
            storage::check_writable(std::path::Path::new(&path))?;
        }
        if sqlite_path(url).is_none() && url.starts_with("postgres") {
            probe_postgres(url).await?;
        }
        let conn = Database::connect(options(max_connections, busy_timeout))
            .await
            .map_err(|e| connect_error(url, e))?;
        let backend = conn.get_database_backend();
        let writer = if backend == DbBackend::Postgres {
            conn.clone()
        } else {
            Database::connect(options(1, writer_busy_timeout(write_timeout, busy_timeout)))
                .await
                .map_err(|e| connect_error(url, e))?
        };
        Ok(Db {
            conn,
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
            writer,
            backend,
            sqlite_file: sqlite_path(url).map(|p| Arc::from(std::path::Path::new(&p))),
            writer_thread: Arc::default(),
            busy_timeout,
            write_timeout,
            mmap_bytes,
            search_slots: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(max_connections / 2).unwrap_or(1).max(1),
            )),
            pool_size: max_connections,
            readers: Arc::default(),
            read_pause: Arc::default(),
            url: Arc::from(url.as_str()),
        })
    }

    /// Closes every connection and waits for them (SQLite: the last one to close checkpoints the
    /// WAL and removes the `-wal` and `-shm` files). Dropping a `Db` closes them in the
    /// background instead.
    pub async fn close(self) -> Result<(), DbError> {
        if self.backend != DbBackend::Postgres {
            self.writer.close().await?;
        }
        self.conn.close().await?;
        Ok(())
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        if self.is_postgres() {
            Migrator::up(&self.conn, None).await?;
            return Ok(());
        }
        // SQLite: on the writer's one connection, not the pool. Through the pool a migration's
        // statements could go to two connections, and one whose schema was read before the
        // other ran `DROP TRIGGER IF EXISTS report_search_ad` refused the `CREATE TRIGGER` after
        // it ("already exists": SQLite checks the name against the schema it holds, and does
        // not read it again for that error), once in a full test run. With the busy timeout of
        // commands, not the writer's shorter write timeout: another process may be migrating.
        let busy = |d: Duration| format!("PRAGMA busy_timeout = {}", d.as_millis());
        self.writer
            .execute_unprepared(&busy(self.busy_timeout))
            .await?;
        let migrated = Migrator::up(&self.writer, None).await;
        self.writer
            .execute_unprepared(&busy(writer_busy_timeout(
                self.write_timeout,
                self.busy_timeout,
            )))
            .await?;
        migrated?;
        self.read_schema_again().await
    }

    /// SQLite: every pooled connection open now reads the schema again. One that had opened
    /// while the migrations ran on another kept the schema it read then, and a statement that
    /// fired a trigger made since failed with "no such table: incidents" instead of being
    /// compiled again (after migration 000140: in 6 runs of 8 of a workspace test, which
    /// inserts right after migrating; the server's first reports could have done the same).
    pub(crate) async fn read_schema_again(&self) -> Result<(), DbError> {
        let failed =
            |e: sea_orm::sqlx::Error| DbError::Setup(format!("reading the schema again: {e}"));
        let pool = self.conn.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..pool.size() {
            let mut conn = pool.acquire().await.map_err(failed)?;
            sea_orm::sqlx::Executor::execute(&mut *conn, "SELECT count(*) FROM sqlite_master")
                .await
                .map_err(failed)?;
            // Held until every connection has read it, so each turn takes another.
            held.push(conn);
        }
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// SQLite: whether any pooled (reading) connection is in use now: staff pages, searches,
    /// the sweep. Intake does not read through the pool (its writer has its own connection).
    pub(crate) fn reading(&self) -> bool {
        if self.is_postgres() {
            return false;
        }
        let pool = self.conn.get_sqlite_connection_pool();
        usize::try_from(pool.size()).unwrap_or(0) > pool.num_idle()
    }

    /// The one way to write through sea-orm: the write gate (SQLite) and a transaction begun
    /// IMMEDIATE on the writer connection, taken together. IMMEDIATE takes SQLite's write lock
    /// at BEGIN, under the busy timeout; a deferred transaction that read first and wrote later
    /// would fail at once with a busy snapshot whenever another process (`rectify sweep` beside
    /// `serve`) committed in between. Commit with [`WriteTxn::commit`]; dropping it rolls back.
    pub async fn begin_write(&self) -> Result<WriteTxn, DbError> {
        let gate = if self.is_postgres() {
            None
        } else {
            Some(
                tokio::time::timeout(self.write_timeout, self.write_gate.clone().lock_owned())
                    .await
                    .map_err(|_| DbError::Busy)?,
            )
        };
        let txn = self
            .writer
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: (!self.is_postgres())
                    .then_some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        if self.is_postgres() {
            // Rows locked elsewhere: give up after the write timeout (503), do not hang.
            txn.execute_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SET LOCAL lock_timeout = {}",
                    self.write_timeout.as_millis().max(1)
                ),
            ))
            .await?;
        }
        Ok(WriteTxn { txn, _gate: gate })
    }

    /// Runs `f` in one write transaction ([`Db::begin_write`]) and commits when it returns
    /// `Ok`; an `Err` rolls everything back.
    pub async fn write<R, F>(&self, f: F) -> Result<R, DbError>
    where
        F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<R, DbError>> + Send + 'c>,
        >,
    {
        let txn = self.begin_write().await?;
        let r = f(&txn).await?;
        txn.commit().await?;
        Ok(r)
    }

    /// The gate for a writer on a thread of its own (blocks: never call it on the runtime).
    pub(crate) fn write_guard_blocking(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.is_postgres() {
            None
        } else {
            Some(self.write_gate.blocking_lock())
        }
    }

    /// Records the SQLite writer's queue (the first writer started stays the one used).
    pub(crate) fn set_writer(&self, queue: tokio::sync::mpsc::WeakSender<intake::Work>) {
        let _ = self.writer_thread.set(queue);
    }

    /// Runs `f` in a transaction of its own on the SQLite writer's thread, when that runs;
    /// `None` otherwise (PostgreSQL, or a command that started no intake writer). Writes that
    /// come often go this way: through the pool they would hold the write gate while waiting
    /// for hops between threads, and every report queued behind the gate would wait too.
    /// Never call it holding a [`WriteTxn`]: the writer takes the gate for each task.
    pub(crate) async fn on_writer<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, DbError> + Send + 'static,
    ) -> Option<Result<R, DbError>> {
        let queue = self.writer_thread.get()?.upgrade()?;
        let (done, wait) = tokio::sync::oneshot::channel();
        let task: intake::Task = Box::new(move |conn| {
            let _ = done.send(intake::in_transaction(conn, f));
        });
        let stopped = || DbError::WriterDown;
        if queue.send(intake::Work::Task(task)).await.is_err() {
            return Some(Err(stopped()));
        }
        Some(wait.await.unwrap_or_else(|_| Err(stopped())))
    }

    /// SQLite: stores now the reports of the intake inbox's row holding tracking code `code`,
    /// if one waits there (see [`intake::inbox`]): whether one held it (its reports are then
    /// stored, by this call or by the writer just before). A reporter's status page asks
    /// before it says a code is unknown.
    pub async fn open_from_inbox(&self, code: &str) -> Result<bool, DbError> {
        if self.is_postgres() {
            return Ok(false);
        }
        let Some(row) = intake::inbox::row_holding(self, code).await? else {
            return Ok(false);
        };
        let Some(queue) = self.writer_thread.get().and_then(|w| w.upgrade()) else {
            return Ok(false);
        };
        let (done, wait) = tokio::sync::oneshot::channel();
        if queue.send(intake::Work::Inbox(row, done)).await.is_err() {
            return Err(DbError::WriterDown);
        }
        wait.await.unwrap_or(Err(DbError::WriterDown))?;
        Ok(true)
    }

    /// Brings the staff search's index up to date now. On SQLite the intake writer indexes new
    /// rows when no report waits (see [`search_index`]); this is for rows written around it in
    /// bulk (benchmarks' seeding). PostgreSQL's indexes are always up to date.
    pub async fn index_search_now(&self) -> Result<(), DbError> {
        if self.is_postgres() {
            return Ok(());
        }
        while let Some(more) = self.on_writer(|txn| search_index::step(txn, 1024)).await {
            if !more? {
                break;
            }
        }
        Ok(())
    }

    /// Runs one write statement: on the SQLite writer's thread when it runs, otherwise through
    /// the pool under the write gate. Returns how many rows it changed.
    pub async fn write_statement(&self, s: sea_orm::Statement) -> Result<u64, DbError> {
        if !self.is_postgres() {
            let s = s.clone();
            if let Some(r) = self.on_writer(move |txn| raw::execute(txn, &s)).await {
                return r.map(|n| n as u64);
            }
        }
        self.write(|txn| Box::pin(async move { Ok(txn.execute_raw(s).await?.rows_affected()) }))
            .await
    }

    /// SQLite: the database file (`None` in memory or on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// How much of the SQLite file the intake writer maps (`PRAGMA mmap_size`).
    pub fn mmap_bytes(&self) -> u64 {
        self.mmap_bytes
    }

    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// How many connections the main pool holds at most.
    pub fn pool_size(&self) -> u32 {
        self.pool_size
    }

    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }

    /// The connection writes go through; only [`Db::begin_write`] writes on it (and tests that
    /// set rows up before anything else runs).
    pub(crate) fn write_conn(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// PostgreSQL: this database with `connections` of its own for writes, their I/O driven by
    /// the runtime that calls this (the intake writers' thread; see `intake::postgres`). A
    /// statement on them waits for a lock at most the write timeout, set once as the
    /// connections open instead of in each transaction (a round trip per batch).
    pub(crate) async fn with_own_writer(&self, connections: u32) -> Result<Db, DbError> {
        let lock_timeout = self.write_timeout().as_millis().max(1).to_string();
        let mut opts = ConnectOptions::new(self.url.to_string());
        opts.max_connections(connections)
            .min_connections(connections)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            .test_before_acquire(false)
            .map_sqlx_postgres_opts(move |o| o.options([("lock_timeout", lock_timeout.as_str())]));
        let writer = Database::connect(opts)
            .await
            .map_err(|e| connect_error(&self.url, e))?;
        Ok(Db {
            writer,
            ..self.clone()
        })
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        self.conn.ping().await?;
        Ok(())
    }
}

/// A write transaction holding the write gate; see [`Db::begin_write`]. Derefs to the
/// transaction for queries. The transaction is declared first so that it is dropped (rolled
/// back) before the gate opens for the next writer.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbError> {
        self.txn.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        self.txn.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// One connection straight to the server before the pool is built, so that an unreachable or
/// refusing server is reported at once with its cause (the pool would say only "timed out",
/// after its own timeout, for each of its connections).
/// A PostgreSQL URL on this machine's loopback that names no `sslmode` gets
/// `sslmode=disable`. The driver's default (`prefer`) wraps the loopback connection in TLS,
/// which protects nothing there, and measured: intake through TLS on 127.0.0.1 spent about
/// 100 ms per batch waiting (283 reports/s); without it, 1,766 reports/s on the same run. A URL
/// that says `sslmode` keeps it.
fn loopback_without_tls(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if !matches!(u.scheme(), "postgres" | "postgresql")
        || u.query_pairs().any(|(k, _)| k == "sslmode")
    {
        return url.to_owned();
    }
    let loopback = match u.host() {
        // `postgres:` is not a scheme the URL standard knows, so its host stays text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback())
        }
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    if loopback {
        u.query_pairs_mut().append_pair("sslmode", "disable");
        return u.to_string();
    }
    url.to_owned()
}

async fn probe_postgres(url: &str) -> Result<(), DbError> {
    use sea_orm::sqlx::Connection;
    let limit = Duration::from_secs(10);
    match tokio::time::timeout(limit, sea_orm::sqlx::PgConnection::connect(url)).await {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(connect_error(
            url,
            sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(e))),
        )),
        Err(_) => Err(connect_error(
            url,
            sea_orm::DbErr::Custom(format!(
                "no answer within {} s (is the server running, and the host and port right?)",
                limit.as_secs()
            )),
        )),
    }
}

/// A connection that failed, said so that an operator can act: which host or file, and why.
fn connect_error(url: &str, e: sea_orm::DbErr) -> DbError {
    let cause = match &e {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(x)) => x.to_string(),
        other => other.to_string(),
    };
    let place = match sqlite_path(url) {
        Some(path) => format!("the SQLite database {path}"),
        None => match url::Url::parse(url) {
            Ok(u) => format!(
                "the database server at {}:{} (database {:?})",
                u.host_str().unwrap_or("?"),
                u.port_or_known_default().unwrap_or(5432),
                u.path().trim_start_matches('/')
            ),
            Err(_) => "the database".into(),
        },
    };
    DbError::Setup(format!("cannot open {place}: {cause}"))
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

/// Makes SQLite plan each of the connection's statements once, whatever values are bound to it
/// later (the query planner stability guarantee). Without it a statement with `LIKE ?` (every
/// staff search) was compiled again at each run, and where `ANALYZE` had left samples so was
/// every statement whose plan a bound value could change: the compiling was 16% of the staff
/// readers' CPU and 6% of the intake writer's under the `mixed` bench, which analyzes.
pub(crate) fn plan_once(raw: *mut rusqlite::ffi::sqlite3) {
    // SAFETY: `raw` is an open connection that the caller holds exclusively (sqlx's locked
    // handle); the call sets one flag and writes nothing through the null pointer. (The intake
    // writer's rusqlite connection sets the same flag through rusqlite's own `set_db_config`.)
    unsafe {
        rusqlite::ffi::sqlite3_db_config(
            raw,
            rusqlite::ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::os::raw::c_int,
            std::ptr::null_mut::<std::os::raw::c_int>(),
        );
    }
}

#[cfg(test)]
mod tests {
    /// A database in a file of its own (pooled connections share it), with `pool` connections;
    /// the directory goes when the returned guard does.
    pub(crate) async fn file_db(pool: u32) -> (tempfile::TempDir, super::Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("t.db").display());
        let db = super::Db::connect(&url, pool, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        (dir, db)
    }

    /// Runs `f` on a pooled connection through rusqlite, for what sqlx does not offer.
    pub(crate) async fn on_pooled<T>(
        db: &super::Db,
        f: impl FnOnce(&rusqlite::Connection) -> T,
    ) -> T {
        let mut pooled = db
            .conn
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .unwrap();
        let mut handle = pooled.lock_handle().await.unwrap();
        // SAFETY: the handle stays locked, so open and ours alone, while this borrows it; a
        // connection made from a handle does not close it when dropped.
        let conn =
            unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }.unwrap();
        f(&conn)
    }

    /// A search's statement (`LIKE ?`) run with one word and then another is not compiled again
    /// on a pooled connection.
    #[tokio::test]
    async fn a_pooled_statement_is_planned_once_whatever_is_bound() {
        let (_dir, db) = file_db(2).await;
        db.migrate().await.unwrap();
        on_pooled(&db, |conn| {
            let mut stmt = conn
                .prepare("SELECT count(*) FROM incidents WHERE title LIKE ? ESCAPE '\\'")
                .unwrap();
            // The first run may compile it again for another reason: a connection that opened
            // while the migrations ran on another has read the schema before they changed it.
            let n: i64 = stmt.query_row(["%隐私%"], |r| r.get(0)).unwrap();
            assert_eq!(n, 0);
            stmt.reset_status(rusqlite::StatementStatus::RePrepare);
            for word in ["%privacy%", "%毒品%"] {
                let n: i64 = stmt.query_row([word], |r| r.get(0)).unwrap();
                assert_eq!(n, 0);
            }
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "compiled again for a new word"
            );
        })
        .await;
    }

    /// The calling thread's nice value.
    fn nice_here() -> i32 {
        // SAFETY: plain system calls about the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    /// Answers the nice value of the thread that runs the statement.
    unsafe extern "C" fn thread_nice(
        ctx: *mut rusqlite::ffi::sqlite3_context,
        _argc: std::os::raw::c_int,
        _argv: *mut *mut rusqlite::ffi::sqlite3_value,
    ) {
        // SAFETY: `ctx` is the context SQLite passed to this call.
        unsafe { rusqlite::ffi::sqlite3_result_int(ctx, nice_here()) };
    }

    /// What a thread that asks for `nice` gets in this process (CAP_SYS_NICE or not).
    fn granted(nice: i32) -> i32 {
        std::thread::spawn(move || {
            crate::nice::set_this_thread(nice);
            nice_here()
        })
        .join()
        .unwrap()
    }

    /// Staff pages' connections run ahead of the intake writer under a flood: each pooled
    /// connection's thread, and the staff writer's, has the raised priority (as far as the
    /// process may raise it), and the function that raised it is gone again.
    #[tokio::test]
    async fn pooled_connections_run_at_the_staff_priority() {
        let (_dir, db) = file_db(3).await;
        let expected = granted(super::staff_priority::NICE);
        // SAFETY: a plain system call.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(
                expected,
                super::staff_priority::NICE,
                "root may raise a thread"
            );
        }
        let pool = db.conn.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(pool.acquire().await.unwrap());
        }
        held.push(
            db.writer
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .unwrap(),
        );
        for conn in &mut held {
            let mut handle = conn.lock_handle().await.unwrap();
            super::sqlite_function::define(
                handle.as_raw_handle().as_ptr(),
                c"thread_nice",
                0,
                0,
                Some(thread_nice),
            );
            drop(handle);
            let nice: i32 = sea_orm::sqlx::query_scalar("SELECT thread_nice()")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(nice, expected, "a pooled connection's thread");
            let gone = sea_orm::sqlx::query(super::staff_priority::RAISE)
                .execute(&mut **conn)
                .await;
            assert!(gone.is_err(), "the raising function is still callable");
        }
    }

    /// The bundled SQLite is built without its process-wide page-cache lock and allocation
    /// counter (`.cargo/config.toml`): with them every page the writer, the checkpointer and
    /// the staff reads touch took the same two locks.
    #[tokio::test]
    async fn sqlite_is_built_without_the_process_wide_locks() {
        use sea_orm::ConnectionTrait;
        let db = super::Db::connect("sqlite::memory:", 1, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let options: Vec<String> = db
            .conn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA compile_options",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect();
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            super::sqlite_path("sqlite:./data/rectify.db?mode=rwc").as_deref(),
            Some("./data/rectify.db")
        );
        assert_eq!(
            super::sqlite_path("sqlite:///tmp/x.db").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
        assert_eq!(super::sqlite_path("postgres://x"), None);
    }

    #[test]
    fn loopback_postgres_goes_without_tls_unless_the_url_says() {
        use super::loopback_without_tls as f;
        assert_eq!(
            f("postgres://postgres@127.0.0.1:5432/db"),
            "postgres://postgres@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            f("postgres://u@localhost/db?application_name=x"),
            "postgres://u@localhost/db?application_name=x&sslmode=disable"
        );
        assert_eq!(
            f("postgres://u@127.0.0.1/db?sslmode=require"),
            "postgres://u@127.0.0.1/db?sslmode=require"
        );
        assert_eq!(
            f("postgres://u@db.example/db"),
            "postgres://u@db.example/db"
        );
        assert_eq!(f("sqlite://data/rectify.db"), "sqlite://data/rectify.db");
    }
}
