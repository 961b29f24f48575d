use sea_orm::entity::prelude::*;

/// A verification run posted by the training pipeline. `run_id` is the pipeline's; the body's
/// hash and the answer given make a repeated post answer the same.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub run_id: String,
    pub model_version: String,
    pub body_hash: String,
    /// The JSON answer given to the first post.
    #[sea_orm(column_type = "Text")]
    pub answer: String,
    /// The event actor who posted it (`token:NAME`).
    pub actor: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
