use sea_orm::entity::prelude::*;

/// A file stored content-addressed under `attachments.dir`: a report's screenshot (re-encoded)
/// or an incident's evidence.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sha256: String,
    pub media_type: String,
    pub size: i64,
    #[sea_orm(column_type = "Text")]
    pub filename: String,
    pub report_id: Option<i64>,
    /// The reporter's reply the file came with, if it came with one.
    pub message_id: Option<i64>,
    pub incident_id: i64,
    pub uploaded_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
