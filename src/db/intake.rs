//! Intake: storing a report, grouping it into an incident, starting the incident's clocks and
//! queueing the acknowledgement, all in one transaction.
//!
//! Reports arriving together are committed together (group commit) by one writer task: SQLite
//! has a single writer anyway, and one fsync for many reports is what lets intake keep up with
//! a flood. Each submitter is answered only after the transaction holding its report commits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::entities::{incident, incident_clock, report};
use super::{Db, DbError, incidents, outbox};
use crate::domain::deadlines::{ClockFacts, Policy};
use crate::domain::fingerprint::fingerprint;
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, ValidReport, title_of};
use crate::domain::tracking_code::TrackingCode;
use crate::domain::workflow::{self, Action, Actor, State};
use crate::mail::Mail;

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

type Job = (Submission, oneshot::Sender<Result<Stored, Arc<DbError>>>);

/// The handle web handlers submit to.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Job>,
}

impl IntakeWriter {
    /// Starts the writer task. It ends when every handle is dropped.
    pub fn start(db: Db, policy: Arc<Policy>, batch: usize) -> IntakeWriter {
        let (tx, rx) = mpsc::channel::<Job>(batch * 16);
        tokio::spawn(run(db, policy, batch, rx));
        IntakeWriter { tx }
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

async fn run(db: Db, policy: Arc<Policy>, batch: usize, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batch);
    while rx.recv_many(&mut jobs, batch).await > 0 {
        let subs: Vec<&Submission> = jobs.iter().map(|(s, _)| s).collect();
        match store_batch(&db, &policy, &subs).await {
            Ok(stored) => {
                for ((_, done), s) in jobs.drain(..).zip(stored) {
                    let _ = done.send(Ok(s));
                }
            }
            Err(e) if jobs.len() > 1 => {
                // One bad report must not fail the others: store each on its own.
                tracing::warn!(error = %e, "batch failed; storing its reports one by one");
                for (sub, done) in jobs.drain(..) {
                    let r = store_batch(&db, &policy, &[&sub])
                        .await
                        .map(|mut v| v.remove(0))
                        .map_err(Arc::new);
                    let _ = done.send(r);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Stores reports in one transaction, in order (a later report may join an incident an
/// earlier one in the same batch opened).
pub async fn store_batch(
    db: &Db,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    let _gate = db.write_guard().await;
    let txn = db.conn.begin().await?;
    let mut out = Vec::with_capacity(subs.len());
    for sub in subs {
        out.push(store_one(&txn, db, policy, sub).await?);
    }
    txn.commit().await?;
    Ok(out)
}

async fn store_one(
    txn: &DatabaseTransaction,
    db: &Db,
    policy: &Policy,
    sub: &Submission,
) -> Result<Stored, DbError> {
    let r = &sub.report;
    let fp = fingerprint(r.model.as_deref().unwrap_or(""), &r.output);
    let now = sub.received_at;
    if db.is_postgres() {
        // Two instances receiving the same content at once must not both open an incident.
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [fp.clone().into()],
        ))
        .await?;
    }
    let open_states: Vec<&str> = State::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let existing = incident::Entity::find()
        .filter(incident::Column::Fingerprint.eq(fp.as_str()))
        .filter(incident::Column::State.is_in(open_states))
        .order_by_asc(incident::Column::Id)
        .one(txn)
        .await?;

    let (incident_id, joined) = match existing {
        Some(row) => (row.id, true),
        None => {
            let open = Action::Open {
                category: r.category.as_str().to_string(),
                title: title_of(&r.output, 80),
                fingerprint: fp.clone(),
                first_reported_at: now,
            };
            let (placeholder, _) = workflow::open(0, &open, &Actor::system(), now)
                .map_err(|e| DbError::Setup(e.reason()))?;
            let inc = incidents::insert_opened(
                txn,
                |id| {
                    workflow::open(id, &open, &Actor::system(), now)
                        .map_err(|e| DbError::Setup(e.reason()))
                },
                &placeholder,
                now,
                None,
            )
            .await?;
            start_clocks(txn, policy, &inc).await?;
            (inc.id, false)
        }
    };

    let report = report::ActiveModel {
        tracking_code: Set(sub.code.as_str().to_string()),
        incident_id: Set(incident_id),
        received_at: Set(now),
        locale: Set(sub.locale.as_str().to_string()),
        channel: Set(sub.channel.as_str().to_string()),
        output: Set(r.output.clone()),
        prompt: Set(r.prompt.clone()),
        model: Set(r.model.clone()),
        model_version: Set(r.model_version.clone()),
        url: Set(r.url.clone()),
        category: Set(r.category.as_str().to_string()),
        description: Set(r.description.clone()),
        reporter_name: Set(r.name.clone()),
        reporter_email: Set(r.email.as_ref().map(|e| e.as_str().to_string())),
        fingerprint: Set(fp),
        erased_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;

    if joined {
        let before = incident::Entity::find_by_id(incident_id)
            .one(txn)
            .await?
            .ok_or(DbError::NotFound)?;
        let domain = incidents::to_domain(&before)?;
        let action = Action::AddReport {
            report_id: report.id,
        };
        let event = workflow::apply(&domain, &action, &Actor::system(), now)
            .map_err(|e| DbError::Setup(e.reason()))?;
        let after = workflow::project(Some(&domain), incident_id, &event)
            .map_err(|e| DbError::Setup(e.to_string()))?;
        incidents::append(txn, &before, &after, &event, None).await?;
    }

    if let Some(mail) = &sub.ack {
        outbox::enqueue(txn, mail, now, Some(incident_id), Some(report.id)).await?;
    }
    Ok(Stored {
        code: sub.code.clone(),
        report_id: report.id,
        incident_id,
        joined,
    })
}

/// Creates the rows of every clock that applies to a new incident and records the nearest.
pub async fn start_clocks<C: ConnectionTrait>(
    conn: &C,
    policy: &Policy,
    inc: &workflow::Incident,
) -> Result<(), DbError> {
    let facts = ClockFacts {
        category: Some(inc.category.as_str()),
        severity: inc.severity.map(|s| s.as_str()),
        serious: inc.serious.map(|s| s.as_str()),
    };
    let clocks = policy.clocks_for(
        &facts,
        inc.first_reported_at,
        inc.triaged_at,
        inc.serious_at,
    );
    let mut nearest: Option<(DateTime<Utc>, String)> = None;
    for c in &clocks {
        incident_clock::ActiveModel {
            incident_id: Set(inc.id),
            clock: Set(c.name.clone()),
            started_at: Set(c.start),
            due_at: Set(c.due),
            stopped_at: Set(None),
            status: Set("running".into()),
            next_fire_at: Set(None),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        if nearest.as_ref().is_none_or(|(d, _)| c.due < *d) {
            nearest = Some((c.due, c.name.clone()));
        }
    }
    incidents::set_next_due(conn, inc.id, nearest).await
}
