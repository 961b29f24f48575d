//! Regression cases as stored: listed per incident, and added, edited and retired by staff or
//! a `cases` token, each change with its event on the incident's chain in one transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{regression_case, report};
use super::workflow::{ActError, act_in, no_mail};
use super::{Db, DbError};
use crate::domain::cases::{CaseSource, CaseText};
use crate::domain::deadlines::Policy;
use crate::domain::workflow::{Action, Actor, Problem, Refusal, Unchanged};

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("no such regression case")]
    NotFound,
    #[error("{0}")]
    Act(#[from] ActError),
}

impl From<DbError> for CaseError {
    fn from(e: DbError) -> Self {
        CaseError::Act(e.into())
    }
}

impl From<sea_orm::DbErr> for CaseError {
    fn from(e: sea_orm::DbErr) -> Self {
        CaseError::Act(e.into())
    }
}

fn refused(r: Refusal) -> CaseError {
    CaseError::Act(ActError::Refused(r))
}

/// An incident's cases, oldest first (retired ones too).
pub async fn list(db: &Db, incident_id: i64) -> Result<Vec<regression_case::Model>, DbError> {
    Ok(regression_case::Entity::find()
        .filter(regression_case::Column::IncidentId.eq(incident_id))
        .order_by_asc(regression_case::Column::Id)
        .all(&db.conn)
        .await?)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<regression_case::Model>, DbError> {
    Ok(regression_case::Entity::find_by_id(id)
        .one(&db.conn)
        .await?)
}

/// Adds a staff case to incident `incident_id`. The model is the incident's first report's.
pub async fn add(
    db: &Db,
    policy: &Policy,
    incident_id: i64,
    text: &CaseText,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<regression_case::Model, CaseError> {
    let txn = db.begin_write().await?;
    let first = report::Entity::find()
        .filter(report::Column::IncidentId.eq(incident_id))
        .order_by_asc(report::Column::Id)
        .one(&*txn)
        .await?;
    let row = regression_case::ActiveModel {
        incident_id: Set(incident_id),
        report_id: Set(None),
        prompt: Set(text.prompt.clone()),
        bad_output: Set(text.bad_output.clone()),
        desired: Set(text.desired.clone()),
        source: Set(CaseSource::Staff.as_str().to_owned()),
        model: Set(first.as_ref().and_then(|r| r.model.clone())),
        model_version: Set(first.as_ref().and_then(|r| r.model_version.clone())),
        retired: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    // The incident must exist before a row can point at it (and the event refuses otherwise).
    if first.is_none() {
        return Err(CaseError::Act(ActError::NotFound));
    }
    let row = row.insert(&*txn).await?;
    let action = Action::AddCase {
        case_id: row.id,
        prompt: row.prompt.clone(),
        bad_output: row.bad_output.clone(),
        desired: row.desired.clone(),
    };
    record(txn, db, policy, incident_id, &action, actor, now).await?;
    Ok(row)
}

/// Replaces a case's texts. A retired case is not edited, and an edit that changes nothing is
/// refused (it would only add noise to the audit trail).
pub async fn edit(
    db: &Db,
    policy: &Policy,
    case_id: i64,
    text: &CaseText,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<regression_case::Model, CaseError> {
    let txn = db.begin_write().await?;
    let row = regression_case::Entity::find_by_id(case_id)
        .one(&*txn)
        .await?
        .ok_or(CaseError::NotFound)?;
    if row.retired {
        return Err(refused(Refusal::Invalid {
            field: "case_id",
            problem: Problem::CaseRetired { case_id },
        }));
    }
    if row.prompt == text.prompt && row.bad_output == text.bad_output && row.desired == text.desired
    {
        return Err(refused(Refusal::NothingToChange {
            what: Unchanged::CaseText { case_id },
        }));
    }
    let incident_id = row.incident_id;
    let mut a: regression_case::ActiveModel = row.into();
    a.prompt = Set(text.prompt.clone());
    a.bad_output = Set(text.bad_output.clone());
    a.desired = Set(text.desired.clone());
    a.updated_at = Set(now);
    let row = a.update(&*txn).await?;
    let action = Action::EditCase {
        case_id,
        prompt: row.prompt.clone(),
        bad_output: row.bad_output.clone(),
        desired: row.desired.clone(),
    };
    record(txn, db, policy, incident_id, &action, actor, now).await?;
    Ok(row)
}

/// Retires a case: kept (with its history) but no longer exported for training nor needed
/// by a verification run.
pub async fn retire(
    db: &Db,
    policy: &Policy,
    case_id: i64,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<regression_case::Model, CaseError> {
    let txn = db.begin_write().await?;
    let row = regression_case::Entity::find_by_id(case_id)
        .one(&*txn)
        .await?
        .ok_or(CaseError::NotFound)?;
    if row.retired {
        return Err(refused(Refusal::NothingToChange {
            what: Unchanged::CaseRetired { case_id },
        }));
    }
    let incident_id = row.incident_id;
    let mut a: regression_case::ActiveModel = row.into();
    a.retired = Set(true);
    a.updated_at = Set(now);
    let row = a.update(&*txn).await?;
    let action = Action::RetireCase {
        case_id,
        reason: reason.to_owned(),
    };
    record(txn, db, policy, incident_id, &action, actor, now).await?;
    Ok(row)
}

/// The case change's event in the incident's chain, in the same transaction as the change;
/// then commits both.
async fn record(
    txn: crate::db::WriteTxn,
    db: &Db,
    policy: &Policy,
    incident_id: i64,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    act_in(
        &txn,
        db,
        policy,
        incident_id,
        None,
        action,
        actor,
        now,
        &no_mail,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
