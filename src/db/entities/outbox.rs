use sea_orm::entity::prelude::*;

/// A mail waiting to be delivered, written in the transaction of the change that caused it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: DateTimeUtc,
    pub kind: String,
    pub recipient: String,
    pub locale: String,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body_text: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub body_html: Option<String>,
    /// pending, sent or dead.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    /// Stable across retries, so a receiver can drop a copy that a crash made us send again.
    #[sea_orm(unique)]
    pub message_id: String,
    pub incident_id: Option<i64>,
    pub report_id: Option<i64>,
    /// The escalation steps the mail tells of, sent as its `X-Rectify-Steps` header.
    #[sea_orm(column_type = "Text", nullable)]
    pub steps: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
