//! PostgreSQL: the staff search's index of report texts and incident titles, brought up to date
//! by a task while intake leaves time for it, instead of inside each report's transaction
//! (migrations 000100 and 000110).
//!
//! A report's insert queues its id (`report_texts_queue`), an incident's insert or a change of
//! its title the incident's (`incident_titles_queue`); [`step`] moves queued rows into
//! `report_texts` (a report's texts joined) and `incident_titles`, each under one trigram index,
//! and out of the queue in one statement, so a search sees each in exactly one of the two.
//! Several instances may drain at once: each takes rows the others have not locked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Db, DbError};

/// How often the task looks at how busy the writers were.
const TICK: Duration = Duration::from_millis(100);
/// Reports indexed per statement when no report came during the last tick: a few hundred
/// milliseconds of the database's time, which reports arriving meanwhile share the cores with.
const QUIET_STEP: i64 = 1_000;
/// How often an idle task looks for queued rows.
const IDLE_LOOK: Duration = Duration::from_secs(1);
/// Below this share of their time busy the writers leave room, and a smaller step is taken
/// after each tick: steady traffic is never quiet for a whole tick and must not leave the index
/// ever further behind. A flood keeps them busier, and is not slowed by indexing.
const SPARE_BELOW: f64 = 0.5;
const STEADY_STEP: i64 = 200;

/// What the writers report for the task to judge: time spent storing batches. A tick in which
/// it did not grow stored no report.
#[derive(Default)]
pub struct Load {
    busy_nanos: AtomicU64,
}

impl Load {
    pub fn add(&self, busy: Duration) {
        self.busy_nanos.fetch_add(
            u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn read(&self) -> u64 {
        self.busy_nanos.load(Ordering::Relaxed)
    }
}

/// How many queued rows a step moved into the index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub reports: u64,
    pub titles: u64,
}

impl Moved {
    fn none(self) -> bool {
        self == Moved::default()
    }
}

/// Moves up to `limit` queued reports and as many queued incident titles (migration 000110),
/// oldest first, into the index.
pub async fn step(db: &Db, limit: i64) -> Result<Moved, DbError> {
    let reports = take(
        db,
        limit,
        "report_texts_queue",
        "report_id",
        "report_id",
        "INSERT INTO report_texts (report_id, body) \
         SELECT r.id, concat_ws(E'\\n', r.output, r.prompt, r.description, r.model, r.model_version) \
         FROM reports AS r JOIN taken AS t ON t.report_id = r.id \
         ON CONFLICT (report_id) DO NOTHING",
    )
    .await?;
    // A title changed again after it was taken is queued again (the trigger waits for this
    // statement's rows), so the index ends with the newest title.
    let titles = take(
        db,
        limit,
        "incident_titles_queue",
        "incident_id",
        "seq",
        "INSERT INTO incident_titles (incident_id, title) \
         SELECT i.id, i.title FROM incidents AS i JOIN taken AS t ON t.incident_id = i.id \
         ON CONFLICT (incident_id) DO UPDATE SET title = EXCLUDED.title",
    )
    .await?;
    Ok(Moved { reports, titles })
}

/// Takes up to `limit` rows of `queue` (its `key`s, first by `order`) that no other instance
/// holds, and runs `insert`, which reads them as `taken`, in the same statement. The keys are
/// deleted as an array, one index lookup each: `IN (subquery)` let the planner hash-join a
/// sequential scan of the whole queue, which a flood leaves long (and, with autovacuum off,
/// full of deleted rows).
async fn take(
    db: &Db,
    limit: i64,
    queue: &str,
    key: &str,
    order: &str,
    insert: &str,
) -> Result<u64, DbError> {
    Ok(db
        .conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "WITH taken AS ( \
                   DELETE FROM {queue} WHERE {key} = ANY(ARRAY( \
                     SELECT {key} FROM {queue} ORDER BY {order} \
                     LIMIT $1 FOR UPDATE SKIP LOCKED)) \
                   RETURNING {key}) \
                 {insert}"
            ),
            [limit.into()],
        ))
        .await?
        .rows_affected())
}

/// Indexes everything queued now, in quiet-sized steps (the command line, tests).
pub async fn catch_up(db: &Db) -> Result<Moved, DbError> {
    let mut total = Moved::default();
    loop {
        let n = step(db, QUIET_STEP).await?;
        total.reports += n.reports;
        total.titles += n.titles;
        if n.none() {
            return Ok(total);
        }
    }
}

/// The task: every tick, a large step when no report came, a small one while the `writers`
/// were busy less than half the time, none in a flood. With nothing queued and no report
/// stored, it looks again only every [`IDLE_LOOK`] (a title staff changed meanwhile is read
/// from its queue by searches until then). It ends with the writers.
pub async fn run(db: Db, load: Arc<Load>, writers: u32) {
    let mut busy = load.read();
    let mut at = Instant::now();
    let mut looked = Instant::now();
    let mut empty = false;
    loop {
        tokio::time::sleep(TICK).await;
        if Arc::strong_count(&load) == 1 {
            return;
        }
        let b = load.read();
        let span = at.elapsed().as_nanos() as f64 * f64::from(writers);
        let share = b.saturating_sub(busy) as f64 / span.max(1.0);
        let quiet = b == busy;
        (busy, at) = (b, Instant::now());
        if quiet && empty && looked.elapsed() < IDLE_LOOK {
            continue;
        }
        let limit = if quiet {
            QUIET_STEP
        } else if share < SPARE_BELOW {
            STEADY_STEP
        } else {
            continue;
        };
        looked = Instant::now();
        match step(&db, limit).await {
            Ok(moved) => empty = moved.none(),
            Err(e) => {
                tracing::warn!(error = %e, "indexing queued reports for search failed; retried next tick");
            }
        }
    }
}
