use sea_orm::entity::prelude::*;

/// One regression case of an incident: a prompt, the bad output it drew, and the response the
/// model should give instead (`None`: the incident's desired behaviour applies).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "regression_cases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    /// The report it was made from (source `report` or `import`); `None` for a staff case.
    pub report_id: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub prompt: String,
    #[sea_orm(column_type = "Text")]
    pub bad_output: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub desired: Option<String>,
    /// `report`, `staff` or `import`.
    pub source: String,
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub retired: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
