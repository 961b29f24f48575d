//! What the staff search box means: `INC-n`, a tracking code (any case, with or without dashes),
//! a reporter's email, or words (Chinese or English) found in an incident's title, its
//! reports' output, prompt, description, model and model version, or its comments.
//!
//! Each word must occur somewhere (AND over words, OR over places); Chinese is written without
//! spaces, so a Chinese phrase is one word matched as a substring.

use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

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

/// The incidents the search text matches, as a condition on `incidents`.
pub fn condition(text: &str, postgres: bool) -> Condition {
    let text = text.trim();
    let mut any = Condition::any();
    match exact(text) {
        Some(Exact::Incident(id)) => any = any.add(incident::Column::Id.eq(id)),
        Some(Exact::TrackingCode(code)) => {
            any = any.add(Expr::cust_with_values(
                if postgres {
                    "EXISTS (SELECT 1 FROM reports rt WHERE rt.incident_id = incidents.id AND rt.tracking_code = $1)"
                } else {
                    "EXISTS (SELECT 1 FROM reports rt WHERE rt.incident_id = incidents.id AND rt.tracking_code = ?)"
                },
                [code],
            ))
        }
        None => {}
    }
    if text.contains('@') && !text.contains(char::is_whitespace) {
        any = any.add(Expr::cust_with_values(
            if postgres {
                "EXISTS (SELECT 1 FROM reports re WHERE re.incident_id = incidents.id AND LOWER(re.reporter_email) = $1)"
            } else {
                "EXISTS (SELECT 1 FROM reports re WHERE re.incident_id = incidents.id AND LOWER(re.reporter_email) = ?)"
            },
            [text.to_lowercase()],
        ));
    }
    let mut words = Condition::all();
    let mut n = 0;
    for word in text.split_whitespace().take(8) {
        words = words.add(word_matches(word, postgres));
        n += 1;
    }
    if n > 0 {
        any = any.add(words);
    }
    any
}

/// One word anywhere in the incident: its title, a report's texts, or a comment.
fn word_matches(word: &str, postgres: bool) -> SimpleExpr {
    let pattern = format!("%{}%", like_escape(&word.to_lowercase()));
    if postgres {
        // ILIKE (ASCII and Unicode case); pg_trgm's GIN indexes serve it where installed.
        let like = "ILIKE $1 ESCAPE '\\'";
        let sql = format!(
            "(incidents.title {like} \
             OR EXISTS (SELECT 1 FROM reports rw WHERE rw.incident_id = incidents.id AND (\
                rw.output {like} OR rw.prompt {like} OR rw.description {like} \
                OR rw.model {like} OR rw.model_version {like})) \
             OR EXISTS (SELECT 1 FROM incident_events ew WHERE ew.incident_id = incidents.id \
                AND ew.action = 'comment' AND ew.data {like}))"
        );
        return Expr::cust_with_values(sql, [pattern]);
    }
    if word.chars().count() >= 3 {
        // The trigram FTS5 tables find substrings of three characters or more through their
        // index; the phrase is quoted so that FTS5 syntax in it is taken literally.
        let phrase = format!("\"{}\"", word.replace('"', "\"\""));
        let sql = "(incidents.id IN (SELECT rowid FROM title_search WHERE title_search MATCH ?) \
             OR incidents.id IN (SELECT r.incident_id FROM reports r WHERE r.id IN \
                (SELECT rowid FROM report_search WHERE report_search MATCH ?)) \
             OR incidents.id IN (SELECT e.incident_id FROM incident_events e WHERE e.id IN \
                (SELECT rowid FROM comment_search WHERE comment_search MATCH ?)))";
        return Expr::cust_with_values(sql, [phrase.clone(), phrase.clone(), phrase]);
    }
    // One or two characters (a two-character Chinese word): too short for trigrams, so the
    // texts are read through (SQLite's LIKE ignores ASCII case).
    let like = "LIKE ? ESCAPE '\\'";
    let sql = format!(
        "(incidents.title {like} \
         OR EXISTS (SELECT 1 FROM reports rw WHERE rw.incident_id = incidents.id AND (\
            rw.output {like} OR rw.prompt {like} OR rw.description {like} \
            OR rw.model {like} OR rw.model_version {like})) \
         OR EXISTS (SELECT 1 FROM incident_events ew WHERE ew.incident_id = incidents.id \
            AND ew.action = 'comment' AND ew.data {like}))"
    );
    // SQLite would read a repeated `$1` as one parameter shared by every expression of the
    // statement, so it gets one `?` and one value per use.
    Expr::cust_with_values(sql, std::iter::repeat_n(pattern, 7))
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
