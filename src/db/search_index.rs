//! SQLite: the staff search's trigram index, brought up to date by the intake writer when it has
//! time to spare, instead of inside each report's transaction.
//!
//! Indexing a report's texts cost about 160 µs of CPU per report (268 characters of Chinese
//! output; `perf stat` of FTS5 inserts), more than all the rest of storing it, on the one thread
//! every report waits for. `search_marks` holds, per table, the id up to which rows are
//! indexed; rows beyond it are indexed here in chunks, and until then [`super::search`] reads
//! the newest of them directly (found by their ids, at most `search::READ_UNINDEXED`), so a
//! search finds a report as soon as it is stored, and says how many it missed in a flood.
//! Edits and erasures of rows already indexed are still applied by triggers (guarded by the
//! same marks; migration 000080), inside the transaction that makes them.

use rusqlite::{OptionalExtension, Transaction};

use super::DbError;

/// How long no report must have come before the writer indexes in large steps.
pub(crate) const QUIET: std::time::Duration = std::time::Duration::from_millis(50);
/// Rows of each table indexed per transaction when quiet: some 40 ms of work, which a report
/// arriving meanwhile waits for. Large steps also mean fewer, larger segments for FTS5 to merge
/// (in steps of 16 rows the merging cost more than the indexing).
pub(crate) const QUIET_CHUNK: i64 = 256;
/// Below this share of its time busy, the writer indexes [`STEADY_CHUNK`] rows after a batch,
/// quiet or not: steady traffic never leaves it 50 ms without a report, and must not leave the
/// index ever further behind. A flood keeps the writer busier than this (82% of the time in the
/// intake bench's profile), so it is not slowed by indexing (before, a step per batch once
/// 200,000 reports waited cut a 60 s flood from 8,400 to 2,800 reports/s after 9 s).
pub(crate) const SPARE_BELOW: f64 = 0.5;
/// Rows of each table indexed in such a step: about 10 ms, which a report arriving meanwhile
/// waits for.
pub(crate) const STEADY_CHUNK: i64 = 64;

/// The tables indexed this way: (mark, table, columns of the FTS table, its name).
const TABLES: [(&str, &str, &[&str], &str); 2] = [
    (
        "reports",
        "reports",
        &["output", "prompt", "description", "model", "model_version"],
        "report_search",
    ),
    ("incidents", "incidents", &["title"], "title_search"),
];

/// Whether rows wait to be indexed.
pub(crate) fn pending(conn: &rusqlite::Connection) -> Result<bool, DbError> {
    for (mark, table, _, _) in TABLES {
        let waiting: Option<i64> = conn
            .prepare_cached(&format!(
                "SELECT 1 FROM {table} WHERE id > \
                 (SELECT indexed_to FROM search_marks WHERE tbl = '{mark}') LIMIT 1"
            ))?
            .query_row([], |r| r.get(0))
            .optional()?;
        if waiting.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Indexes up to `limit` rows of each table beyond its mark and moves the mark, in the
/// caller's transaction. Returns whether more rows wait.
pub(crate) fn step(txn: &Transaction<'_>, limit: i64) -> Result<bool, DbError> {
    let mut more = false;
    for (mark, table, columns, fts) in TABLES {
        let from: i64 = txn
            .prepare_cached("SELECT indexed_to FROM search_marks WHERE tbl = ?")?
            .query_row([mark], |r| r.get(0))?;
        let (to, n): (Option<i64>, i64) = txn
            .prepare_cached(&format!(
                "SELECT MAX(id), COUNT(*) FROM \
                 (SELECT id FROM {table} WHERE id > ?1 ORDER BY id LIMIT ?2)"
            ))?
            .query_row(rusqlite::params![from, limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let Some(to) = to else { continue };
        // The same newline after each text as the triggers add (see migration 000080).
        let values: Vec<String> = columns.iter().map(|c| format!("{c} || char(10)")).collect();
        txn.prepare_cached(&format!(
            "INSERT INTO {fts} (rowid, {}) SELECT id, {} FROM {table} WHERE id > ?1 AND id <= ?2",
            columns.join(", "),
            values.join(", ")
        ))?
        .execute(rusqlite::params![from, to])?;
        txn.prepare_cached("UPDATE search_marks SET indexed_to = ? WHERE tbl = ?")?
            .execute(rusqlite::params![to, mark])?;
        more |= n == limit;
    }
    Ok(more)
}
