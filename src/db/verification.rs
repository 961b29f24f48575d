//! Verification runs posted by the training pipeline: stored as evidence with every result,
//! and each incident in verification whose cases the run covers passed or failed by it, in one
//! transaction. The same run posted again gets the same answer; another body under a used run
//! id is refused.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::entities::{incident, regression_case, verification_result, verification_run};
use super::workflow::{ActError, MailFor, act_in};
use super::{Db, DbError};
use crate::domain::cases::{Decision, canonical_json, case_list, decide};
use crate::domain::deadlines::Policy;
use crate::domain::workflow::{Action, Actor, State};

/// One case's result as the pipeline posts it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub case_id: i64,
    pub output: String,
    pub passed: bool,
    pub score: Option<f64>,
    pub detector: Option<String>,
}

/// A run as posted, with the body it came in (for idempotency).
#[derive(Debug, Clone)]
pub struct RunPost {
    pub run_id: String,
    pub model_version: String,
    pub results: Vec<CaseResult>,
    pub body: Value,
}

#[derive(Debug)]
pub enum Posted {
    /// Stored now: the answer.
    New(Value),
    /// The same body as before: the answer given then, nothing changed.
    Replay(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("run {0} was posted before with a different body")]
    Conflict(String),
    #[error("no regression case {}", case_list(.0))]
    UnknownCases(Vec<i64>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sea_orm::DbErr> for RunError {
    fn from(e: sea_orm::DbErr) -> Self {
        RunError::Db(DbError::Db(e))
    }
}

impl From<ActError> for RunError {
    fn from(e: ActError) -> Self {
        match e {
            ActError::Db(e) => RunError::Db(e),
            other => RunError::Db(DbError::Setup(other.to_string())),
        }
    }
}

fn body_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(body).as_bytes()))
}

async fn earlier(db: &Db, run: &RunPost, hash: &str) -> Result<Option<Posted>, RunError> {
    let Some(row) = verification_run::Entity::find()
        .filter(verification_run::Column::RunId.eq(run.run_id.as_str()))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    if row.body_hash != hash {
        return Err(RunError::Conflict(run.run_id.clone()));
    }
    let answer = serde_json::from_str(&row.answer)
        .map_err(|e| DbError::Setup(format!("stored answer of run {}: {e}", row.run_id)))?;
    Ok(Some(Posted::Replay(answer)))
}

/// Stores `run` and takes what it decides, as `actor` (the token that posted it).
pub async fn post(
    db: &Db,
    policy: &Policy,
    run: &RunPost,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: MailFor<'_>,
) -> Result<Posted, RunError> {
    let hash = body_hash(&run.body);
    if let Some(p) = earlier(db, run, &hash).await? {
        return Ok(p);
    }
    match store(db, policy, run, &hash, actor, now, mail_for).await {
        // Two posts of one run at once (PostgreSQL): the loser's insert of the run id fails;
        // it answers as a repeat would.
        Err(RunError::Db(e)) => match earlier(db, run, &hash).await? {
            Some(p) => Ok(p),
            None => Err(RunError::Db(e)),
        },
        other => other,
    }
}

async fn store(
    db: &Db,
    policy: &Policy,
    run: &RunPost,
    hash: &str,
    actor: &Actor,
    now: DateTime<Utc>,
    mail_for: MailFor<'_>,
) -> Result<Posted, RunError> {
    let txn = db.begin_write().await?;
    // SQLite: the write gate is held now, so a run stored meanwhile is seen here.
    if !db.is_postgres()
        && let Some(row) = verification_run::Entity::find()
            .filter(verification_run::Column::RunId.eq(run.run_id.as_str()))
            .one(&*txn)
            .await?
    {
        drop(txn);
        if row.body_hash != hash {
            return Err(RunError::Conflict(run.run_id.clone()));
        }
        return earlier(db, run, hash)
            .await?
            .ok_or_else(|| RunError::Conflict(run.run_id.clone()));
    }
    let ids: Vec<i64> = run.results.iter().map(|r| r.case_id).collect();
    let mut cases: BTreeMap<i64, regression_case::Model> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        for c in regression_case::Entity::find()
            .filter(regression_case::Column::Id.is_in(chunk.iter().copied()))
            .all(&*txn)
            .await?
        {
            cases.insert(c.id, c);
        }
    }
    let unknown: Vec<i64> = ids
        .iter()
        .filter(|id| !cases.contains_key(id))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Err(RunError::UnknownCases(unknown));
    }
    let stored = verification_run::ActiveModel {
        run_id: Set(run.run_id.clone()),
        model_version: Set(run.model_version.clone()),
        body_hash: Set(hash.to_owned()),
        answer: Set(String::new()),
        actor: Set(actor.label.clone()),
        received_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let mut by_incident: BTreeMap<i64, BTreeMap<i64, bool>> = BTreeMap::new();
    for r in &run.results {
        let incident_id = cases[&r.case_id].incident_id;
        by_incident
            .entry(incident_id)
            .or_default()
            .insert(r.case_id, r.passed);
        verification_result::ActiveModel {
            run_pk: Set(stored.id),
            case_id: Set(r.case_id),
            incident_id: Set(incident_id),
            output: Set(r.output.clone()),
            passed: Set(r.passed),
            score: Set(r.score),
            detector: Set(r.detector.clone()),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
    }
    let mut answers = Vec::new();
    for (incident_id, results) in &by_incident {
        let row = incident::Entity::find_by_id(*incident_id)
            .one(&*txn)
            .await?
            .ok_or(DbError::NotFound)?;
        let state: State = row
            .state
            .parse()
            .map_err(|_| DbError::Setup(format!("incident {incident_id}: unreadable state")))?;
        let all = regression_case::Entity::find()
            .filter(regression_case::Column::IncidentId.eq(*incident_id))
            .order_by_asc(regression_case::Column::Id)
            .all(&*txn)
            .await?;
        let active: BTreeSet<i64> = all.iter().filter(|c| !c.retired).map(|c| c.id).collect();
        let passed = results.values().filter(|p| **p).count() as i64;
        let failed = results.len() as i64 - passed;
        let decision = decide(state, &active, results);
        let covered = active.iter().filter(|id| results.contains_key(id)).count();
        let (action, transition, reason) = match &decision {
            Decision::Pass => (
                Action::VerifyPass {
                    prompts: format!(
                        "verification run {} ({}): all {} regression cases",
                        run.run_id,
                        run.model_version,
                        active.len()
                    ),
                    outcome: format!("all {} cases passed", active.len()),
                    run_id: Some(run.run_id.clone()),
                },
                Some("verify_pass"),
                None,
            ),
            Decision::Fail { failed: f } => (
                Action::VerifyFail {
                    prompts: format!(
                        "verification run {} ({}): all {} regression cases",
                        run.run_id,
                        run.model_version,
                        active.len()
                    ),
                    outcome: format!(
                        "{} of {} cases failed: {}",
                        f.len(),
                        active.len(),
                        case_list(f)
                    ),
                    run_id: Some(run.run_id.clone()),
                    failed_cases: f.clone(),
                },
                Some("verify_fail"),
                None,
            ),
            other => {
                let reason = match other {
                    Decision::Partial { missing } => format!(
                        "the run covers {covered} of the incident's {} active cases (missing {}): evidence recorded, no transition",
                        active.len(),
                        case_list(missing)
                    ),
                    Decision::NotVerifying { state } => format!(
                        "the incident is {}, not in verification: evidence recorded, no transition",
                        state.label()
                    ),
                    _ => "every case of the incident is retired: evidence recorded, no transition"
                        .to_owned(),
                };
                (
                    Action::RecordVerification {
                        run_id: run.run_id.clone(),
                        model_version: run.model_version.clone(),
                        cases: results.len() as i64,
                        passed,
                        failed,
                        reason: reason.clone(),
                    },
                    None,
                    Some(reason),
                )
            }
        };
        let (after, transition, reason) = match act_in(
            &txn,
            db,
            policy,
            *incident_id,
            None,
            &action,
            actor,
            now,
            mail_for,
        )
        .await
        {
            Ok(after) => (after.state, transition, reason),
            Err(ActError::Refused(r)) => (state, None, Some(r.reason())),
            Err(e) => return Err(e.into()),
        };
        let mut answer = json!({
            "incident": incident_id,
            "state_before": state.as_str(),
            "state": after.as_str(),
            "cases": active.len(),
            "covered": covered,
            "passed": passed,
            "failed": failed,
            "failed_cases": results.iter().filter(|(_, p)| !**p).map(|(id, _)| *id).collect::<Vec<_>>(),
            "transition": transition,
            "reason": reason,
        });
        if transition == Some("verify_fail") && row.evidence_hold {
            answer["note"] = json!(
                "evidence hold: retraining may not start until the authority report is recorded"
            );
        }
        answers.push(answer);
    }
    let answer = json!({
        "run_id": run.run_id,
        "model_version": run.model_version,
        "results": run.results.len(),
        "incidents": answers,
    });
    let mut a: verification_run::ActiveModel = stored.into();
    a.answer = Set(answer.to_string());
    a.update(&*txn).await?;
    txn.commit().await?;
    Ok(Posted::New(answer))
}

/// A run as the incident page shows it: per case, the bad output beside the new one.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run_id: String,
    pub model_version: String,
    pub received_at: DateTime<Utc>,
    pub actor: String,
    pub results: Vec<(regression_case::Model, verification_result::Model)>,
}

/// Every run with results for incident `incident_id`, newest first.
pub async fn runs_for(db: &Db, incident_id: i64) -> Result<Vec<RunView>, DbError> {
    let results = verification_result::Entity::find()
        .filter(verification_result::Column::IncidentId.eq(incident_id))
        .order_by_desc(verification_result::Column::RunPk)
        .order_by_asc(verification_result::Column::CaseId)
        .all(&db.conn)
        .await?;
    if results.is_empty() {
        return Ok(Vec::new());
    }
    let run_pks: BTreeSet<i64> = results.iter().map(|r| r.run_pk).collect();
    let case_ids: BTreeSet<i64> = results.iter().map(|r| r.case_id).collect();
    let runs: BTreeMap<i64, verification_run::Model> = verification_run::Entity::find()
        .filter(verification_run::Column::Id.is_in(run_pks))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let cases: BTreeMap<i64, regression_case::Model> = regression_case::Entity::find()
        .filter(regression_case::Column::Id.is_in(case_ids))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut out: Vec<RunView> = Vec::new();
    for r in results {
        let (Some(run), Some(case)) = (runs.get(&r.run_pk), cases.get(&r.case_id)) else {
            continue;
        };
        if out.last().is_none_or(|v| v.run_id != run.run_id) {
            out.push(RunView {
                run_id: run.run_id.clone(),
                model_version: run.model_version.clone(),
                received_at: run.received_at,
                actor: run.actor.clone(),
                results: Vec::new(),
            });
        }
        if let Some(v) = out.last_mut() {
            v.results.push((case.clone(), r));
        }
    }
    Ok(out)
}
