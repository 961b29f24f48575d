//! SQLite: intake's inbox. Under a flood the intake writer stores each batch of reports as one
//! row here, acknowledges them, and opens their incidents from it once it has time
//! (`db::intake::inbox`).
//!
//! Storing a distinct report costs the writer some 25 B-tree inserts (an incident and its
//! indexes, its event, three clocks, the report, a regression case): 150–250 µs on this
//! 2-core machine, on the one thread that holds SQLite's write lock. A batch as one row is one
//! append: the same reports were taken at 17,800–19,000 a second instead of 5,300–6,900
//! (`intake` bench, the write only). Nothing else refers to a row; a row is deleted in the
//! transaction that stores its reports, so each is stored once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        if conn.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        conn.execute_unprepared(
            "CREATE TABLE intake_inbox (id INTEGER PRIMARY KEY, reports BLOB NOT NULL)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        if conn.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        conn.execute_unprepared("DROP TABLE IF EXISTS intake_inbox")
            .await?;
        Ok(())
    }
}
