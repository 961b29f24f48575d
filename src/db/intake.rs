//! Intake: storing a report, grouping it into an incident, starting the incident's clocks and
//! queueing the acknowledgement, all in one transaction.
//!
//! Reports arriving together are committed together (group commit) by one writer task: SQLite
//! has a single writer anyway, and one fsync for many reports is what lets intake keep up with
//! a flood. Each submitter is answered only after the transaction holding its report commits.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QueryTrait, TransactionTrait,
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

/// A new or changed incident while a batch is being built.
struct Pending {
    /// The row as read, for a report joining an existing incident; `None` for one opened here.
    before: Option<incident::Model>,
    current: workflow::Incident,
    hash: String,
    next_due: Option<(DateTime<Utc>, String)>,
}

/// Stores reports in one transaction, in order (a later report may join an incident an
/// earlier one in the same batch opened). The rows of the whole batch are written with one
/// statement per table, so the cost per report stays small however many arrive together.
pub async fn store_batch(
    db: &Db,
    policy: &Policy,
    subs: &[&Submission],
) -> Result<Vec<Stored>, DbError> {
    let _gate = db.write_guard().await;
    let txn = db.write_conn().begin().await?;
    let fps: Vec<String> = subs
        .iter()
        .map(|s| fingerprint(s.report.model.as_deref().unwrap_or(""), &s.report.output))
        .collect();
    let mut distinct: Vec<&str> = fps.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if db.is_postgres() {
        // Two instances receiving the same content at once must not both open an incident;
        // sorted, so two batches never wait on each other in opposite orders.
        for fp in &distinct {
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [(*fp).into()],
            ))
            .await?;
        }
    }
    let open_states: Vec<&str> = State::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
        .collect();
    let existing = incident::Entity::find()
        .filter(incident::Column::Fingerprint.is_in(distinct.iter().copied()))
        .filter(incident::Column::State.is_in(open_states))
        .order_by_asc(incident::Column::Id)
        .all(&txn)
        .await?;
    let mut by_fp: HashMap<String, i64> = HashMap::new();
    let mut pending: HashMap<i64, Pending> = HashMap::new();
    for row in existing {
        if by_fp.contains_key(&row.fingerprint) {
            continue; // the oldest open incident with this content takes new reports
        }
        by_fp.insert(row.fingerprint.clone(), row.id);
        pending.insert(
            row.id,
            Pending {
                current: incidents::to_domain(&row)?,
                hash: row.last_event_hash.clone(),
                next_due: None,
                before: Some(row),
            },
        );
    }
    let new_count = fps
        .iter()
        .filter(|fp| !by_fp.contains_key(*fp))
        .collect::<std::collections::HashSet<_>>()
        .len();
    let (incident_ids, report_ids) = allocate_ids(&txn, db, new_count, subs.len()).await?;
    let mut incident_ids = incident_ids.into_iter();
    let mut report_ids = report_ids.into_iter();

    let mut opened: Vec<i64> = Vec::new();
    let mut events = Vec::new();
    let mut clocks = Vec::new();
    let mut reports = Vec::with_capacity(subs.len());
    let mut mails = Vec::new();
    let mut out = Vec::with_capacity(subs.len());
    let system = Actor::system();
    let refused = |e: workflow::Refusal| DbError::Setup(e.reason());
    for (sub, fp) in subs.iter().zip(&fps) {
        let r = &sub.report;
        let now = sub.received_at;
        let report_id = report_ids.next().ok_or(DbError::NotFound)?;
        let (incident_id, joined) = match by_fp.get(fp) {
            Some(&id) => {
                let p = pending.get_mut(&id).ok_or(DbError::NotFound)?;
                let event =
                    workflow::apply(&p.current, &Action::AddReport { report_id }, &system, now)
                        .map_err(refused)?;
                let after = workflow::project(Some(&p.current), id, &event)
                    .map_err(|e| DbError::Setup(e.to_string()))?;
                let stored = event.seal(id, after.version, &p.hash);
                p.hash = stored.hash.clone();
                p.current = after;
                events.push(incidents::event_row(&stored, None));
                (id, true)
            }
            None => {
                let id = incident_ids.next().ok_or(DbError::NotFound)?;
                let open = Action::Open {
                    category: r.category.as_str().to_string(),
                    title: title_of(&r.output, 80),
                    fingerprint: fp.clone(),
                    first_reported_at: now,
                };
                let (inc, event) = workflow::open(id, &open, &system, now).map_err(refused)?;
                let stored = event.seal(id, inc.version, crate::domain::audit::GENESIS);
                events.push(incidents::event_row(&stored, None));
                let (rows, next_due) = clock_rows(policy, &inc);
                clocks.extend(rows);
                pending.insert(
                    id,
                    Pending {
                        before: None,
                        current: inc,
                        hash: stored.hash,
                        next_due,
                    },
                );
                by_fp.insert(fp.clone(), id);
                opened.push(id);
                (id, false)
            }
        };
        reports.push(report::ActiveModel {
            id: Set(report_id),
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
            fingerprint: Set(fp.clone()),
            erased_at: Set(None),
        });
        if let Some(mail) = &sub.ack {
            mails.push(outbox::row(mail, now, Some(incident_id), Some(report_id)));
        }
        out.push(Stored {
            code: sub.code.clone(),
            report_id,
            incident_id,
            joined,
        });
    }

    let now = subs.first().map(|s| s.received_at).unwrap_or_else(Utc::now);
    let new_rows: Vec<incident::ActiveModel> = opened
        .iter()
        .filter_map(|id| pending.get(id))
        .map(|p| incidents::new_row(&p.current, &p.hash, p.next_due.as_ref(), now))
        .collect();
    let backend = db.backend();
    let mut writes = Vec::new();
    insert_statements(&mut writes, backend, new_rows);
    for p in pending.values() {
        if let Some(before) = &p.before
            && p.current.version != before.version
        {
            let update = incidents::projection_update(before, &p.current, &p.hash);
            writes.push(Write::Guarded(update.build(backend)));
        }
    }
    insert_statements(&mut writes, backend, events);
    insert_statements(&mut writes, backend, clocks);
    insert_statements(&mut writes, backend, reports);
    insert_statements(&mut writes, backend, mails);
    if db.is_postgres() {
        for w in writes {
            match w {
                Write::Plain(s) => {
                    txn.execute_raw(s).await?;
                }
                Write::Guarded(s) => {
                    if txn.execute_raw(s).await?.rows_affected() != 1 {
                        return Err(DbError::Conflict);
                    }
                }
            }
        }
    } else {
        // SQLite takes the whole batch in one call: it runs the statements in order and binds
        // the `?`s in sequence, so the batch costs one round trip to the driver's thread
        // instead of one per table. The version guards cannot fail here: the write gate and
        // this transaction exclude every other writer since the rows were read.
        txn.execute_raw(merge_statements(backend, writes)).await?;
    }
    txn.commit().await?;
    Ok(out)
}

/// A write of the batch; a guarded one must change exactly one row.
enum Write {
    Plain(sea_orm::Statement),
    Guarded(sea_orm::Statement),
}

/// Multi-row inserts, in chunks that stay within the databases' bind limits.
fn insert_statements<A>(out: &mut Vec<Write>, backend: sea_orm::DbBackend, rows: Vec<A>)
where
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(256).collect();
        out.push(Write::Plain(
            <A::Entity as EntityTrait>::insert_many(chunk).build(backend),
        ));
    }
}

fn merge_statements(backend: sea_orm::DbBackend, writes: Vec<Write>) -> sea_orm::Statement {
    let mut sql = String::new();
    let mut values = Vec::new();
    for w in writes {
        let (Write::Plain(s) | Write::Guarded(s)) = w;
        sql.push_str(&s.sql);
        sql.push_str(";\n");
        if let Some(v) = s.values {
            values.extend(v.0);
        }
    }
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// Ids for new incidents and reports, taken before the insert because the first event's hash
/// covers the incident's id. SQLite has one writer (the transaction holds the write gate), so
/// the next ids follow the largest; PostgreSQL draws them from the tables' sequences.
async fn allocate_ids(
    txn: &DatabaseTransaction,
    db: &Db,
    incidents: usize,
    reports: usize,
) -> Result<(Vec<i64>, Vec<i64>), DbError> {
    if db.is_postgres() {
        let mut out = (Vec::new(), Vec::new());
        for (table, n, ids) in [
            ("incidents", incidents, &mut out.0),
            ("reports", reports, &mut out.1),
        ] {
            if n == 0 {
                continue;
            }
            let rows = txn
                .query_all_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    format!(
                        "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, $1)"
                    ),
                    [(n as i64).into()],
                ))
                .await?;
            for r in rows {
                ids.push(r.try_get::<i64>("", "id")?);
            }
        }
        Ok(out)
    } else {
        let row = txn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM incidents) AS i, \
                 (SELECT COALESCE(MAX(id), 0) FROM reports) AS r",
            ))
            .await?
            .ok_or(DbError::NotFound)?;
        let (i, r): (i64, i64) = (row.try_get("", "i")?, row.try_get("", "r")?);
        Ok((
            (1..=incidents as i64).map(|k| i + k).collect(),
            (1..=reports as i64).map(|k| r + k).collect(),
        ))
    }
}

/// The clock rows of a new incident, and the nearest of their due instants.
pub fn clock_rows(
    policy: &Policy,
    inc: &workflow::Incident,
) -> (
    Vec<incident_clock::ActiveModel>,
    Option<(DateTime<Utc>, String)>,
) {
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
    let nearest = clocks
        .iter()
        .min_by_key(|c| c.due)
        .map(|c| (c.due, c.name.clone()));
    let rows = clocks
        .into_iter()
        .map(|c| incident_clock::ActiveModel {
            incident_id: Set(inc.id),
            // A new clock has fired nothing: its next step is its ladder's first.
            next_fire_at: Set(policy.first_fire(&c.name, c.start, c.due)),
            clock: Set(c.name),
            started_at: Set(c.start),
            due_at: Set(c.due),
            stopped_at: Set(None),
            status: Set("running".into()),
            ..Default::default()
        })
        .collect();
    (rows, nearest)
}
