//! What the staff search box means: `INC-n`, a tracking code (any case, with or without dashes),
//! a reporter's email, or words (Chinese or English) found in an incident's title, its
//! reports' output, prompt, description, model and model version, or its comments.
//!
//! Each word must occur somewhere (AND over words, OR over places); Chinese is written without
//! spaces, so a Chinese phrase is one word matched as a substring. A search is resolved once into
//! the ids it matches ([`matching_ids`]); the board and the list filter by those ([`among`]).

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
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

/// The ids of the incidents the search text matches, sorted: resolved once per request, so a
/// page that shows several columns and counts asks the full-text index once, not once per
/// query (the board did so up to 19 times).
pub async fn matching_ids(db: &Db, text: &str) -> Result<Vec<i64>, DbError> {
    let text = text.trim();
    let postgres = db.is_postgres();
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
            word_sqlite(db, &mut sql, word).await?
        };
        words.push(format!("SELECT id FROM ({union}) AS w{}", words.len()));
    }
    if !words.is_empty() {
        // Every word somewhere in the incident.
        any.push(words.join(" INTERSECT "));
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<String> = any
        .iter()
        .enumerate()
        .map(|(i, p)| format!("SELECT id FROM ({p}) AS a{i}"))
        .collect();
    let stmt = sea_orm::Statement::from_sql_and_values(
        db.backend(),
        format!(
            "SELECT id FROM ({}) AS m ORDER BY id",
            parts.join(" UNION ")
        ),
        sql.values,
    );
    #[derive(sea_orm::FromQueryResult)]
    struct Id {
        id: i64,
    }
    Ok(Id::find_by_statement(stmt)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// One word's incidents on PostgreSQL: pg_trgm's GIN indexes serve each `ILIKE`.
fn word_pg(sql: &mut Sql, word: &str) -> String {
    let p = sql.bind(format!("%{}%", like_escape(&word.to_lowercase())));
    let like = format!("ILIKE {p} ESCAPE '\\'");
    format!(
        "SELECT id FROM incidents WHERE title {like} \
         UNION SELECT incident_id AS id FROM reports WHERE output {like} OR prompt {like} \
            OR description {like} OR model {like} OR model_version {like} \
         UNION SELECT incident_id AS id FROM incident_events WHERE action = 'comment' AND data {like}"
    )
}

/// One word's incidents on SQLite, through the trigram tables.
async fn word_sqlite(db: &Db, sql: &mut Sql, word: &str) -> Result<String, DbError> {
    let word = word.to_lowercase();
    let tables = [
        (
            "title_search",
            "SELECT rowid AS id FROM title_search WHERE title_search MATCH {}",
        ),
        (
            "report_search",
            // Through the narrow index (migration 000080), not the rows with their texts.
            "SELECT incident_id AS id FROM reports INDEXED BY reports_id_incident WHERE id IN \
             (SELECT rowid FROM report_search WHERE report_search MATCH {})",
        ),
        (
            "comment_search",
            "SELECT incident_id AS id FROM incident_events WHERE id IN \
             (SELECT rowid FROM comment_search WHERE comment_search MATCH {})",
        ),
    ];
    let mut union = Vec::new();
    for (table, select) in tables {
        let query = if word.chars().count() >= 3 {
            // The phrase is quoted so that FTS5 syntax in it is taken literally.
            Some(quote(&word))
        } else {
            // Too short to be a trigram: every occurrence begins one (each indexed text ends in
            // a newline), and the index's vocabulary lists them in order.
            match short_word_terms(db, table, &word).await? {
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
            None => union.push(scan(sql, table, &word, false)),
        }
    }
    // Reports and titles the writer has not indexed yet: read directly, found by their ids (a
    // handful, or a flood's worth while it lasts; see `search_index`).
    for table in ["title_search", "report_search"] {
        union.push(scan(sql, table, &word, true));
    }
    if union.is_empty() {
        // Found nowhere: a query that yields no row keeps the statement's shape.
        union.push("SELECT id FROM incidents WHERE 0".into());
    }
    Ok(union.join(" UNION "))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The trigrams of `table` that begin with the (one- or two-character) word, or None where
/// there are too many to match them all.
async fn short_word_terms(
    db: &Db,
    table: &str,
    word: &str,
) -> Result<Option<Vec<String>>, DbError> {
    let stmt = sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        format!("SELECT term FROM {table}_terms WHERE term >= ? AND term < ? LIMIT ?"),
        [
            word.into(),
            format!("{word}{}", char::MAX).into(),
            i64::try_from(MAX_TERMS + 1).unwrap_or(i64::MAX).into(),
        ],
    );
    let terms: Vec<String> = db
        .conn
        .query_all_raw(stmt)
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "term"))
        .collect::<Result<_, _>>()?;
    Ok((terms.len() <= MAX_TERMS).then_some(terms))
}

/// Reads the texts of one table through (SQLite's LIKE ignores ASCII case): all of them (for a
/// single common character), or only the rows beyond the index's mark (`unindexed`).
fn scan(sql: &mut Sql, table: &str, word: &str, unindexed: bool) -> String {
    let pattern = format!("%{}%", like_escape(word));
    let mut like = || format!("LIKE {} ESCAPE '\\'", sql.bind(pattern.clone()));
    let beyond = |mark: &str| {
        if unindexed {
            format!("id > (SELECT indexed_to FROM search_marks WHERE tbl = '{mark}') AND ")
        } else {
            String::new()
        }
    };
    match table {
        "title_search" => format!(
            "SELECT id FROM incidents WHERE {}title {}",
            beyond("incidents"),
            like()
        ),
        "report_search" => format!(
            "SELECT incident_id AS id FROM reports WHERE {}(output {} OR prompt {} \
             OR description {} OR model {} OR model_version {})",
            beyond("reports"),
            like(),
            like(),
            like(),
            like(),
            like()
        ),
        _ => format!(
            "SELECT incident_id AS id FROM incident_events WHERE action = 'comment' AND data {}",
            like()
        ),
    }
}

/// The incidents among `ids` (a search's [`matching_ids`]), as a condition on `incidents`: one
/// value, however many ids.
pub fn among(ids: &[i64], postgres: bool) -> SimpleExpr {
    if ids.is_empty() {
        return Expr::cust("1 = 0");
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    if postgres {
        Expr::cust_with_values(
            "incidents.id = ANY(CAST($1 AS bigint[]))",
            [format!("{{{list}}}")],
        )
    } else {
        Expr::cust_with_values(
            "incidents.id IN (SELECT value FROM json_each(?))",
            [format!("[{list}]")],
        )
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
