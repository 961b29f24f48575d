use sea_orm::entity::prelude::*;

/// Where a discovery report came from: the tool and its id for the finding (unique together,
/// so importing the same file twice adds nothing), and what the tool said about it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "discovery_sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `garak` or `promptfoo`.
    pub tool: String,
    pub source_id: String,
    pub report_id: i64,
    /// garak's probe, promptfoo's plugin (or provider).
    pub probe: Option<String>,
    pub detector: Option<String>,
    pub score: Option<f64>,
    pub run_id: Option<String>,
    pub model: Option<String>,
    pub imported_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
