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
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, ValidReport};
use crate::domain::tracking_code::TrackingCode;
use crate::mail::Mail;

pub use plan::clock_rows;

/// A valid report with everything decided before storage.
pub struct Submission {
    pub report: ValidReport,
    pub locale: Locale,
    pub channel: Channel,
    pub code: TrackingCode,
    pub received_at: DateTime<Utc>,
    /// The acknowledgement, when the reporter gave an address.
    pub ack: Option<Mail>,
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

/// The handle web handlers submit to.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Job>,
}

impl IntakeWriter {
    /// Starts the writer: a thread of its own with its own connection on SQLite, a task on the
    /// runtime on PostgreSQL. It ends when every handle is dropped.
    pub fn start(db: Db, policy: Arc<Policy>, batch: usize) -> Result<IntakeWriter, DbError> {
        let batch = batch.max(1);
        let (tx, rx) = mpsc::channel::<Job>(batch * 16);
        if db.is_postgres() {
            tokio::spawn(postgres::run(db, policy, batch, rx));
        } else {
            sqlite::start(db, policy, batch, rx)?;
        }
        Ok(IntakeWriter { tx })
    }

    /// Stores one report; returns once it is committed.
    pub async fn submit(&self, sub: Submission) -> Result<Stored, anyhow::Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((sub, done))
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
