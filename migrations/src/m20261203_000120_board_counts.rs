//! The board without delay at scale: how many incidents each state holds, kept as incidents
//! change (SQLite), and the event lookups that read every event without an index.
//!
//! A board at 100,000 open incidents counted each column by reading its index entries: six
//! counts, 7 ms of the board's 15 alone and four times that beside a flood (`mixed` bench).
//! On SQLite the counts are now kept in `incident_state_counts` by triggers on `incidents`,
//! so every writer (intake, workflow actions, merges, retention) keeps them without knowing;
//! a board without filters reads six rows. The cost on the write path is one keyed update of
//! a ten-row table per incident created or moved. PostgreSQL counts as before: its writers
//! store batches side by side, and a shared counter row would make each wait for the other's
//! commit.
//!
//! The board's "open appeals" notice and an incident page's "split from" line looked for
//! their event by its action, through every event there is (an `open` event per incident at
//! least): 0.6 ms on an empty log, 36 ms beside a flood that had written 40,000. Partial
//! indexes hold only those events, so intake's events never enter them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &str = "
CREATE TABLE IF NOT EXISTS incident_state_counts (
    state TEXT NOT NULL PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;
DELETE FROM incident_state_counts;
INSERT INTO incident_state_counts (state, n) SELECT state, count(*) FROM incidents GROUP BY state;
CREATE TRIGGER IF NOT EXISTS incident_state_counts_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incident_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS incident_state_counts_move AFTER UPDATE OF state ON incidents
    WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE incident_state_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO incident_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS incident_state_counts_delete AFTER DELETE ON incidents BEGIN
    UPDATE incident_state_counts SET n = n - 1 WHERE state = OLD.state;
END;
";

const SQLITE_DOWN: &str = "
DROP TRIGGER IF EXISTS incident_state_counts_insert;
DROP TRIGGER IF EXISTS incident_state_counts_move;
DROP TRIGGER IF EXISTS incident_state_counts_delete;
DROP TABLE IF EXISTS incident_state_counts;
";

const BOTH_UP: &str = "
CREATE INDEX IF NOT EXISTS incident_events_appeal ON incident_events (incident_id, seq)
    WHERE action = 'appeal';
CREATE INDEX IF NOT EXISTS incident_events_split_out ON incident_events (incident_id)
    WHERE action = 'split_out';
";

const BOTH_DOWN: &str = "
DROP INDEX IF EXISTS incident_events_appeal;
DROP INDEX IF EXISTS incident_events_split_out;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(BOTH_UP).await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(SQLITE_UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(SQLITE_DOWN).await?;
        }
        db.execute_unprepared(BOTH_DOWN).await?;
        Ok(())
    }
}
