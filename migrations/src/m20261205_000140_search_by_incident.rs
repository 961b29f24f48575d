//! SQLite: the reports' search index keyed by incident, so a search needs no lookup of each
//! matching report's incident.
//!
//! A staff search wants incidents. Keyed by report id, a word found in 18,000 reports meant
//! 18,000 lookups of a report's incident through the `(id, incident_id)` index (`mixed` bench,
//! `隐私`: 4.4 ms of the 8.3 ms the reports took, and under intake each of those index pages
//! is read again after every commit). Each indexed report's row in `report_search` now has the
//! key `(incident_id << 32) + (id & 0xFFFFFFFF)`: the incident is `rowid >> 32`, and the index
//! lists a word's reports in incident order. That index is dropped: nothing else read it, and
//! intake no longer writes an entry to it for every report.
//!
//! The key holds an incident id below 2^31 and tells apart the reports of one incident unless
//! two of its ids differ by a multiple of 2^32. A report moved to another incident (a merge)
//! gets the new incident's key by trigger, as an edit of its texts does.
//!
//! The rows indexed under the old keys are dropped and the mark set back to 0: the intake
//! writer indexes every report again when it has time to spare (`db::search_index`, some
//! 160 µs a report; about three minutes of quiet for a million reports), and until it has a
//! search says how many reports it does not cover, as after a flood.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const REPORT_COLUMNS: &str = "output, prompt, description, model, model_version";

/// A report's key in `report_search` (the application's `db::search_index` writes the same).
fn key(row: &str) -> String {
    format!("(({row}incident_id << 32) + ({row}id & 4294967295))")
}

fn ended(prefix: &str) -> String {
    REPORT_COLUMNS
        .split(", ")
        .map(|c| format!("{prefix}{c} || char(10)"))
        .collect::<Vec<_>>()
        .join(", ")
}

const GUARD: &str = " WHEN old.id <= (SELECT indexed_to FROM search_marks WHERE tbl = 'reports')";

fn triggers(key: &dyn Fn(&str) -> String, moves: bool) -> Vec<String> {
    let of = if moves {
        format!("{REPORT_COLUMNS}, incident_id")
    } else {
        REPORT_COLUMNS.to_owned()
    };
    vec![
        "DROP TRIGGER IF EXISTS report_search_ad".into(),
        "DROP TRIGGER IF EXISTS report_search_au".into(),
        format!(
            "CREATE TRIGGER report_search_ad AFTER DELETE ON reports{GUARD} BEGIN \
             DELETE FROM report_search WHERE rowid = {}; END",
            key("old.")
        ),
        format!(
            "CREATE TRIGGER report_search_au AFTER UPDATE OF {of} ON reports{GUARD} BEGIN \
             DELETE FROM report_search WHERE rowid = {}; \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES ({}, {}); END",
            key("old."),
            key("new."),
            ended("new.")
        ),
    ]
}

fn start_over() -> Vec<String> {
    vec![
        "INSERT INTO report_search (report_search) VALUES ('delete-all')".into(),
        "UPDATE search_marks SET indexed_to = 0 WHERE tbl = 'reports'".into(),
    ]
}

/// The statements as one script on one connection. Run one by one through the pool, a
/// `CREATE TRIGGER` on a connection that had read the schema before the `DROP` on another
/// failed ("already exists": SQLite checks the name against the schema it holds). Each
/// statement drops or makes what it names whether or not a run before got that far.
async fn run(db: &SchemaManagerConnection<'_>, statements: &[String]) -> Result<(), DbErr> {
    db.execute_unprepared(&statements.join(";\n")).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let mut v = triggers(&key, true);
        v.extend(start_over());
        v.push("DROP INDEX IF EXISTS reports_id_incident".into());
        run(db, &v).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let mut v = triggers(&|row: &str| format!("{row}id"), false);
        v.extend(start_over());
        v.push(
            "CREATE INDEX IF NOT EXISTS reports_id_incident ON reports (id, incident_id)".into(),
        );
        run(db, &v).await
    }
}
