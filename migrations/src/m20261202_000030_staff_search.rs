//! Full-text search for the staff search box, kept in step by the database itself (triggers
//! fire inside the transaction that writes a report or a comment).
//!
//! SQLite: FTS5 tables with the trigram tokenizer (`title_search` over incident titles, (Chinese has no spaces between words, so
//! words are matched as substrings of three characters or more), `report_search` over the
//! reports' output, prompt, description, model and model version; `comment_search` over comment
//! events. Both are external-content tables: the text lives once, in its own table.
//!
//! PostgreSQL: pg_trgm GIN indexes serve the same `ILIKE '%…%'` queries. Where the extension
//! cannot be created (no privilege), search still works, by scanning.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
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
    // The list view sorted by last change.
    "CREATE INDEX IF NOT EXISTS incidents_last_event_at ON incidents (last_event_at)",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS incidents_last_event_at",
    "DROP TRIGGER IF EXISTS title_search_au",
    "DROP TRIGGER IF EXISTS title_search_ad",
    "DROP TRIGGER IF EXISTS title_search_ai",
    "DROP TABLE IF EXISTS title_search",
    "DROP TRIGGER IF EXISTS comment_search_ad",
    "DROP TRIGGER IF EXISTS comment_search_ai",
    "DROP TABLE IF EXISTS comment_search",
    "DROP TRIGGER IF EXISTS report_search_au",
    "DROP TRIGGER IF EXISTS report_search_ad",
    "DROP TRIGGER IF EXISTS report_search_ai",
    "DROP TABLE IF EXISTS report_search",
];

const POSTGRES_UP: &str = r#"
DO $$
BEGIN
  BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm not available: staff search scans';
    RETURN;
  END;
  CREATE INDEX IF NOT EXISTS reports_output_trgm ON reports USING gin (output gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS reports_prompt_trgm ON reports USING gin (prompt gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS reports_description_trgm ON reports USING gin (description gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS reports_model_trgm ON reports USING gin (model gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS reports_model_version_trgm ON reports USING gin (model_version gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS incidents_title_trgm ON incidents USING gin (title gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS incidents_last_event_at ON incidents (last_event_at);
  CREATE INDEX IF NOT EXISTS comments_trgm ON incident_events USING gin (data gin_trgm_ops) WHERE action = 'comment';
END
$$;
"#;

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS incidents_last_event_at",
    "DROP INDEX IF EXISTS comments_trgm",
    "DROP INDEX IF EXISTS incidents_title_trgm",
    "DROP INDEX IF EXISTS reports_model_version_trgm",
    "DROP INDEX IF EXISTS reports_model_trgm",
    "DROP INDEX IF EXISTS reports_description_trgm",
    "DROP INDEX IF EXISTS reports_prompt_trgm",
    "DROP INDEX IF EXISTS reports_output_trgm",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match db.get_database_backend() {
            DbBackend::Sqlite => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_UP).await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let stmts = match db.get_database_backend() {
            DbBackend::Sqlite => SQLITE_DOWN,
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => &[],
        };
        for sql in stmts {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
