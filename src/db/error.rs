//! The storage layer's one error type.

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The SQLite intake writer's own connection (see `intake::sqlite`).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database set-up: {0}")]
    Setup(String),
    /// Someone else changed the incident since it was read.
    #[error("the incident was changed by someone else meanwhile; reload and try again")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The write could not get the database within `database.write_timeout_ms` (another
    /// writer, perhaps another process, held it); nothing was written.
    #[error("the database was busy for longer than the write timeout; nothing was written")]
    Busy,
    /// The SQLite writer thread is not running (it stopped, or is being restarted).
    #[error("the database writer is not running")]
    WriterDown,
}

/// What a failed database call means for the one who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Locked, busy, out of connections: try again shortly (503 with Retry-After).
    Busy,
    /// The storage itself fails (read-only file, disk full, I/O error): also 503, and an
    /// operator must look.
    Storage,
    /// A constraint refused the row (unknown user, duplicate): the input's fault (422).
    Constraint,
    Other,
}

impl DbError {
    pub fn failure(&self) -> Failure {
        match self {
            DbError::Db(e) => sea_failure(e),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                sqlite_failure(e.extended_code)
            }
            DbError::Busy | DbError::WriterDown => Failure::Busy,
            _ => Failure::Other,
        }
    }

    /// Whether the answer is "try again shortly" (503) rather than a fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.failure(), Failure::Busy | Failure::Storage)
    }
}

/// SQLite result codes (primary code in the low byte): see sqlite.org/rescode.html.
fn sqlite_failure(code: i32) -> Failure {
    match code & 0xff {
        5 | 6 => Failure::Busy,                    // BUSY, LOCKED
        8 | 10 | 13 | 14 | 26 => Failure::Storage, // READONLY, IOERR, FULL, CANTOPEN, NOTADB
        19 => Failure::Constraint,
        _ => Failure::Other,
    }
}

fn sea_failure(e: &sea_orm::DbErr) -> Failure {
    use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};
    if matches!(
        e.sql_err(),
        Some(SqlErr::UniqueConstraintViolation(_) | SqlErr::ForeignKeyConstraintViolation(_))
    ) {
        return Failure::Constraint;
    }
    match e {
        DbErr::ConnectionAcquire(_) => Failure::Busy,
        DbErr::Conn(RuntimeErr::SqlxError(x))
        | DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x)) => match &**x {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Failure::Busy,
            sqlx::Error::Io(_) => Failure::Storage,
            sqlx::Error::Database(d) => {
                if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                    && let Some(code) = d.code().and_then(|c| c.parse::<i32>().ok())
                {
                    return sqlite_failure(code);
                }
                match d.code().as_deref() {
                    // PostgreSQL: lock_not_available, serialization/deadlock, too many connections,
                    // cannot connect now, read-only transaction, disk full, I/O error.
                    Some("55P03" | "40001" | "40P01" | "53300" | "57P03") => Failure::Busy,
                    Some("25006" | "53100" | "58030") => Failure::Storage,
                    Some(c) if c.starts_with("23") => Failure::Constraint,
                    _ => Failure::Other,
                }
            }
            _ => Failure::Other,
        },
        _ => Failure::Other,
    }
}

impl<E: std::error::Error> From<sea_orm::TransactionError<E>> for DbError
where
    DbError: From<E>,
{
    fn from(e: sea_orm::TransactionError<E>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e) => DbError::Db(e),
            sea_orm::TransactionError::Transaction(e) => DbError::from(e),
        }
    }
}
