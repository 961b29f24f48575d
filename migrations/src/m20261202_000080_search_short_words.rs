//! The staff search's SQLite index, made for short words and kept off the intake path; and
//! reporter emails found through an index on both databases.
//!
//! Short words: a trigram table cannot match a word of one or two characters (隐私, 毒品: most
//! Chinese words are two characters), so such a search read every report. Each indexed text now
//! ends in a newline, so every occurrence of a two-character word, the last two characters of a
//! text included, begins some trigram of the index; `fts5vocab` tables (`*_terms`) list the
//! index's trigrams in order, so the search finds those that begin with the word by a range on
//! the term and matches them.
//!
//! The tables are contentless (`content=''`, `contentless_delete=1`, SQLite 3.43+): they hold
//! only the index, a row is removed by its id, and what they index (with the newline) need not
//! equal a column of another table, which an external-content table's integrity check and
//! 'rebuild' would assume.
//!
//! Off the intake path: indexing a report's texts in trigrams cost about 160 µs of CPU per
//! report (268 characters of Chinese output), more than the rest of storing it, on the one
//! writer every report waits for. New reports and new incidents' titles are indexed by that
//! writer when no report waits (`search_marks` holds how far: the application's
//! `db::search_index`); the search reads the few rows beyond the marks directly, so it finds
//! every report as soon as it is stored. The triggers apply edits and erasures to rows already
//! indexed (guarded by the marks), inside the transaction that makes them. Comments, rare and
//! short, stay indexed by their trigger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const REPORT_COLUMNS: &str = "output, prompt, description, model, model_version";

fn guard(row: &str, mark: &str) -> String {
    format!(" WHEN {row}.id <= (SELECT indexed_to FROM search_marks WHERE tbl = '{mark}')")
}

/// `prefix.column || char(10)` for each column.
fn ended(prefix: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{prefix}{c} || char(10)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sqlite_up() -> Vec<String> {
    let mut v: Vec<String> = DROP_OLD.iter().map(|s| (*s).to_owned()).collect();
    v.extend([
        format!(
            "CREATE VIRTUAL TABLE report_search USING fts5({REPORT_COLUMNS}, content='', contentless_delete=1, tokenize='trigram')"
        ),
        "CREATE VIRTUAL TABLE comment_search USING fts5(data, content='', contentless_delete=1, tokenize='trigram')".into(),
        "CREATE VIRTUAL TABLE title_search USING fts5(title, content='', contentless_delete=1, tokenize='trigram')".into(),
        "CREATE VIRTUAL TABLE report_search_terms USING fts5vocab(report_search, 'row')".into(),
        "CREATE VIRTUAL TABLE comment_search_terms USING fts5vocab(comment_search, 'row')".into(),
        "CREATE VIRTUAL TABLE title_search_terms USING fts5vocab(title_search, 'row')".into(),
        "CREATE TABLE search_marks (tbl TEXT PRIMARY KEY NOT NULL, indexed_to INTEGER NOT NULL)".into(),
        // A word found in 30,000 reports means 30,000 lookups of a report's incident; through
        // the table each reads a page of report texts, through this index a few small pages.
        "CREATE INDEX reports_id_incident ON reports (id, incident_id)".into(),
        // Everything there is now is indexed here.
        "INSERT INTO search_marks (tbl, indexed_to) VALUES \
         ('reports', (SELECT COALESCE(MAX(id), 0) FROM reports)), \
         ('incidents', (SELECT COALESCE(MAX(id), 0) FROM incidents))"
            .into(),
        format!(
            "INSERT INTO report_search (rowid, {REPORT_COLUMNS}) SELECT id, {} FROM reports",
            ended("", REPORT_COLUMNS)
        ),
        "INSERT INTO comment_search (rowid, data) SELECT id, data || char(10) FROM incident_events WHERE action = 'comment'".into(),
        "INSERT INTO title_search (rowid, title) SELECT id, title || char(10) FROM incidents".into(),
        format!(
            "CREATE TRIGGER report_search_ai AFTER INSERT ON reports{} BEGIN \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            guard("new", "reports"),
            ended("new.", REPORT_COLUMNS)
        ),
        format!(
            "CREATE TRIGGER report_search_ad AFTER DELETE ON reports{} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; END",
            guard("old", "reports")
        ),
        format!(
            "CREATE TRIGGER report_search_au AFTER UPDATE OF {REPORT_COLUMNS} ON reports{} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            guard("old", "reports"),
            ended("new.", REPORT_COLUMNS)
        ),
        "CREATE TRIGGER comment_search_ai AFTER INSERT ON incident_events WHEN new.action = 'comment' BEGIN \
         INSERT INTO comment_search (rowid, data) VALUES (new.id, new.data || char(10)); END"
            .into(),
        "CREATE TRIGGER comment_search_ad AFTER DELETE ON incident_events WHEN old.action = 'comment' BEGIN \
         DELETE FROM comment_search WHERE rowid = old.id; END"
            .into(),
        format!(
            "CREATE TRIGGER title_search_ai AFTER INSERT ON incidents{} BEGIN \
             INSERT INTO title_search (rowid, title) VALUES (new.id, new.title || char(10)); END",
            guard("new", "incidents")
        ),
        format!(
            "CREATE TRIGGER title_search_ad AFTER DELETE ON incidents{} BEGIN \
             DELETE FROM title_search WHERE rowid = old.id; END",
            guard("old", "incidents")
        ),
        format!(
            "CREATE TRIGGER title_search_au AFTER UPDATE OF title ON incidents{} BEGIN \
             DELETE FROM title_search WHERE rowid = old.id; \
             INSERT INTO title_search (rowid, title) VALUES (new.id, new.title || char(10)); END",
            guard("old", "incidents")
        ),
    ]);
    v
}

/// What migration 000030 made (and `down` makes again).
const DROP_OLD: &[&str] = &[
    "DROP TRIGGER IF EXISTS report_search_ai",
    "DROP TRIGGER IF EXISTS report_search_ad",
    "DROP TRIGGER IF EXISTS report_search_au",
    "DROP TRIGGER IF EXISTS comment_search_ai",
    "DROP TRIGGER IF EXISTS comment_search_ad",
    "DROP TRIGGER IF EXISTS title_search_ai",
    "DROP TRIGGER IF EXISTS title_search_ad",
    "DROP TRIGGER IF EXISTS title_search_au",
    "DROP TABLE IF EXISTS report_search",
    "DROP TABLE IF EXISTS comment_search",
    "DROP TABLE IF EXISTS title_search",
];

/// Migration 000030's tables and triggers again.
const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS reports_id_incident",
    "DROP TABLE IF EXISTS report_search_terms",
    "DROP TABLE IF EXISTS comment_search_terms",
    "DROP TABLE IF EXISTS title_search_terms",
    "DROP TABLE IF EXISTS search_marks",
    "DROP TRIGGER IF EXISTS report_search_ai",
    "DROP TRIGGER IF EXISTS report_search_ad",
    "DROP TRIGGER IF EXISTS report_search_au",
    "DROP TRIGGER IF EXISTS comment_search_ai",
    "DROP TRIGGER IF EXISTS comment_search_ad",
    "DROP TRIGGER IF EXISTS title_search_ai",
    "DROP TRIGGER IF EXISTS title_search_ad",
    "DROP TRIGGER IF EXISTS title_search_au",
    "DROP TABLE IF EXISTS report_search",
    "DROP TABLE IF EXISTS comment_search",
    "DROP TABLE IF EXISTS title_search",
    "CREATE VIRTUAL TABLE report_search USING fts5(output, prompt, description, model, model_version, content='reports', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER report_search_ai AFTER INSERT ON reports BEGIN \
       INSERT INTO report_search(rowid, output, prompt, description, model, model_version) \
       VALUES (new.id, new.output, new.prompt, new.description, new.model, new.model_version); END",
    "CREATE TRIGGER report_search_ad AFTER DELETE ON reports BEGIN \
       INSERT INTO report_search(report_search, rowid, output, prompt, description, model, model_version) \
       VALUES ('delete', old.id, old.output, old.prompt, old.description, old.model, old.model_version); END",
    "CREATE TRIGGER report_search_au AFTER UPDATE OF output, prompt, description, model, model_version ON reports BEGIN \
       INSERT INTO report_search(report_search, rowid, output, prompt, description, model, model_version) \
       VALUES ('delete', old.id, old.output, old.prompt, old.description, old.model, old.model_version); \
       INSERT INTO report_search(rowid, output, prompt, description, model, model_version) \
       VALUES (new.id, new.output, new.prompt, new.description, new.model, new.model_version); END",
    "INSERT INTO report_search(report_search) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE comment_search USING fts5(data, content='incident_events', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER comment_search_ai AFTER INSERT ON incident_events WHEN new.action = 'comment' BEGIN \
       INSERT INTO comment_search(rowid, data) VALUES (new.id, new.data); END",
    "CREATE TRIGGER comment_search_ad AFTER DELETE ON incident_events WHEN old.action = 'comment' BEGIN \
       INSERT INTO comment_search(comment_search, rowid, data) VALUES ('delete', old.id, old.data); END",
    "INSERT INTO comment_search(rowid, data) SELECT id, data FROM incident_events WHERE action = 'comment'",
    "CREATE VIRTUAL TABLE title_search USING fts5(title, content='incidents', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER title_search_ai AFTER INSERT ON incidents BEGIN \
       INSERT INTO title_search(rowid, title) VALUES (new.id, new.title); END",
    "CREATE TRIGGER title_search_ad AFTER DELETE ON incidents BEGIN \
       INSERT INTO title_search(title_search, rowid, title) VALUES ('delete', old.id, old.title); END",
    "CREATE TRIGGER title_search_au AFTER UPDATE OF title ON incidents BEGIN \
       INSERT INTO title_search(title_search, rowid, title) VALUES ('delete', old.id, old.title); \
       INSERT INTO title_search(rowid, title) VALUES (new.id, new.title); END",
    "INSERT INTO title_search(title_search) VALUES ('rebuild')",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            // Partial: most reports give no address, and each row indexed is work for intake.
            "CREATE INDEX IF NOT EXISTS reports_reporter_email_lower ON reports (lower(reporter_email)) \
             WHERE reporter_email IS NOT NULL",
        )
        .await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            for sql in sqlite_up() {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Sqlite {
            for sql in SQLITE_DOWN {
                db.execute_unprepared(sql).await?;
            }
        }
        db.execute_unprepared("DROP INDEX IF EXISTS reports_reporter_email_lower")
            .await?;
        Ok(())
    }
}
