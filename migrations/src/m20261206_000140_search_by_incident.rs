//! SQLite: the staff search's index holds each incident's title and the texts of the report
//! that opened it in one row keyed by the incident (`incident_search`); `report_search` keeps
//! only the reports that joined an incident later (one in ten in a flood).
//!
//! A search resolves words to incidents. Keyed by report, each of the 18,000 reports a common
//! word matched at 100,000 incidents was looked up for its incident (a B-tree seek each), and
//! the titles' 5,600 matches were merged in after them: filling the search's table of matches
//! for `隐私` took 11.5 ms. Keyed by incident, the index gives the incidents themselves, in
//! order, and the table takes them as appends: 5.0 ms (`mixed` bench's database, statement
//! alone). The thirteenth session keyed every report by `(incident_id << 32) + id` and doubled
//! the index (postings are delta-coded by key); incident ids are dense, so these keys stay one
//! or two bytes apart.
//!
//! Which report's texts an incident's row holds is `incidents.search_report_id`, chosen when the
//! writer indexes the incident (`db::search_index`: the lowest of its reports not yet indexed,
//! normally the one intake stored with it). The triggers keep the two tables right when a
//! report is edited, erased, deleted or moved to another incident (merge, split) and when a
//! title is edited, guarded by the marks of migration 000080 as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const REPORT_COLUMNS: &str = "output, prompt, description, model, model_version";

fn mark(table: &str) -> String {
    format!("(SELECT indexed_to FROM search_marks WHERE tbl = '{table}')")
}

/// `prefix.column || char(10)` for each column (the newline lets a two-character word begin a
/// trigram at a text's end; migration 000080).
fn ended(prefix: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{prefix}{c} || char(10)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement that writes incident `id`'s row (its title and its keyed report's texts), for
/// the indexing step and the triggers alike. A report's texts are NULL where it has none, and
/// FTS5 indexes nothing for NULL.
fn incident_row(id: &str) -> String {
    format!(
        "INSERT INTO incident_search (rowid, title, {REPORT_COLUMNS}) \
         SELECT i.id, i.title || char(10), {} FROM incidents AS i \
         LEFT JOIN reports AS r ON r.id = i.search_report_id WHERE {id}",
        ended("r.", REPORT_COLUMNS)
    )
}

/// Whether report `row` (`old` or `new`) is the one whose texts its incident's row holds.
fn keyed(row: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM incidents WHERE id = {row}.incident_id AND search_report_id = {row}.id)"
    )
}

fn sqlite_up() -> Vec<String> {
    let rm = mark("reports");
    let im = mark("incidents");
    vec![
        "DROP TRIGGER IF EXISTS report_search_ai".into(),
        "DROP TRIGGER IF EXISTS report_search_ad".into(),
        "DROP TRIGGER IF EXISTS report_search_au".into(),
        "DROP TRIGGER IF EXISTS title_search_ai".into(),
        "DROP TRIGGER IF EXISTS title_search_ad".into(),
        "DROP TRIGGER IF EXISTS title_search_au".into(),
        "DROP TABLE IF EXISTS title_search_terms".into(),
        "DROP TABLE IF EXISTS title_search".into(),
        "DROP TABLE IF EXISTS report_search_terms".into(),
        "DROP TABLE IF EXISTS report_search".into(),
        "ALTER TABLE incidents ADD COLUMN search_report_id INTEGER".into(),
        format!(
            "CREATE VIRTUAL TABLE incident_search USING fts5(title, {REPORT_COLUMNS}, content='', contentless_delete=1, tokenize='trigram')"
        ),
        "CREATE VIRTUAL TABLE incident_search_terms USING fts5vocab(incident_search, 'row')".into(),
        format!(
            "CREATE VIRTUAL TABLE report_search USING fts5({REPORT_COLUMNS}, content='', contentless_delete=1, tokenize='trigram')"
        ),
        "CREATE VIRTUAL TABLE report_search_terms USING fts5vocab(report_search, 'row')".into(),
        // What was indexed is indexed again the new way: each indexed incident with its lowest
        // report, the other indexed reports by themselves.
        format!(
            "UPDATE incidents SET search_report_id = \
             (SELECT MIN(id) FROM reports WHERE incident_id = incidents.id) WHERE id <= {im}"
        ),
        incident_row(&format!("i.id <= {im}")),
        format!(
            "INSERT INTO report_search (rowid, {REPORT_COLUMNS}) SELECT r.id, {} FROM reports AS r \
             WHERE r.id <= {rm} AND NOT {}",
            ended("r.", REPORT_COLUMNS),
            keyed("r")
        ),
        // Reports. One inserted below the mark (none is, in practice) is indexed at once.
        format!(
            "CREATE TRIGGER report_search_ai AFTER INSERT ON reports WHEN new.id <= {rm} BEGIN \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            ended("new.", REPORT_COLUMNS)
        ),
        format!(
            "CREATE TRIGGER report_search_ad AFTER DELETE ON reports \
             WHEN old.id <= {rm} AND NOT {} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; END",
            keyed("old")
        ),
        format!(
            "CREATE TRIGGER report_search_au AFTER UPDATE OF {REPORT_COLUMNS} ON reports \
             WHEN old.id <= {rm} AND NOT {} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            keyed("old"),
            ended("new.", REPORT_COLUMNS)
        ),
        // The keyed report: its incident's row is written again.
        format!(
            "CREATE TRIGGER incident_search_report_ad AFTER DELETE ON reports WHEN {} BEGIN \
             UPDATE incidents SET search_report_id = NULL WHERE id = old.incident_id; \
             DELETE FROM incident_search WHERE rowid = old.incident_id; \
             {}; END",
            keyed("old"),
            incident_row("i.id = old.incident_id")
        ),
        format!(
            "CREATE TRIGGER incident_search_report_au AFTER UPDATE OF {REPORT_COLUMNS} ON reports \
             WHEN {} BEGIN \
             DELETE FROM incident_search WHERE rowid = old.incident_id; \
             {}; END",
            keyed("old"),
            incident_row("i.id = old.incident_id")
        ),
        // Moved to another incident (a merge, a split): the keyed report leaves its incident's
        // row and is indexed by itself, as a report that joined the other (if indexed yet); any
        // other report's row is keyed by the report and stays as it is.
        format!(
            "CREATE TRIGGER incident_search_report_moved AFTER UPDATE OF incident_id ON reports \
             WHEN old.incident_id IS NOT new.incident_id AND {} BEGIN \
             UPDATE incidents SET search_report_id = NULL WHERE id = old.incident_id; \
             DELETE FROM incident_search WHERE rowid = old.incident_id; \
             {}; \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) \
             SELECT new.id, {} WHERE new.id <= {rm}; END",
            keyed("old"),
            incident_row("i.id = old.incident_id"),
            ended("new.", REPORT_COLUMNS)
        ),
        // Incidents.
        format!(
            "CREATE TRIGGER incident_search_ai AFTER INSERT ON incidents WHEN new.id <= {im} BEGIN \
             {}; END",
            incident_row("i.id = new.id")
        ),
        format!(
            "CREATE TRIGGER incident_search_ad AFTER DELETE ON incidents WHEN old.id <= {im} BEGIN \
             DELETE FROM incident_search WHERE rowid = old.id; END"
        ),
        format!(
            "CREATE TRIGGER incident_search_au AFTER UPDATE OF title ON incidents WHEN old.id <= {im} BEGIN \
             DELETE FROM incident_search WHERE rowid = old.id; \
             {}; END",
            incident_row("i.id = new.id")
        ),
    ]
}

/// Migration 000080's report and title tables and triggers again.
fn sqlite_down() -> Vec<String> {
    let rm = mark("reports");
    let im = mark("incidents");
    vec![
        "DROP TRIGGER IF EXISTS report_search_ai".into(),
        "DROP TRIGGER IF EXISTS report_search_ad".into(),
        "DROP TRIGGER IF EXISTS report_search_au".into(),
        "DROP TRIGGER IF EXISTS incident_search_report_ad".into(),
        "DROP TRIGGER IF EXISTS incident_search_report_au".into(),
        "DROP TRIGGER IF EXISTS incident_search_report_moved".into(),
        "DROP TRIGGER IF EXISTS incident_search_ai".into(),
        "DROP TRIGGER IF EXISTS incident_search_ad".into(),
        "DROP TRIGGER IF EXISTS incident_search_au".into(),
        "DROP TABLE IF EXISTS incident_search_terms".into(),
        "DROP TABLE IF EXISTS incident_search".into(),
        "DROP TABLE IF EXISTS report_search_terms".into(),
        "DROP TABLE IF EXISTS report_search".into(),
        "ALTER TABLE incidents DROP COLUMN search_report_id".into(),
        format!(
            "CREATE VIRTUAL TABLE report_search USING fts5({REPORT_COLUMNS}, content='', contentless_delete=1, tokenize='trigram')"
        ),
        "CREATE VIRTUAL TABLE title_search USING fts5(title, content='', contentless_delete=1, tokenize='trigram')".into(),
        "CREATE VIRTUAL TABLE report_search_terms USING fts5vocab(report_search, 'row')".into(),
        "CREATE VIRTUAL TABLE title_search_terms USING fts5vocab(title_search, 'row')".into(),
        format!(
            "INSERT INTO report_search (rowid, {REPORT_COLUMNS}) SELECT id, {} FROM reports WHERE id <= {rm}",
            ended("", REPORT_COLUMNS)
        ),
        format!(
            "INSERT INTO title_search (rowid, title) SELECT id, title || char(10) FROM incidents WHERE id <= {im}"
        ),
        format!(
            "CREATE TRIGGER report_search_ai AFTER INSERT ON reports WHEN new.id <= {rm} BEGIN \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            ended("new.", REPORT_COLUMNS)
        ),
        format!(
            "CREATE TRIGGER report_search_ad AFTER DELETE ON reports WHEN old.id <= {rm} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; END"
        ),
        format!(
            "CREATE TRIGGER report_search_au AFTER UPDATE OF {REPORT_COLUMNS} ON reports WHEN old.id <= {rm} BEGIN \
             DELETE FROM report_search WHERE rowid = old.id; \
             INSERT INTO report_search (rowid, {REPORT_COLUMNS}) VALUES (new.id, {}); END",
            ended("new.", REPORT_COLUMNS)
        ),
        format!(
            "CREATE TRIGGER title_search_ai AFTER INSERT ON incidents WHEN new.id <= {im} BEGIN \
             INSERT INTO title_search (rowid, title) VALUES (new.id, new.title || char(10)); END"
        ),
        format!(
            "CREATE TRIGGER title_search_ad AFTER DELETE ON incidents WHEN old.id <= {im} BEGIN \
             DELETE FROM title_search WHERE rowid = old.id; END"
        ),
        format!(
            "CREATE TRIGGER title_search_au AFTER UPDATE OF title ON incidents WHEN old.id <= {im} BEGIN \
             DELETE FROM title_search WHERE rowid = old.id; \
             INSERT INTO title_search (rowid, title) VALUES (new.id, new.title || char(10)); END"
        ),
    ]
}

/// Runs the statements on SQLite; PostgreSQL's search has its own tables (migration 000100).
async fn on_sqlite(m: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    let db = m.get_connection();
    if db.get_database_backend() == DbBackend::Sqlite {
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_sqlite(m, sqlite_up()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_sqlite(m, sqlite_down()).await
    }
}
