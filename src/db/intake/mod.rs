//! Intake: storing a report, grouping it into an incident, starting the incident's clocks and
//! queueing the acknowledgement, all in one transaction.
//!
//! Reports arriving together are committed together (group commit) by one writer: SQLite has a
//! single writer anyway, and one commit for many reports is what lets intake keep up with a
//! flood. Each submitter is answered only after the transaction holding its report commits.
//! What a batch writes is decided in [`plan`], shared by both backends; [`sqlite`] and
//! [`postgres`] hold how each backend reads, allocates ids and writes.

pub(crate) mod inbox;
mod plan;
mod postgres;
mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::attachments::WrittenFile;
use super::{Db, DbError};
use crate::domain::deadlines::Policy;
use crate::domain::fingerprint::fingerprint;
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, ValidReport};
use crate::domain::tracking_code::TrackingCode;
use crate::mail::Mail;

pub use plan::clock_rows;
pub(crate) use sqlite::in_transaction;

/// A valid report with everything decided before storage.
pub struct Submission {
    pub report: ValidReport,
    pub locale: Locale,
    pub channel: Channel,
    pub code: TrackingCode,
    pub received_at: DateTime<Utc>,
    /// The acknowledgement, when the reporter gave an address.
    pub ack: Option<Mail>,
    /// What groups the report: its model and output folded (set by [`Submission::new`]).
    fingerprint: String,
    /// For a discovery report: the tool's id for the finding, and what it said.
    pub source: Option<DiscoverySource>,
    /// Screenshots whose bytes are already on disk: their rows commit with the report.
    files: Vec<WrittenFile>,
    /// A web request's report must be stored by then (its write timeout) or is answered
    /// [`DbError::Busy`] and not stored: its submitter is told 503. Imports have none.
    answer_by: Option<std::time::Instant>,
}

/// Where a discovery report comes from; `(tool, source_id)` is stored once, so the same
/// finding imported again is answered with the report it made the first time.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverySource {
    pub tool: String,
    pub source_id: String,
    pub probe: Option<String>,
    pub detector: Option<String>,
    pub score: Option<f64>,
    pub run_id: Option<String>,
    pub model: Option<String>,
}

impl Submission {
    /// Folds the report's content into its fingerprint here, on the submitter's task: folding
    /// up to 20,000 characters is work the single writer need not do while others wait.
    pub fn new(
        report: ValidReport,
        locale: Locale,
        channel: Channel,
        code: TrackingCode,
        received_at: DateTime<Utc>,
        ack: Option<Mail>,
    ) -> Submission {
        let fingerprint = fingerprint(report.model.as_deref().unwrap_or(""), &report.output);
        Submission {
            report,
            locale,
            channel,
            code,
            received_at,
            ack,
            fingerprint,
            source: None,
            files: Vec::new(),
            answer_by: None,
        }
    }

    /// The same submission with screenshots written by [`crate::db::attachments::write_files`]: their
    /// rows are stored in the report's transaction, so a report is never stored without them.
    pub fn with_files(mut self, files: Vec<WrittenFile>) -> Submission {
        self.files = files;
        self
    }

    /// The report must be stored within `timeout` from now, or not at all (see
    /// [`IntakeWriter::submit_within`]).
    pub fn answer_within(mut self, timeout: std::time::Duration) -> Submission {
        self.answer_by = Some(std::time::Instant::now() + timeout);
        self
    }

    /// The same submission as a discovery report from `source`.
    pub fn with_source(mut self, source: DiscoverySource) -> Submission {
        self.source = Some(source);
        self
    }

    fn source_key(&self) -> Option<(&str, &str)> {
        self.source
            .as_ref()
            .map(|s| (s.tool.as_str(), s.source_id.as_str()))
    }
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub code: TrackingCode,
    pub report_id: i64,
    pub incident_id: i64,
    /// Whether the report joined an open incident instead of opening one.
    pub joined: bool,
    /// A discovery finding stored before (by an earlier import, or earlier in this one): nothing
    /// was written; `report_id` and `incident_id` are the report it made then.
    pub already: bool,
    /// Stored in intake's inbox under a flood ([`inbox`]): the report is safe and its code
    /// good, its incident is opened later; `report_id` and `incident_id` are 0 and `joined`
    /// false until then.
    pub pending: bool,
}

impl Stored {
    fn pending(code: TrackingCode) -> Stored {
        Stored {
            code,
            report_id: 0,
            incident_id: 0,
            joined: false,
            already: false,
            pending: true,
        }
    }
}

/// Sources already stored: (tool, source id) → (report id, incident id).
type KnownSources = std::collections::HashMap<(String, String), (i64, i64)>;

/// What becomes of each submission of a batch.
enum Slot {
    /// The n-th of the submissions to store.
    Store(usize),
    /// Stored before this batch.
    Known(i64, i64),
    /// The same finding as the n-th submission to store.
    SameAs(usize),
}

/// The batch's discovery findings, by tool, to look up before storing.
fn source_ids<'a>(subs: &[&'a Submission]) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut by_tool: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (tool, id) in subs.iter().filter_map(|s| s.source_key()) {
        by_tool.entry(tool).or_default().push(id);
    }
    by_tool
        .into_iter()
        .map(|(t, mut ids)| {
            ids.sort_unstable();
            ids.dedup();
            (t, ids)
        })
        .collect()
}

/// Leaves out the findings stored before and repeats within the batch.
fn dedupe<'a>(subs: &[&'a Submission], known: &KnownSources) -> (Vec<&'a Submission>, Vec<Slot>) {
    let mut store = Vec::with_capacity(subs.len());
    let mut slots = Vec::with_capacity(subs.len());
    let mut first: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for sub in subs {
        let Some(key) = sub.source_key() else {
            slots.push(Slot::Store(store.len()));
            store.push(*sub);
            continue;
        };
        if let Some(&(r, i)) = known.get(&(key.0.to_owned(), key.1.to_owned())) {
            slots.push(Slot::Known(r, i));
        } else if let Some(&n) = first.get(&key) {
            slots.push(Slot::SameAs(n));
        } else {
            first.insert(key, store.len());
            slots.push(Slot::Store(store.len()));
            store.push(*sub);
        }
    }
    (store, slots)
}

/// The answers of a whole batch from those of the submissions stored.
fn reassemble(subs: &[&Submission], slots: Vec<Slot>, stored: Vec<Stored>) -> Vec<Stored> {
    subs.iter()
        .zip(slots)
        .map(|(sub, slot)| match slot {
            Slot::Store(n) => stored[n].clone(),
            Slot::Known(report_id, incident_id) => Stored {
                code: sub.code.clone(),
                report_id,
                incident_id,
                joined: true,
                already: true,
                pending: false,
            },
            Slot::SameAs(n) => Stored {
                already: true,
                joined: true,
                ..stored[n].clone()
            },
        })
        .collect()
}

type Reply = oneshot::Sender<Result<Stored, Arc<DbError>>>;
type Job = (Submission, Reply);

#[cfg(test)]
mod deferral_tests {
    use super::Deferral;

    #[test]
    fn a_flood_is_deferred_at_once_a_burst_never_and_a_lull_ends_it_late() {
        let d = Deferral::Above(2_000);
        // Ten thousand a second for 60 ms: 600 in the last second, all of them lately.
        assert!(d.now(false, (600.0, 6_000.0)));
        // 200 reports posted at once: a high rate lately, but only 200 this second.
        assert!(!d.now(false, (200.0, 2_000.0 + 1.0)));
        // Steady below it.
        assert!(!d.now(false, (1_900.0, 1_950.0)));
        assert!(d.now(false, (2_100.0, 1_500.0)));
        // Once deferring, until both fall below 1,500.
        assert!(d.now(true, (1_600.0, 100.0)));
        assert!(!d.now(true, (1_400.0, 1_400.0)));
        assert!(!Deferral::Never.now(true, (1e6, 1e6)));
        assert!(Deferral::Always.now(false, (0.0, 0.0)));
        assert_eq!(Deferral::from_setting(0), Deferral::Never);
    }
}

/// Any other write for the SQLite writer's thread: run on its connection between batches (see
/// [`Db::on_writer`]).
pub(crate) type Task = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

/// What the writer takes from its queue.
// Reports are nearly all of it; boxing them would allocate once more per report for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Report(Job),
    Task(Task),
    /// Store the reports of inbox row `.0` now, if it still waits (SQLite); answered once they
    /// are stored, by this step or by the writer before it.
    Inbox(i64, oneshot::Sender<Result<(), DbError>>),
}

/// When the SQLite writer stores reports in its inbox ([`inbox`]) instead of their tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// Never: every report is stored before its submitter is answered.
    Never,
    /// While reports come faster than this many a second, and until they come slower than
    /// three quarters of it. The rate is read over the last second and over the last tenth of
    /// one, so that a flood is seen within its first 100 ms; a burst of fewer than a quarter
    /// of this many reports never counts (sixty reports posted at once are stored before
    /// they are answered, as they always were).
    Above(u32),
    /// Always (tests of the inbox).
    Always,
}

impl Deferral {
    /// `database.intake_defer_above`: 0 is never.
    pub fn from_setting(per_second: u32) -> Deferral {
        match per_second {
            0 => Deferral::Never,
            n => Deferral::Above(n),
        }
    }

    /// Whether to defer now, given whether the writer was deferring and the rate of reports
    /// over the last second and over the last tenth of one.
    fn now(self, was: bool, (per_second, lately): (f64, f64)) -> bool {
        match self {
            Deferral::Never => false,
            Deferral::Always => true,
            Deferral::Above(n) => {
                let n = f64::from(n);
                if was {
                    per_second.max(lately) > n * 0.75
                } else {
                    per_second > n || (lately > n && per_second > n / 4.0)
                }
            }
        }
    }
}

/// The handle web handlers submit to.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Work>,
}

impl IntakeWriter {
    /// Starts the writer: a thread of its own with its own connection on SQLite, a few tasks on
    /// a thread of their own with their own connections on PostgreSQL. It ends when every
    /// handle is dropped.
    pub fn start(db: Db, policy: Arc<Policy>, batch: usize) -> Result<IntakeWriter, DbError> {
        IntakeWriter::start_deferring(db, policy, batch, Deferral::Never)
    }

    /// As [`IntakeWriter::start`], with SQLite's writer storing reports in its inbox as
    /// `deferral` says (PostgreSQL's writers have none).
    pub fn start_deferring(
        db: Db,
        policy: Arc<Policy>,
        batch: usize,
        deferral: Deferral,
    ) -> Result<IntakeWriter, DbError> {
        let batch = batch.max(1);
        let (tx, rx) = mpsc::channel::<Work>(batch * 16);
        if db.is_postgres() {
            postgres::start(db, policy, batch, rx);
        } else {
            // Weakly: the thread ends when the last handle is dropped, as on PostgreSQL.
            db.set_writer(tx.downgrade());
            sqlite::start(db, policy, batch, deferral, rx)?;
        }
        Ok(IntakeWriter { tx })
    }

    /// Stores one report; returns once it is committed.
    pub async fn submit(&self, sub: Submission) -> Result<Stored, IntakeError> {
        self.enqueue(sub).await?.stored().await
    }

    /// Stores one report for a request that must be answered within `timeout`: past it the
    /// answer is [`DbError::Busy`] (503), and the report is not stored afterwards (the writer
    /// skips a report nobody waits for any more).
    pub async fn submit_within(
        &self,
        sub: Submission,
        timeout: std::time::Duration,
    ) -> Result<Stored, IntakeError> {
        let sub = sub.answer_within(timeout);
        // A little longer than the writer's own deadline, so that the writer's answer (stored,
        // or Busy) normally arrives first.
        match tokio::time::timeout(
            timeout + std::time::Duration::from_millis(500),
            self.submit(sub),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(IntakeError::Db(Arc::new(DbError::Busy))),
        }
    }

    /// Whether the writer is there to take reports.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Queues one report and returns at once; on SQLite reports queued one after another are
    /// stored in that order (on PostgreSQL several writers store batches at once, so ids need
    /// not follow it). [`Queued::stored`] waits for the commit.
    pub async fn enqueue(&self, sub: Submission) -> Result<Queued, IntakeError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Work::Report((sub, done)))
            .await
            .map_err(|_| IntakeError::Stopped)?;
        Ok(Queued(wait))
    }
}

/// Why a report was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("storing the report failed: {0}")]
    Db(Arc<DbError>),
    #[error("the intake writer stopped before committing")]
    Stopped,
}

impl IntakeError {
    pub fn failure(&self) -> super::error::Failure {
        match self {
            IntakeError::Db(e) => e.failure(),
            // The writer is restarted when it fails; the submitter may try again.
            IntakeError::Stopped => super::error::Failure::Busy,
        }
    }
}

/// A report queued with [`IntakeWriter::enqueue`].
pub struct Queued(oneshot::Receiver<Result<Stored, Arc<DbError>>>);

impl Queued {
    pub async fn stored(self) -> Result<Stored, IntakeError> {
        match self.0.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(e)) => Err(IntakeError::Db(e)),
            Err(_) => Err(IntakeError::Stopped),
        }
    }
}

/// Sorts what the writer took into reports, to store as one batch, and other tasks.
fn split(work: &mut Vec<Work>, policy: &Arc<Policy>) -> (Vec<Job>, Vec<Task>) {
    let mut jobs = Vec::with_capacity(work.len());
    let mut tasks = Vec::new();
    for w in work.drain(..) {
        match w {
            Work::Report(job) => jobs.push(job),
            Work::Task(task) => tasks.push(task),
            Work::Inbox(row, done) => {
                let policy = policy.clone();
                tasks.push(Box::new(move |conn| {
                    let _ = done.send(inbox::take_row(conn, &policy, row));
                }));
            }
        }
    }
    (jobs, tasks)
}

/// Answers the jobs of a stored batch. When a batch of several failed, one bad report must not
/// fail the others: the jobs come back to be stored one by one.
fn answer(jobs: &mut Vec<Job>, result: Result<Vec<Stored>, DbError>) -> Vec<Job> {
    match result {
        Ok(stored) => {
            for ((_, done), s) in jobs.drain(..).zip(stored) {
                let _ = done.send(Ok(s));
            }
            Vec::new()
        }
        // A busy or failing database fails every report alike: one by one would only make
        // each wait again.
        Err(e) if jobs.len() > 1 && !e.is_unavailable() => {
            tracing::warn!(error = %e, "batch failed; storing its reports one by one");
            std::mem::take(jobs)
        }
        Err(e) => {
            let e = Arc::new(e);
            for (_, done) in jobs.drain(..) {
                let _ = done.send(Err(e.clone()));
            }
            Vec::new()
        }
    }
}
