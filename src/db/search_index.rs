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
//! same marks; migrations 000080 and 000140), inside the transaction that makes them.

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

/// The tables indexed this way: (mark, table).
const TABLES: [(&str, &str); 2] = [("incidents", "incidents"), ("reports", "reports")];

const REPORT_COLUMNS: &str = "output, prompt, description, model, model_version";

/// `prefix.column || char(10)` for each report column: the same newline after each text as the
/// triggers add (see migration 000080).
fn ended(prefix: &str) -> String {
    REPORT_COLUMNS
        .split(", ")
        .map(|c| format!("{prefix}{c} || char(10)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether rows wait to be indexed.
pub(crate) fn pending(conn: &rusqlite::Connection) -> Result<bool, DbError> {
    for (mark, table) in TABLES {
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
///
/// Incidents first (migration 000140): each new incident's row in `incident_search` holds its
/// title and the texts of its lowest report not indexed yet (normally the one intake stored
/// with it; `incidents.search_report_id`), so that report is skipped when the reports are
/// indexed and the rest go to `report_search`. Only a report not indexed yet can be chosen: one
/// already in `report_search` (a split moved it) stays there.
pub(crate) fn step(txn: &Transaction<'_>, limit: i64) -> Result<bool, DbError> {
    let mut more = false;
    for (mark, table) in TABLES {
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
        if table == "incidents" {
            txn.prepare_cached(
                "UPDATE incidents SET search_report_id = \
                 (SELECT MIN(id) FROM reports WHERE incident_id = incidents.id AND id > \
                  (SELECT indexed_to FROM search_marks WHERE tbl = 'reports')) \
                 WHERE id > ?1 AND id <= ?2",
            )?
            .execute(rusqlite::params![from, to])?;
            txn.prepare_cached(&format!(
                "INSERT INTO incident_search (rowid, title, {REPORT_COLUMNS}) \
                 SELECT i.id, i.title || char(10), {} FROM incidents AS i \
                 LEFT JOIN reports AS r ON r.id = i.search_report_id \
                 WHERE i.id > ?1 AND i.id <= ?2",
                ended("r.")
            ))?
            .execute(rusqlite::params![from, to])?;
        } else {
            txn.prepare_cached(&format!(
                "INSERT INTO report_search (rowid, {REPORT_COLUMNS}) SELECT r.id, {} \
                 FROM reports AS r WHERE r.id > ?1 AND r.id <= ?2 AND NOT EXISTS \
                 (SELECT 1 FROM incidents WHERE id = r.incident_id AND search_report_id = r.id)",
                ended("r.")
            ))?
            .execute(rusqlite::params![from, to])?;
        }
        txn.prepare_cached("UPDATE search_marks SET indexed_to = ? WHERE tbl = ?")?
            .execute(rusqlite::params![to, mark])?;
        more |= n == limit;
    }
    Ok(more)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sea_orm::{ConnectionTrait, Statement};

    use super::super::{Db, search};

    pub(super) async fn run(db: &Db, sql: &str) {
        db.conn.execute_unprepared(sql).await.unwrap();
    }

    pub(super) async fn ids(db: &Db, sql: &str) -> BTreeSet<i64> {
        db.conn
            .query_all_raw(Statement::from_string(db.backend(), sql.to_owned()))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0).unwrap())
            .collect()
    }

    /// Indexes `limit` rows of each table, as the writer does in a spare moment.
    pub(super) async fn step(db: &Db, limit: i64) -> bool {
        super::super::tests::on_pooled(db, |conn| {
            let txn = conn.unchecked_transaction().unwrap();
            let more = super::step(&txn, limit).unwrap();
            txn.commit().unwrap();
            more
        })
        .await
    }

    const WORDS: [&str; 9] = [
        "麒麟",
        "滑板",
        "沙漠",
        "海豚",
        "图书馆",
        "彩虹",
        "甲1",
        "乙",
        "标题",
    ];

    /// Every word finds exactly the incidents whose title, or one of whose reports' texts,
    /// holds it now, and each report's own mark (`甲N号`) is indexed at most once.
    pub(super) async fn agrees(db: &Db, stage: &str) {
        for word in WORDS {
            let like = format!("'%{word}%'");
            let expected = ids(
                db,
                &format!(
                    "SELECT id FROM incidents WHERE title LIKE {like} UNION \
                     SELECT incident_id FROM reports WHERE output LIKE {like} \
                     OR prompt LIKE {like} OR description LIKE {like}"
                ),
            )
            .await;
            let m = search::matching_ids(db, word).await.unwrap();
            let found: BTreeSet<i64> = m
                .conn(db)
                .query_all_raw(Statement::from_string(
                    db.backend(),
                    "SELECT id FROM temp.search_hits".to_owned(),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get_by_index::<i64>(0).unwrap())
                .collect();
            assert_eq!(found, expected, "{stage}: {word}");
            drop(m);
            // The same search on a reader thread's connection (`Db::on_reader`).
            let w = word.to_owned();
            let at_once: BTreeSet<i64> = db
                .on_reader(move |conn| {
                    let m = search::matching_ids_on(conn, &w)?;
                    let ids: Vec<i64> = crate::db::raw::rows(
                        conn,
                        &Statement::from_string(
                            sea_orm::DbBackend::Sqlite,
                            "SELECT id FROM temp.search_hits",
                        ),
                        |r| r.get(0),
                    )?;
                    assert_eq!(m.len(), ids.len());
                    Ok(ids.into_iter().collect())
                })
                .await
                .expect("SQLite reads at once")
                .unwrap();
            assert_eq!(at_once, expected, "{stage}: {word}, at once");
        }
        let reports = ids(db, "SELECT id FROM reports").await;
        for id in reports {
            let mark = format!("\"甲{id}号\"");
            let n = ids(
                db,
                &format!(
                    "SELECT rowid FROM report_search WHERE report_search MATCH '{mark}' \
                     UNION ALL SELECT -rowid FROM incident_search WHERE incident_search MATCH '{mark}'"
                ),
            )
            .await;
            assert!(n.len() <= 1, "{stage}: report {id} indexed {n:?}");
        }
    }

    pub(super) fn incident(id: i64, title: &str) -> String {
        format!(
            "INSERT INTO incidents (id, state, version, category, title, fingerprint, \
               first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, \
               created_at) VALUES ({id}, 'new', 1, 'accuracy.inaccurate', '{title}', 'fp{id}', \
               '2026-12-01 00:00:00+00:00', 1, false, '2026-12-01 00:00:00+00:00', '', \
               '2026-12-01 00:00:00+00:00');"
        )
    }

    pub(super) fn report(id: i64, incident: i64, output: &str) -> String {
        format!(
            "INSERT INTO reports (id, tracking_code, incident_id, received_at, locale, channel, \
               output, prompt, model, model_version, description, category, fingerprint) \
             VALUES ({id}, 'CODE-{id}', {incident}, '2026-12-01 00:00:00+00:00', 'zh-CN', 'web', \
               '{output} 甲{id}号', '', 'm', 'v', '乙{id}号', 'accuracy.inaccurate', 'fp{incident}');"
        )
    }

    /// Incidents are indexed with the report that opened them (migration 000140); moves,
    /// edits and deletions keep the index equal to the texts, indexed or not yet.
    #[tokio::test]
    async fn the_index_agrees_with_the_texts_through_edits_moves_and_deletions() {
        let (_dir, db) = super::super::tests::file_db(2).await;
        db.migrate().await.unwrap();
        let mut sql = String::new();
        for (i, text) in [
            (1, "麒麟骑着滑板"),
            (2, "海豚在图书馆"),
            (3, "沙漠里的麒麟"),
            (4, "图书馆的猫"),
            (5, "彩虹下的海豚"),
            (6, "滑板少年"),
        ] {
            sql += &incident(i, &format!("标题{i}"));
            sql += &report(i, i, text);
        }
        // Reports that joined incidents 2 and 5 later.
        sql += &report(7, 2, "又一只海豚");
        sql += &report(8, 5, "沙漠彩虹");
        run(&db, &sql).await;
        agrees(&db, "nothing indexed").await;
        // Part of the way, then all of it.
        assert!(step(&db, 3).await);
        agrees(&db, "three of each indexed").await;
        while step(&db, 2).await {}
        agrees(&db, "all indexed").await;
        assert_eq!(
            ids(&db, "SELECT search_report_id FROM incidents").await,
            (1..=6).collect(),
            "each incident keyed to the report that opened it"
        );
        // A title edit; a report's texts edited, keyed or joined.
        run(
            &db,
            "UPDATE incidents SET title = '彩虹桥' WHERE id = 1; \
             UPDATE reports SET output = '图书馆 甲3号' WHERE id = 3; \
             UPDATE reports SET output = '海豚 甲7号' WHERE id = 7;",
        )
        .await;
        agrees(&db, "edited").await;
        // A merge: incident 3's reports (its keyed one) move to 4; a split: report 8 leaves 5.
        run(
            &db,
            "UPDATE reports SET incident_id = 4 WHERE incident_id = 3;",
        )
        .await;
        agrees(&db, "merged").await;
        sql = incident(9, "拆分");
        sql += "UPDATE reports SET incident_id = 9 WHERE id = 8;";
        run(&db, &sql).await;
        agrees(&db, "split, not indexed yet").await;
        while step(&db, 2).await {}
        agrees(&db, "split, indexed").await;
        // A keyed report deleted; an incident deleted with its reports.
        run(
            &db,
            "DELETE FROM reports WHERE id = 5; \
             DELETE FROM reports WHERE incident_id = 6; DELETE FROM incidents WHERE id = 6;",
        )
        .await;
        agrees(&db, "deleted").await;
        // New reports beyond the marks, one joining an indexed incident, and a step that
        // reaches the new incident before the reports.
        sql = incident(10, "新的");
        sql += &report(11, 10, "滑板海豚");
        sql += &report(12, 1, "沙漠麒麟");
        run(&db, &sql).await;
        agrees(&db, "new, not indexed").await;
        while step(&db, 1).await {}
        agrees(&db, "new, indexed").await;
    }
}

#[cfg(test)]
mod upgrade {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;

    use super::tests::{agrees, incident, report, step};

    /// A database indexed the way before migration 000140 (reports and titles each in a table
    /// of their own) is found the same after it, and goes on being indexed the new way.
    #[tokio::test]
    async fn a_database_indexed_before_the_incidents_index_searches_the_same_after_it() {
        let (_dir, db) = super::super::tests::file_db(2).await;
        // Every migration before 000140.
        let before = migration::Migrator::migrations()
            .iter()
            .position(|m| m.name().contains("_000140_"))
            .unwrap();
        migration::Migrator::up(&db.conn, Some(u32::try_from(before).unwrap()))
            .await
            .unwrap();
        // As `Db::migrate` does after migrating.
        db.read_schema_again().await.unwrap();
        let mut sql = String::new();
        for (i, text) in [(1, "麒麟骑着滑板"), (2, "海豚在图书馆"), (3, "沙漠彩虹")]
        {
            sql += &incident(i, &format!("标题{i}"));
            sql += &report(i, i, text);
        }
        sql += &report(4, 2, "又一只麒麟");
        // What the writer did then: each table indexed up to its mark.
        sql += "INSERT INTO report_search (rowid, output, prompt, description, model, model_version) \
                SELECT id, output || char(10), prompt || char(10), description || char(10), \
                model || char(10), model_version || char(10) FROM reports WHERE id <= 3; \
                INSERT INTO title_search (rowid, title) SELECT id, title || char(10) FROM incidents; \
                UPDATE search_marks SET indexed_to = 3;";
        db.conn.execute_unprepared(&sql).await.unwrap();
        db.migrate().await.unwrap();
        agrees(&db, "after").await;
        while step(&db, 2).await {}
        agrees(&db, "after, indexed").await;
    }
}
