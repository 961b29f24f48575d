use sea_orm::entity::prelude::*;

/// One link of an incident's append-only, hash-chained audit trail. Never updated or deleted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub seq: i64,
    pub at: DateTimeUtc,
    pub actor: String,
    pub actor_id: Option<i64>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// The event's data as canonical JSON text (sorted keys), exactly as hashed.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
