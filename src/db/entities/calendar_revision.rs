use sea_orm::entity::prelude::*;

/// One change to the calendars: an import, or the configuration's calendars found changed at
/// start-up. The highest id is the current revision; every instance reloads when it rises.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_revisions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// "config" or "import".
    pub kind: String,
    /// SHA-256 of the configuration's calendars (as of this revision).
    pub config_hash: String,
    #[sea_orm(column_type = "Text")]
    pub config_text: String,
    /// What changed, for the recompute events and the log.
    #[sea_orm(column_type = "Text")]
    pub description: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
