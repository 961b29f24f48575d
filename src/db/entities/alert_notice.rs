use sea_orm::entity::prelude::*;

/// When a person was last told about one clock of one incident: a repeating overdue step tells
/// them again only after `escalation.repeat_min_hours`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub clock: String,
    /// Lowercased address.
    pub recipient: String,
    pub told_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
