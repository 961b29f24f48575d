//! A staffer's own column ("mine") read in deadline order from an index, whatever the
//! statistics say.
//!
//! The board's filter by assignee asks each state's incidents of one person, nearest deadline
//! first, 50 at a time. The index on `(assignee_id, state)` found them but not in that order,
//! so without planner statistics (a Rectify database had none: nothing ran ANALYZE) SQLite
//! walked the state's `(state, next_due_at)` index instead, reading every incident to look at
//! its assignee until 50 were that person's: the whole state, where the person had fewer.
//! `assignee=mine` took 31 ms p50 at 100,000 open incidents (`board` bench; the bench ran a
//! full ANALYZE, which let the planner fetch and sort the person's incidents, and measured
//! 7 ms). With the deadline as the index's third column the column reads its 50 entries and
//! stops: 4-7 ms, with statistics or without. The index is replaced, not added: intake writes
//! no more B-tree entries per incident than before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "DROP INDEX IF EXISTS incidents_assignee; \
                 CREATE INDEX incidents_assignee ON incidents (assignee_id, state, next_due_at);",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "DROP INDEX IF EXISTS incidents_assignee; \
                 CREATE INDEX incidents_assignee ON incidents (assignee_id, state);",
            )
            .await?;
        Ok(())
    }
}
