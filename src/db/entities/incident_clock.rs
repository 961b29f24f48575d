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
    /// running, met, breached (stopped after its due instant) or cancelled (no longer applies).
    pub status: String,
    /// When the sweep should next look at this clock (its next escalation step); None when done.
    pub next_fire_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
