//! Intake: storing a report, grouping it into an incident, starting the incident's clocks and
//! queueing the acknowledgement, all in one transaction.
//!
//! Reports arriving together are committed together (group commit) by one writer: SQLite has a
//! single writer anyway, and one commit for many reports is what lets intake keep up with a
//! flood. Each submitter is answered only after the transaction holding its report commits.
//! What a batch writes is decided in [`plan`], shared by both backends; [`sqlite`] and
//! [`postgres`] hold how each backend reads, allocates ids and writes.

mod plan;
mod postgres;
mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

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
        }
    }
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub code: TrackingCode,
    pub report_id: i64,
    pub incident_id: i64,
    /// Whether the report joined an open incident instead of opening one.
    pub joined: bool,
}

type Reply = oneshot::Sender<Result<Stored, Arc<DbError>>>;
type Job = (Submission, Reply);

/// Any other write for the SQLite writer's thread: run on its connection between batches (see
/// [`Db::on_writer`]).
pub(crate) type Task = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

/// What the writer takes from its queue.
// Reports are nearly all of it; boxing them would allocate once more per report for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Report(Job),
    Task(Task),
}

/// The handle web handlers submit to.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Work>,
}

impl IntakeWriter {
    /// Starts the writer: a thread of its own with its own connection on SQLite, a task on the
    /// runtime on PostgreSQL. It ends when every handle is dropped.
    pub fn start(db: Db, policy: Arc<Policy>, batch: usize) -> Result<IntakeWriter, DbError> {
        let batch = batch.max(1);
        let (tx, rx) = mpsc::channel::<Work>(batch * 16);
        if db.is_postgres() {
            tokio::spawn(postgres::run(db, policy, batch, rx));
        } else {
            // Weakly: the thread ends when the last handle is dropped, as on PostgreSQL.
            db.set_writer(tx.downgrade());
            sqlite::start(db, policy, batch, rx)?;
        }
        Ok(IntakeWriter { tx })
    }

    /// Stores one report; returns once it is committed.
    pub async fn submit(&self, sub: Submission) -> Result<Stored, anyhow::Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Work::Report((sub, done)))
            .await
            .map_err(|_| anyhow::anyhow!("the intake writer has stopped"))?;
        match wait.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(e)) => Err(anyhow::anyhow!("storing the report failed: {e}")),
            Err(_) => Err(anyhow::anyhow!(
                "the intake writer stopped before committing"
            )),
        }
    }
}

/// Sorts what the writer took into reports, to store as one batch, and other tasks.
fn split(work: &mut Vec<Work>) -> (Vec<Job>, Vec<Task>) {
    let mut jobs = Vec::with_capacity(work.len());
    let mut tasks = Vec::new();
    for w in work.drain(..) {
        match w {
            Work::Report(job) => jobs.push(job),
            Work::Task(task) => tasks.push(task),
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
        Err(e) if jobs.len() > 1 => {
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
