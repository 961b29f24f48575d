use sea_orm::entity::prelude::*;

/// The projection of an incident's events; `version` guards concurrent updates.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub state: String,
    pub version: i64,
    pub category: String,
    pub severity: Option<String>,
    pub assignee_id: Option<i64>,
    pub title: String,
    pub fingerprint: String,
    pub first_reported_at: DateTimeUtc,
    pub report_count: i32,
    pub evidence_hold: bool,
    pub serious: Option<String>,
    pub serious_at: Option<DateTimeUtc>,
    pub authority_reported_at: Option<DateTimeUtc>,
    pub triaged_at: Option<DateTimeUtc>,
    pub duplicate_of: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub rejection_reasons: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub filter_rule: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub fix_plan: Option<String>,
    pub training_run: Option<String>,
    pub candidate_model_version: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub last_event_at: DateTimeUtc,
    pub last_event_hash: String,
    pub next_due_at: Option<DateTimeUtc>,
    pub next_due_clock: Option<String>,
    pub created_at: DateTimeUtc,
    /// When the first report from the public (not a discovery import) arrived: the
    /// `acknowledge` clock runs from it, and not at all while it is `None`.
    pub complaint_at: Option<DateTimeUtc>,
    /// `reference` or `refusal`, from `plan_fix` (see `domain::cases::DesiredBehaviour`).
    pub desired_kind: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub desired_response: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
