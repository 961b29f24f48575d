use sea_orm::entity::prelude::*;

/// A message between staff and one reporter (see the migration for the rules).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reporter_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: i64,
    pub incident_id: i64,
    pub direction: String,
    pub batch: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub author: String,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
    pub redacted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
