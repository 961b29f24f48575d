//! Short words and reporter emails in the staff search, through indexes instead of scans.
//!
//! SQLite: the trigram tables cannot match a word of one or two characters (隐私, 毒品: most
//! Chinese words are two characters), so such a search read every report. Each indexed text now
//! ends in a newline, so every occurrence of a two-character word, the last two characters of a
//! text included, begins some trigram of the index; `fts5vocab` tables list the index's trigrams,
//! so the search finds the trigrams that begin with the word by a range on the term and matches
//! those. The triggers' 'delete' must pass exactly the values indexed, so they add the same
//! newline.
//!
//! Both databases: an index on the lower-cased reporter email, so a search by email is a lookup.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const DROP_TRIGGERS: &[&str] = &[
    "DROP TRIGGER IF EXISTS report_search_ai",
    "DROP TRIGGER IF EXISTS report_search_ad",
    "DROP TRIGGER IF EXISTS report_search_au",
    "DROP TRIGGER IF EXISTS comment_search_ai",
    "DROP TRIGGER IF EXISTS comment_search_ad",
    "DROP TRIGGER IF EXISTS title_search_ai",
    "DROP TRIGGER IF EXISTS title_search_ad",
    "DROP TRIGGER IF EXISTS title_search_au",
];

/// The triggers and the rebuild, with `e` the expression wrapped around each indexed column
/// (`{}` stands for the column).
fn sqlite_index(e: &str) -> Vec<String> {
    let w = |col: &str| e.replace("{}", col);
    let rep = |p: &str| {
        ["output", "prompt", "description", "model", "model_version"]
            .iter()
            .map(|c| w(&format!("{p}.{c}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        format!(
            "CREATE TRIGGER report_search_ai AFTER INSERT ON reports BEGIN \
             INSERT INTO report_search(rowid, output, prompt, description, model, model_version) \
             VALUES (new.id, {}); END",
            rep("new")
        ),
        format!(
            "CREATE TRIGGER report_search_ad AFTER DELETE ON reports BEGIN \
             INSERT INTO report_search(report_search, rowid, output, prompt, description, model, model_version) \
             VALUES ('delete', old.id, {}); END",
            rep("old")
        ),
        format!(
            "CREATE TRIGGER report_search_au AFTER UPDATE OF output, prompt, description, model, model_version ON reports BEGIN \
             INSERT INTO report_search(report_search, rowid, output, prompt, description, model, model_version) \
             VALUES ('delete', old.id, {}); \
             INSERT INTO report_search(rowid, output, prompt, description, model, model_version) \
             VALUES (new.id, {}); END",
            rep("old"),
            rep("new")
        ),
        format!(
            "CREATE TRIGGER comment_search_ai AFTER INSERT ON incident_events WHEN new.action = 'comment' BEGIN \
             INSERT INTO comment_search(rowid, data) VALUES (new.id, {}); END",
            w("new.data")
        ),
        format!(
            "CREATE TRIGGER comment_search_ad AFTER DELETE ON incident_events WHEN old.action = 'comment' BEGIN \
             INSERT INTO comment_search(comment_search, rowid, data) VALUES ('delete', old.id, {}); END",
            w("old.data")
        ),
        format!(
            "CREATE TRIGGER title_search_ai AFTER INSERT ON incidents BEGIN \
             INSERT INTO title_search(rowid, title) VALUES (new.id, {}); END",
            w("new.title")
        ),
        format!(
            "CREATE TRIGGER title_search_ad AFTER DELETE ON incidents BEGIN \
             INSERT INTO title_search(title_search, rowid, title) VALUES ('delete', old.id, {}); END",
            w("old.title")
        ),
        format!(
            "CREATE TRIGGER title_search_au AFTER UPDATE OF title ON incidents BEGIN \
             INSERT INTO title_search(title_search, rowid, title) VALUES ('delete', old.id, {}); \
             INSERT INTO title_search(rowid, title) VALUES (new.id, {}); END",
            w("old.title"),
            w("new.title")
        ),
        "INSERT INTO report_search(report_search) VALUES ('delete-all')".into(),
        format!(
            "INSERT INTO report_search(rowid, output, prompt, description, model, model_version) \
             SELECT id, {} FROM reports",
            rep("reports")
        ),
        "INSERT INTO comment_search(comment_search) VALUES ('delete-all')".into(),
        format!(
            "INSERT INTO comment_search(rowid, data) SELECT id, {} FROM incident_events WHERE action = 'comment'",
            w("incident_events.data")
        ),
        "INSERT INTO title_search(title_search) VALUES ('delete-all')".into(),
        format!(
            "INSERT INTO title_search(rowid, title) SELECT id, {} FROM incidents",
            w("incidents.title")
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS reports_reporter_email_lower ON reports (lower(reporter_email))",
        )
        .await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            for sql in DROP_TRIGGERS {
                db.execute_unprepared(sql).await?;
            }
            for sql in sqlite_index("{} || char(10)") {
                db.execute_unprepared(&sql).await?;
            }
            for (vocab, table) in [
                ("report_search_terms", "report_search"),
                ("comment_search_terms", "comment_search"),
                ("title_search_terms", "title_search"),
            ] {
                db.execute_unprepared(&format!(
                    "CREATE VIRTUAL TABLE {vocab} USING fts5vocab({table}, 'row')"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Sqlite {
            for vocab in [
                "report_search_terms",
                "comment_search_terms",
                "title_search_terms",
            ] {
                db.execute_unprepared(&format!("DROP TABLE IF EXISTS {vocab}"))
                    .await?;
            }
            for sql in DROP_TRIGGERS {
                db.execute_unprepared(sql).await?;
            }
            for sql in sqlite_index("{}") {
                db.execute_unprepared(&sql).await?;
            }
        }
        db.execute_unprepared("DROP INDEX IF EXISTS reports_reporter_email_lower")
            .await?;
        Ok(())
    }
}
