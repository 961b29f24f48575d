//! What the staff search box means: `INC-n`, a tracking code (any case, with or without dashes),
//! a reporter's email, or words (Chinese or English) found in an incident's title, its
//! reports' output, prompt, description, model and model version, or its comments.
//!
//! Each word must occur somewhere (AND over words, OR over places); Chinese is written without
//! spaces, so a Chinese phrase is one word matched as a substring. A search is resolved once into
//! the ids it matches ([`matching_ids`]); the board and the list filter by those ([`among`]).

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseExecutor, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};

use super::entities::{incident, report};
use super::{Db, DbError};
use crate::domain::tracking_code::TrackingCode;

/// What the text names exactly, if it is a reference or a tracking code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exact {
    Incident(i64),
    TrackingCode(String),
}

/// "INC-42", "inc-42", "#42" or "42"; a tracking code in any spelling people type.
pub fn exact(text: &str) -> Option<Exact> {
    let t = text.trim();
    let n = t.trim_start_matches('#');
    let n = n
        .strip_prefix("INC-")
        .or_else(|| n.strip_prefix("inc-"))
        .or_else(|| n.strip_prefix("Inc-"))
        .unwrap_or(n);
    if let Ok(id) = n.trim().parse::<i64>()
        && id > 0
    {
        return Some(Exact::Incident(id));
    }
    TrackingCode::parse(t)
        .ok()
        .map(|c| Exact::TrackingCode(c.as_str().to_owned()))
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// More trigrams than this beginning with a short word (a single common character), and the
/// search reads the texts instead of matching them all.
const MAX_TERMS: usize = 2000;

/// A statement under construction: SQL text and its values, with the placeholder spelling of
/// the database (SQLite reads a repeated `$1` as one shared value, so each use gets its own).
struct Sql {
    postgres: bool,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn bind(&mut self, v: impl Into<sea_orm::Value>) -> String {
        self.values.push(v.into());
        if self.postgres {
            format!("${}", self.values.len())
        } else {
            "?".into()
        }
    }
}

/// What a search matched, for the queries of one page to filter by ([`among`]).
///
/// On SQLite the ids wait in a temporary table (`temp.search_hits`) of a read transaction that
/// this holds, and every query filtered by them runs in that transaction ([`Matched::conn`]):
/// a common word matches tens of thousands of incidents, and handing the ids to each of a
/// board's ten queries as one JSON value cost 2 ms a query to turn back into a set; the table
/// is made once (3 ms for 21,000) and used by each as an index. The transaction is rolled back
/// when the page is done, which empties the table. On PostgreSQL the ids are one array value.
#[derive(Default)]
pub struct Matched {
    count: usize,
    array: String,
    unsearched: u64,
    txn: Option<DatabaseTransaction>,
    /// Held as long as the transaction is (see `Db::search_slots`).
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Matched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matched")
            .field("count", &self.count)
            .finish()
    }
}

impl Matched {
    /// How many incidents matched.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// About how many reports the search could not cover: stored, but neither indexed yet nor
    /// among the newest it reads directly (during a flood; see [`READ_UNINDEXED`]).
    pub fn unsearched(&self) -> u64 {
        self.unsearched
    }

    /// Whether the page's queries run in this search's transaction (SQLite), one at a time.
    pub(crate) fn holds_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Where a query filtered by these matches must run.
    pub fn conn<'a>(&'a self, db: &'a Db) -> DatabaseExecutor<'a> {
        match &self.txn {
            Some(txn) => DatabaseExecutor::Transaction(txn),
            None => DatabaseExecutor::Connection(&db.conn),
        }
    }
}

/// A search's statement: the ids it matches (repeats possible on SQLite), its values, and
/// whether it has words (looked up in the index, which may be behind).
struct Union {
    sql: String,
    values: Vec<sea_orm::Value>,
    has_words: bool,
}

/// What each short word's trigrams are in each SQLite index ([`short_word_terms`]): `None`
/// for a table where there are too many to match.
type ShortTerms = std::collections::HashMap<&'static str, Option<Vec<String>>>;

/// The SQLite trigram tables a word is looked up in, each with the statement of the incidents
/// that a match (`{}`) in it finds. Incidents first (their titles and opening reports, keyed by
/// incident: migration 000140): they come in ascending order and the table of matches takes
/// them as appends; the reports that joined an incident later after them, each looked up for
/// its incident.
const WORD_TABLES: [(&str, &str); 3] = [
    (
        "incident_search",
        "SELECT rowid AS id FROM incident_search WHERE incident_search MATCH {}",
    ),
    (
        "report_search",
        // Through the narrow index (migration 000080), not the rows with their texts.
        // Joined in the index's order, without building a set of the report ids first.
        "SELECT r.incident_id AS id FROM report_search AS s \
         JOIN reports AS r INDEXED BY reports_id_incident ON r.id = s.rowid \
         WHERE report_search MATCH {}",
    ),
    (
        "comment_search",
        "SELECT e.incident_id AS id FROM comment_search AS s \
         JOIN incident_events AS e ON e.id = s.rowid WHERE comment_search MATCH {}",
    ),
];

/// The words of a search too short to be a trigram, as they are looked up (lower case).
fn short_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .take(8)
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() < 3)
        .collect()
}

/// The statement of a search's matches; `None` when the text names nothing to look for.
/// `terms` holds [`short_words`]' trigrams (SQLite).
fn union(
    text: &str,
    postgres: bool,
    terms: &std::collections::HashMap<String, ShortTerms>,
) -> Option<Union> {
    let mut sql = Sql {
        postgres,
        values: Vec::new(),
    };
    let mut any: Vec<String> = Vec::new();
    match exact(text) {
        Some(Exact::Incident(id)) => {
            any.push(format!(
                "SELECT id FROM incidents WHERE id = {}",
                sql.bind(id)
            ));
        }
        Some(Exact::TrackingCode(code)) => any.push(format!(
            "SELECT incident_id AS id FROM reports WHERE tracking_code = {}",
            sql.bind(code)
        )),
        None => {}
    }
    if text.contains('@') && !text.contains(char::is_whitespace) {
        any.push(format!(
            "SELECT incident_id AS id FROM reports \
             WHERE reporter_email IS NOT NULL AND lower(reporter_email) = {}",
            sql.bind(text.to_lowercase())
        ));
    }
    let mut words = Vec::new();
    for word in text.split_whitespace().take(8) {
        let union = if postgres {
            word_pg(&mut sql, word)
        } else {
            let found = terms.get(&word.to_lowercase()).cloned().unwrap_or_default();
            word_sqlite(&mut sql, word, found)
        };
        words.push(format!("SELECT id FROM ({union}) AS w{}", words.len()));
    }
    let has_words = !words.is_empty();
    if has_words {
        // Every word somewhere in the incident.
        any.push(words.join(" INTERSECT "));
    }
    if any.is_empty() {
        return None;
    }
    let parts: Vec<String> = any
        .iter()
        .enumerate()
        .map(|(i, p)| format!("SELECT id FROM ({p}) AS a{i}"))
        .collect();
    // UNION ALL: the table of matches drops repeats itself (saves a sort of them all).
    let union = format!(
        "SELECT id FROM ({}) AS m",
        parts.join(if postgres { " UNION " } else { " UNION ALL " })
    );
    Some(Union {
        sql: union,
        values: sql.values,
        has_words,
    })
}

/// SQLite: [`matching_ids`] on a reader thread's connection (`Db::on_reader`), in its read
/// transaction: the matches wait in its own `temp.search_hits` for the page's statements.
pub(crate) fn matching_ids_on(conn: &rusqlite::Connection, text: &str) -> Result<Matched, DbError> {
    let text = text.trim();
    let mut terms = std::collections::HashMap::new();
    for word in short_words(text) {
        let found = super::raw::rows(conn, &short_word_terms(&word), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        terms.insert(word, terms_by_table(found));
    }
    let Some(u) = union(text, false, &terms) else {
        return Ok(Matched::default());
    };
    conn.execute("DELETE FROM temp.search_hits", [])?;
    let filled = super::raw::execute(
        conn,
        &sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            format!("INSERT OR IGNORE INTO temp.search_hits (id) {}", u.sql),
            u.values,
        ),
    )?;
    let unsearched = if u.has_words {
        let n = super::raw::rows(
            conn,
            &sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, not_covered_sql(false)),
            |r| r.get::<_, i64>(0),
        )?;
        u64::try_from(n.first().copied().unwrap_or(0)).unwrap_or(0)
    } else {
        0
    };
    Ok(Matched {
        count: filled,
        unsearched,
        ..Matched::default()
    })
}

/// Runs the search once for a page: every query of the page then filters by its result
/// ([`among`]), instead of asking the full-text index once per query (the board did so up to
/// 19 times).
pub async fn matching_ids(db: &Db, text: &str) -> Result<Matched, DbError> {
    let text = text.trim();
    let postgres = db.is_postgres();
    let mut terms = std::collections::HashMap::new();
    if !postgres {
        for word in short_words(text) {
            let found = db.conn.query_all_raw(short_word_terms(&word)).await?;
            let found = found
                .iter()
                .map(|row| Ok((row.try_get("", "tbl")?, row.try_get("", "term")?)))
                .collect::<Result<Vec<(String, String)>, sea_orm::DbErr>>()?;
            terms.insert(word, terms_by_table(found));
        }
    }
    let Some(Union {
        sql: union,
        values,
        has_words,
    }) = union(text, postgres, &terms)
    else {
        return Ok(Matched::default());
    };
    if postgres {
        // One row holding every id, not a row per id: cheaper by far for tens of thousands.
        let stmt = sea_orm::Statement::from_sql_and_values(
            db.backend(),
            format!(
                "SELECT COALESCE(string_agg(CAST(id AS text), ',' ORDER BY id), '') AS ids FROM ({union}) AS u"
            ),
            values,
        );
        let joined: String = match db.conn.query_one_raw(stmt).await? {
            Some(row) => row.try_get("", "ids")?,
            None => String::new(),
        };
        let count = joined.split(',').filter(|s| !s.is_empty()).count();
        let unsearched = if has_words {
            not_covered(&db.conn).await?
        } else {
            0
        };
        return Ok(Matched {
            count,
            unsearched,
            array: format!("{{{joined}}}"),
            ..Matched::default()
        });
    }
    // A read transaction: it takes no write lock (the temporary table is the connection's own),
    // so intake goes on meanwhile.
    let slot = db
        .search_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| DbError::Setup("the search slots were closed".into()))?;
    let txn = db.conn.begin().await?;
    // The table is the connection's own, made when it opened ([`MATCHES_TABLE`]).
    txn.execute_unprepared("DELETE FROM temp.search_hits")
        .await?;
    let filled = txn
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.backend(),
            format!("INSERT OR IGNORE INTO temp.search_hits (id) {union}"),
            values,
        ))
        .await?;
    // Only words are looked up in the index; codes, references and addresses are found
    // whether it is behind or not.
    let unsearched = if has_words {
        not_covered(&txn).await?
    } else {
        0
    };
    Ok(Matched {
        count: usize::try_from(filled.rows_affected()).unwrap_or(usize::MAX),
        unsearched,
        array: String::new(),
        txn: Some(txn),
        _slot: Some(slot),
    })
}

/// About how many reports a word search does not cover: stored but not indexed yet, beyond the
/// newest [`READ_UNINDEXED`] it reads directly. SQLite: the reports beyond the index's mark (ids
/// are given in order and hardly ever skipped, so the span of ids is the number of reports);
/// PostgreSQL: the reports queued for the index (see [`super::search_queue`]).
async fn not_covered(conn: &impl ConnectionTrait) -> Result<u64, DbError> {
    let backend = conn.get_database_backend();
    let sql = not_covered_sql(backend == sea_orm::DbBackend::Postgres);
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// [`not_covered`]'s statement: one row, `n`.
fn not_covered_sql(postgres: bool) -> String {
    if postgres {
        format!("SELECT GREATEST(0, count(*) - {READ_UNINDEXED}) AS n FROM report_texts_queue")
    } else {
        format!(
            "SELECT max(0, (SELECT COALESCE(MAX(id), 0) FROM reports) - indexed_to \
             - {READ_UNINDEXED}) AS n FROM search_marks WHERE tbl = 'reports'"
        )
    }
}

/// One word's incidents on PostgreSQL: pg_trgm's GIN indexes serve each `ILIKE`. Titles and
/// reports are found in `incident_titles` and `report_texts`, and those still queued for them
/// (see [`super::search_queue`]) are read directly, the newest [`READ_UNINDEXED`] of each; an
/// indexed title that waits to be replaced is not matched by its old words.
fn word_pg(sql: &mut Sql, word: &str) -> String {
    let p = sql.bind(format!("%{}%", like_escape(&word.to_lowercase())));
    let like = format!("ILIKE {p} ESCAPE '\\'");
    format!(
        "SELECT t.incident_id AS id FROM incident_titles AS t WHERE t.title {like} \
            AND NOT EXISTS (SELECT 1 FROM incident_titles_queue AS q \
                            WHERE q.incident_id = t.incident_id) \
         UNION SELECT i.id FROM \
            (SELECT incident_id FROM incident_titles_queue ORDER BY seq DESC \
             LIMIT {READ_UNINDEXED}) AS q \
            JOIN incidents AS i ON i.id = q.incident_id WHERE i.title {like} \
         UNION SELECT r.incident_id AS id FROM report_texts AS t \
            JOIN reports AS r ON r.id = t.report_id WHERE t.body {like} \
         UNION SELECT r.incident_id AS id FROM \
            (SELECT report_id FROM report_texts_queue ORDER BY report_id DESC \
             LIMIT {READ_UNINDEXED}) AS q \
            JOIN reports AS r ON r.id = q.report_id \
            WHERE r.output {like} OR r.prompt {like} OR r.description {like} \
               OR r.model {like} OR r.model_version {like} \
         UNION SELECT incident_id AS id FROM incident_events WHERE action = 'comment' AND data {like}"
    )
}

/// One word's incidents on SQLite, through the trigram tables.
fn word_sqlite(sql: &mut Sql, word: &str, mut terms: ShortTerms) -> String {
    let word = word.to_lowercase();
    let short = word.chars().count() < 3;
    let mut union = Vec::new();
    // Where the incidents' words are too many to match (a single common character), their
    // titles and every report are read instead, the joined reports with them.
    let mut reports_read = false;
    for (table, select) in WORD_TABLES {
        let query = if !short {
            // The phrase is quoted so that FTS5 syntax in it is taken literally.
            Some(quote(&word))
        } else {
            // Too short to be a trigram: every occurrence begins one (each indexed text ends in
            // a newline), and the index's vocabulary lists them in order.
            match terms.remove(table).unwrap_or_default() {
                Some(terms) if terms.is_empty() => continue,
                Some(terms) => Some(
                    terms
                        .iter()
                        .map(|t| quote(t))
                        .collect::<Vec<_>>()
                        .join(" OR "),
                ),
                None => None,
            }
        };
        match query {
            Some(q) => union.push(select.replace("{}", &sql.bind(q))),
            None if table == "incident_search" => {
                union.push(scan(sql, "titles", &word, false));
                union.push(scan(sql, "reports", &word, false));
                reports_read = true;
            }
            None if table == "report_search" && reports_read => {}
            None if table == "report_search" => union.push(scan(sql, "reports", &word, false)),
            None => union.push(scan(sql, "comments", &word, false)),
        }
    }
    // Reports and titles the writer has not indexed yet: read directly, found by their ids (a
    // handful, or a flood's worth while it lasts; see `search_index`).
    for table in ["titles", "reports"] {
        union.push(scan(sql, table, &word, true));
    }
    if union.is_empty() {
        // Found nowhere: a query that yields no row keeps the statement's shape.
        union.push("SELECT id FROM incidents WHERE 0".into());
    }
    // Repeats are dropped further out (by INTERSECT, or by the table of matches).
    union.join(" UNION ALL ")
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The statement of the trigrams that begin with the (one- or two-character) word in each of
/// the tables' vocabularies, at most one more than [`MAX_TERMS`] of each: rows (`tbl`, `term`),
/// read by [`terms_by_table`].
fn short_word_terms(word: &str) -> sea_orm::Statement {
    let limit = i64::try_from(MAX_TERMS + 1).unwrap_or(i64::MAX);
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let selects: Vec<String> = WORD_TABLES
        .iter()
        .map(|(table, _)| {
            values.extend([
                word.into(),
                format!("{word}{}", char::MAX).into(),
                limit.into(),
            ]);
            format!(
                "SELECT '{table}' AS tbl, term FROM \
                 (SELECT term FROM {table}_terms WHERE term >= ? AND term < ? LIMIT ?)"
            )
        })
        .collect();
    sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        selects.join(" UNION ALL "),
        values,
    )
}

/// [`short_word_terms`]' rows, (table, term), by table.
fn terms_by_table(rows: Vec<(String, String)>) -> ShortTerms {
    let mut found: std::collections::HashMap<&'static str, Vec<String>> =
        WORD_TABLES.iter().map(|(t, _)| (*t, Vec::new())).collect();
    for (table, term) in rows {
        if let Some(terms) = found.get_mut(table.as_str()) {
            terms.push(term);
        }
    }
    found
        .into_iter()
        .map(|(table, terms)| (table, (terms.len() <= MAX_TERMS).then_some(terms)))
        .collect()
}

/// How many of the newest reports (and incidents' titles) not yet indexed a search reads
/// directly. Normally all of them: the writer indexes within moments of a pause. In a flood
/// the index falls behind (see `search_index::SPARE_BELOW`), and reading all of it cost a
/// search over a second (108,000 waiting, `mixed` bench); beyond this many, the page says how
/// many reports a search does not cover yet ([`Matched::unsearched`]).
pub const READ_UNINDEXED: i64 = 2_000;

/// Reads the texts of `titles`, `reports` or `comments` through: all of them (for a single
/// common character), or only the newest rows beyond the index's mark (`unindexed`). A word
/// with ASCII letters is matched with LIKE, which ignores their case (as the index does); any
/// other word with `rectify_contains`, the same test at a fraction of the cost (see
/// `db::contains`).
fn scan(sql: &mut Sql, table: &str, word: &str, unindexed: bool) -> String {
    let pattern = format!("%{}%", like_escape(word));
    let ascii_letters = word.bytes().any(|b| b.is_ascii_alphabetic());
    let mut has = |column: &str| {
        if ascii_letters {
            format!("{column} LIKE {} ESCAPE '\\'", sql.bind(pattern.clone()))
        } else {
            format!("rectify_contains({column}, {})", sql.bind(word.to_owned()))
        }
    };
    let beyond = |mark: &str| {
        if unindexed {
            // The newest rows the writer has not indexed, at most [`READ_UNINDEXED`] of them.
            format!(
                "id > (SELECT max(indexed_to, (SELECT COALESCE(MAX(id), 0) FROM {mark}) - \
                 {READ_UNINDEXED}) FROM search_marks WHERE tbl = '{mark}') AND "
            )
        } else {
            String::new()
        }
    };
    match table {
        "titles" => format!(
            "SELECT id FROM incidents WHERE {}{}",
            beyond("incidents"),
            has("title")
        ),
        "reports" => format!(
            "SELECT incident_id AS id FROM reports WHERE {}({} OR {} OR {} OR {} OR {})",
            beyond("reports"),
            has("output"),
            has("prompt"),
            has("description"),
            has("model"),
            has("model_version")
        ),
        _ => format!(
            "SELECT incident_id AS id FROM incident_events WHERE action = 'comment' AND {}",
            has("data")
        ),
    }
}

/// A search's table of matches ([`Matched`]), made by each pooled SQLite connection when it
/// opens (`Db::connect`). Made in the search's transaction, it went with the rollback that ends
/// each search, so every search changed the schema, and SQLite read the whole schema again and
/// compiled the search's statements again (7% of a search's CPU).
pub(crate) const MATCHES_TABLE: &str =
    "CREATE TEMP TABLE IF NOT EXISTS search_hits (id INTEGER PRIMARY KEY)";

/// How [`among`]'s ids are best used by the query around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Look each matched incident up by its id (a list sorted by an unindexed column, a count).
    ById,
    /// Walk an index in the order the query wants and keep what matched (a board column:
    /// nearest deadlines of one state, `LIMIT`): with thousands matched, far cheaper than
    /// fetching all of them to sort (2 ms against 10 ms for 21,000 ids on SQLite).
    InOrder,
}

/// More matched incidents than this, and a query that reads in index order does so
/// ([`Access::InOrder`]); fewer are looked up by id whatever the query (a scan of a whole
/// state's index would cost more).
pub(crate) const IN_ORDER_FROM: usize = 1000;

/// The incidents among `m` (a search's [`matching_ids`]), as a condition on `incidents`, for a
/// query run on [`Matched::conn`].
pub fn among(m: &Matched, postgres: bool, access: Access) -> SimpleExpr {
    if m.is_empty() {
        return Expr::cust("1 = 0");
    }
    if postgres {
        Expr::cust_with_values(
            "incidents.id = ANY(CAST($1 AS bigint[]))",
            [m.array.clone()],
        )
    } else if access == Access::InOrder && m.len() >= IN_ORDER_FROM {
        // The unary plus keeps SQLite's planner off the primary key, onto the query's order;
        // each row read is then looked up in the table of matches.
        Expr::cust("+incidents.id IN temp.search_hits")
    } else {
        Expr::cust("incidents.id IN temp.search_hits")
    }
}

/// The one incident a reference or tracking code names, if it exists.
pub async fn find_exact(db: &Db, text: &str) -> Result<Option<i64>, DbError> {
    Ok(match exact(text) {
        Some(Exact::Incident(id)) => {
            incident::Entity::find_by_id(id)
                .select_only()
                .column(incident::Column::Id)
                .into_tuple::<i64>()
                .one(&db.conn)
                .await?
        }
        Some(Exact::TrackingCode(code)) => {
            report::Entity::find()
                .select_only()
                .column(report::Column::IncidentId)
                .filter(report::Column::TrackingCode.eq(code))
                .into_tuple::<i64>()
                .one(&db.conn)
                .await?
        }
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_codes_in_any_spelling() {
        assert_eq!(exact("INC-25"), Some(Exact::Incident(25)));
        assert_eq!(exact(" inc-25 "), Some(Exact::Incident(25)));
        assert_eq!(exact("#7"), Some(Exact::Incident(7)));
        let code = TrackingCode::from_bytes([7; 10]);
        let plain = code.as_str().replace('-', "").to_lowercase();
        assert_eq!(
            exact(&plain),
            Some(Exact::TrackingCode(code.as_str().to_owned()))
        );
        assert_eq!(exact("悉尼"), None);
        assert_eq!(exact("capital city"), None);
    }
}
