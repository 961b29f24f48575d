use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub tracking_code: String,
    pub incident_id: i64,
    pub received_at: DateTimeUtc,
    pub locale: String,
    pub channel: String,
    #[sea_orm(column_type = "Text")]
    pub output: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub model_version: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub url: Option<String>,
    pub category: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub reporter_name: Option<String>,
    pub reporter_email: Option<String>,
    pub fingerprint: String,
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
