//! Everything the staff incident page shows, read in one place: the incident, its reports,
//! clocks and events, the staff (to name them), and the incidents it was split from or merged
//! with (to link both ways).

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{incident, incident_clock, incident_event, report, user};
use super::{Db, DbError};

pub struct IncidentRecord {
    pub incident: incident::Model,
    pub reports: Vec<report::Model>,
    pub clocks: Vec<incident_clock::Model>,
    /// Newest first.
    pub events: Vec<incident_event::Model>,
    pub users: Vec<user::Model>,
    /// The incident a report of this one was split out of.
    pub split_from: Option<i64>,
    /// Incidents merged into this one (duplicates pointing here).
    pub merged_from: Vec<i64>,
}

pub async fn load(db: &Db, id: i64) -> Result<Option<IncidentRecord>, DbError> {
    let Some(incident) = incident::Entity::find_by_id(id).one(&db.conn).await? else {
        return Ok(None);
    };
    let reports = report::Entity::find()
        .filter(report::Column::IncidentId.eq(id))
        .order_by_asc(report::Column::Id)
        .all(&db.conn)
        .await?;
    let clocks = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .order_by_asc(incident_clock::Column::DueAt)
        .all(&db.conn)
        .await?;
    let events = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(id))
        .order_by_desc(incident_event::Column::Seq)
        .all(&db.conn)
        .await?;
    let users = super::users::list(db).await?;
    // The event data is canonical JSON with sorted keys, so the new incident's number is
    // followed by a comma (report_id comes after it) or the closing brace.
    let split_from = incident_event::Entity::find()
        .select_only()
        .column(incident_event::Column::IncidentId)
        .filter(incident_event::Column::Action.eq("split_out"))
        .filter(
            Condition::any()
                .add(incident_event::Column::Data.like(format!("%\"new_incident_id\":{id},%")))
                .add(incident_event::Column::Data.like(format!("%\"new_incident_id\":{id}}}%"))),
        )
        .into_tuple::<i64>()
        .one(&db.conn)
        .await?;
    let merged_from = incident::Entity::find()
        .select_only()
        .column(incident::Column::Id)
        .filter(incident::Column::DuplicateOf.eq(id))
        .order_by_asc(incident::Column::Id)
        .into_tuple::<i64>()
        .all(&db.conn)
        .await?;
    Ok(Some(IncidentRecord {
        incident,
        reports,
        clocks,
        events,
        users,
        split_from,
        merged_from,
    }))
}
