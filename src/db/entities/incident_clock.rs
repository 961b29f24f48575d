use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_clocks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub clock: String,
    pub started_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    pub stopped_at: Option<DateTimeUtc>,
    /// running; met or breached (its work done in time, or late); stopped (the incident ended
    /// without the work: rejected, merged, closed otherwise; `stop_reason` says which); or
    /// cancelled (no longer applies: the severity or serious kind that selected it changed).
    pub status: String,
    /// When the sweep should next look at this clock (its next escalation step); None when done.
    pub next_fire_at: Option<DateTimeUtc>,
    /// The calendar the due instant was counted in (None for clocks from before calendars
    /// were recorded).
    pub calendar: Option<String>,
    /// The due instant rests on a year no official arrangement covers.
    pub provisional: bool,
    /// Those years, comma-separated.
    pub provisional_years: Option<String>,
    /// The calendar revision the due instant was computed with.
    pub calendar_revision: Option<i64>,
    /// The workflow action that ended the clock (met, breached or stopped).
    pub stop_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
