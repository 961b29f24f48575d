use sea_orm::entity::prelude::*;

/// One case's result in a verification run, kept as evidence (the output verbatim).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `verification_runs.id`.
    pub run_pk: i64,
    pub case_id: i64,
    pub incident_id: i64,
    #[sea_orm(column_type = "Text")]
    pub output: String,
    pub passed: bool,
    pub score: Option<f64>,
    pub detector: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
