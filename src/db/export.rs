//! The regression export, read a page at a time in case order (keyset on the case id), so an
//! export of any size holds one page in memory and a case's line never moves between exports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::{Db, DbError};
use crate::domain::cases::{DesiredBehaviour, ExportCase, Format, PastResult};
use crate::domain::workflow::State;

/// Which cases an export covers.
#[derive(Debug, Clone)]
pub struct Filter {
    pub format: Format,
    /// Cases added or changed at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Incidents in these states (all confirmed ones when empty).
    pub states: Vec<State>,
}

impl Filter {
    fn states(&self) -> Vec<&'static str> {
        let states: &[State] = if self.states.is_empty() {
            &crate::domain::cases::CONFIRMED
        } else {
            &self.states
        };
        states.iter().map(|s| s.as_str()).collect()
    }

    /// ` WHERE …` over `c` (cases) and `i` (incidents), and its values.
    fn clause(&self, after: Option<i64>) -> (String, Vec<Value>) {
        let mut sql = String::from(" WHERE i.state IN (");
        let mut values: Vec<Value> = Vec::new();
        for (n, s) in self.states().into_iter().enumerate() {
            sql.push_str(if n == 0 { "?" } else { ", ?" });
            values.push(s.into());
        }
        sql.push(')');
        if let Some(after) = after {
            sql.push_str(" AND c.id > ?");
            values.push(after.into());
        }
        if let Some(since) = self.since {
            sql.push_str(" AND c.updated_at >= ?");
            values.push(since.into());
        }
        // Retired cases are no training data; `raw` keeps them, flagged, for the record.
        if self.format.needs_desired() {
            sql.push_str(" AND c.retired = ?");
            values.push(false.into());
        }
        (sql, values)
    }
}

/// `?` placeholders as the backend wants them.
fn statement(db: &Db, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if db.backend() == DbBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(ch);
            }
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(db.backend(), sql, values)
}

/// How many of the filter's cases have no desired response of their own nor from their
/// incident: the lines a training format will leave out.
pub async fn count_without_desired(db: &Db, filter: &Filter) -> Result<u64, DbError> {
    if !filter.format.needs_desired() {
        return Ok(0);
    }
    let (clause, values) = filter.clause(None);
    let sql = format!(
        "SELECT COUNT(*) AS n FROM regression_cases c JOIN incidents i ON i.id = c.incident_id{clause} \
         AND c.desired IS NULL AND i.desired_response IS NULL"
    );
    let row = db
        .conn
        .query_one_raw(statement(db, &sql, values))
        .await?
        .ok_or(DbError::NotFound)?;
    Ok(row.try_get::<i64>("", "n")? as u64)
}

/// Reads the export a page at a time.
pub struct Pages {
    db: Db,
    filter: Filter,
    after: i64,
    done: bool,
}

pub const PAGE: u64 = 500;

impl Pages {
    pub fn new(db: Db, filter: Filter) -> Pages {
        Pages {
            db,
            filter,
            after: 0,
            done: false,
        }
    }

    /// The next page, in case order; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<ExportCase>>, DbError> {
        if self.done {
            return Ok(None);
        }
        let (clause, values) = self.filter.clause(Some(self.after));
        let sql = format!(
            "SELECT c.id, c.incident_id, c.report_id, c.prompt, c.bad_output, c.desired, c.source, \
             c.model, c.model_version, c.retired, c.created_at, c.updated_at, i.state, i.title, \
             i.category, i.severity, i.first_reported_at, i.desired_kind, i.desired_response \
             FROM regression_cases c JOIN incidents i ON i.id = c.incident_id{clause} \
             ORDER BY c.id LIMIT {PAGE}"
        );
        let rows = self
            .db
            .conn
            .query_all_raw(statement(&self.db, &sql, values))
            .await?;
        if (rows.len() as u64) < PAGE {
            self.done = true;
        }
        let mut cases = rows.iter().map(read).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = cases.last() else {
            return Ok(None);
        };
        self.after = last.case_id;
        if self.filter.format == Format::Raw {
            self.history(&mut cases).await?;
        }
        Ok(Some(cases))
    }

    /// Every verification result of the page's cases, oldest run first.
    async fn history(&self, cases: &mut [ExportCase]) -> Result<(), DbError> {
        let ids: Vec<Value> = cases.iter().map(|c| c.case_id.into()).collect();
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT vr.case_id, r.run_id, r.model_version, r.received_at, vr.output, vr.passed, \
             vr.score, vr.detector FROM verification_results vr \
             JOIN verification_runs r ON r.id = vr.run_pk WHERE vr.case_id IN ({marks}) \
             ORDER BY vr.case_id, vr.run_pk"
        );
        let rows = self
            .db
            .conn
            .query_all_raw(statement(&self.db, &sql, ids))
            .await?;
        let mut by_case: BTreeMap<i64, Vec<PastResult>> = BTreeMap::new();
        for r in rows {
            by_case
                .entry(r.try_get("", "case_id")?)
                .or_default()
                .push(PastResult {
                    run_id: r.try_get("", "run_id")?,
                    model_version: r.try_get("", "model_version")?,
                    received_at: r.try_get("", "received_at")?,
                    output: r.try_get("", "output")?,
                    passed: r.try_get("", "passed")?,
                    score: r.try_get("", "score")?,
                    detector: r.try_get("", "detector")?,
                });
        }
        for c in cases {
            c.verifications = by_case.remove(&c.case_id).unwrap_or_default();
        }
        Ok(())
    }
}

fn read(r: &QueryResult) -> Result<ExportCase, DbError> {
    let kind: Option<String> = r.try_get("", "desired_kind")?;
    let text: Option<String> = r.try_get("", "desired_response")?;
    let incident_desired = match (kind, text) {
        (Some(k), Some(text)) => Some(DesiredBehaviour {
            kind: k
                .parse()
                .map_err(|_| DbError::Setup(format!("unreadable desired kind {k:?}")))?,
            text,
        }),
        _ => None,
    };
    Ok(ExportCase {
        case_id: r.try_get("", "id")?,
        incident_id: r.try_get("", "incident_id")?,
        incident_state: r.try_get("", "state")?,
        incident_title: r.try_get("", "title")?,
        category: r.try_get("", "category")?,
        severity: r.try_get("", "severity")?,
        model: r.try_get("", "model")?,
        model_version: r.try_get("", "model_version")?,
        first_reported_at: r.try_get("", "first_reported_at")?,
        prompt: r.try_get("", "prompt")?,
        bad_output: r.try_get("", "bad_output")?,
        desired: r.try_get("", "desired")?,
        incident_desired,
        source: r.try_get("", "source")?,
        report_id: r.try_get("", "report_id")?,
        retired: r.try_get("", "retired")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
        verifications: Vec::new(),
    })
}

/// Writes the export's lines to `out` as they are read; returns (lines written, cases left out
/// for want of a desired response).
pub async fn write_all<W: std::io::Write>(
    db: &Db,
    filter: Filter,
    out: &mut W,
) -> Result<(u64, u64), anyhow::Error> {
    let format = filter.format;
    let mut pages = Pages::new(db.clone(), filter);
    let (mut written, mut skipped) = (0u64, 0u64);
    while let Some(page) = pages.next().await? {
        for c in &page {
            match crate::domain::cases::export_line(format, c) {
                Some(line) => {
                    serde_json::to_writer(&mut *out, &line)?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
                None => skipped += 1,
            }
        }
    }
    out.flush()?;
    Ok((written, skipped))
}
