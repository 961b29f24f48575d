//! The query planner's statistics on SQLite, gathered by the server itself.
//!
//! Without them SQLite's planner guesses that every index narrows to a handful of rows, and
//! nothing ever ran ANALYZE on a Rectify database; the benchmarks did, after seeding, so they
//! measured plans that production never had (the board's `assignee=mine` at 7 ms in the
//! `board` bench, 31 ms without statistics; see migration 000130 for that one). Now `serve`
//! runs SQLite's own recommendation, `PRAGMA optimize`, at start and every hour, and the
//! benchmarks call the same function after seeding instead of their own ANALYZE.
//!
//! `PRAGMA optimize` analyses a table only when it has never been analysed or has grown or
//! shrunk tenfold since, reading at most 2,000 entries of each index, so on a large database
//! it costs milliseconds. It gathers `sqlite_stat1` only (row counts per key), not the
//! `sqlite_stat4` samples a full ANALYZE adds: with samples, every statement whose plan could
//! depend on a bound value is compiled again each time it runs with a new one (16% of the
//! staff pages' SQLite time in the `board` and `mixed` benches, with no better plan to show
//! for it once the assignee index was fixed). PostgreSQL gathers its own (autovacuum).

use std::time::Duration;

use super::{Db, DbError};

/// How often `serve` looks again: statistics taken while a new database was small mislead the
/// planner until the table has grown tenfold and is analysed again, so the look is frequent
/// (it costs nothing where no table needs it).
pub const EVERY: Duration = Duration::from_secs(60 * 60);

/// Brings the statistics up to date where the tables changed enough to need it.
pub async fn refresh(db: &Db) -> Result<(), DbError> {
    if db.is_postgres() {
        return Ok(());
    }
    // 0x10002: analyse where needed (0x02), looking at every table, not only those this
    // connection has queried (0x10000): the writer's connection queries few of them.
    let sql = "PRAGMA optimize = 0x10002";
    db.write_statement(sea_orm::Statement::from_string(db.backend(), sql))
        .await?;
    Ok(())
}

/// `serve`'s task: at start (tables new or grown since the last run) and every [`EVERY`].
pub async fn keep(db: Db) {
    loop {
        if let Err(e) = refresh(&db).await {
            tracing::warn!(error = %e, "refreshing the query planner's statistics failed; retried later");
        }
        tokio::time::sleep(EVERY).await;
    }
}
