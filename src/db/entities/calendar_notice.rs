use sea_orm::entity::prelude::*;

/// A compliance notice sent about a calendar year ("provisional": running clocks came to rest
/// on it; "official": its arrangement was loaded). The unique key makes each one go out once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub key: String,
    pub calendar: String,
    pub year: i32,
    pub kind: String,
    pub sent_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
