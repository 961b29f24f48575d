//! What the public status page shows for a tracking code.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::entities::{incident, report};
use super::{Db, DbError};
use crate::domain::tracking_code::TrackingCode;
use crate::domain::workflow::State;

pub struct StatusView {
    /// The report the tracking code names.
    pub report_id: i64,
    /// The incident that now carries the report (after merges).
    pub incident_id: i64,
    pub received_at: DateTime<Utc>,
    pub state: State,
    pub updated_at: DateTime<Utc>,
    pub rejection_reasons: Option<String>,
}

/// The report's incident, following merges to the incident that now carries it. A report still
/// in intake's inbox (a flood's) is stored first, so its reporter sees it as any other.
pub async fn lookup(db: &Db, code: &TrackingCode) -> Result<Option<StatusView>, DbError> {
    let find = || {
        report::Entity::find()
            .filter(report::Column::TrackingCode.eq(code.as_str()))
            .one(&db.conn)
    };
    let rep = match find().await? {
        Some(rep) => rep,
        None if db.open_from_inbox(code.as_str()).await? => {
            find().await?.ok_or(DbError::NotFound)?
        }
        None => return Ok(None),
    };
    let mut id = rep.incident_id;
    // Merges form a chain; a bound stops a corrupted cycle from looping forever.
    for _ in 0..16 {
        let inc = incident::Entity::find_by_id(id)
            .one(&db.conn)
            .await?
            .ok_or(DbError::NotFound)?;
        let state: State = inc
            .state
            .parse()
            .map_err(|_| DbError::Setup(format!("incident {id} has an unknown state")))?;
        match (state, inc.duplicate_of) {
            (State::Duplicate, Some(target)) => id = target,
            _ => {
                return Ok(Some(StatusView {
                    report_id: rep.id,
                    incident_id: id,
                    received_at: rep.received_at,
                    state,
                    updated_at: inc.last_event_at.max(rep.received_at),
                    rejection_reasons: if state == State::Rejected {
                        inc.rejection_reasons
                    } else {
                        None
                    },
                }));
            }
        }
    }
    Err(DbError::Setup(format!(
        "incident {id}: merge chain too long"
    )))
}
