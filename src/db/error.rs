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
