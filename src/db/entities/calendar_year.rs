use sea_orm::entity::prelude::*;

/// An official year imported with `rectify calendar import` (one per calendar and year; a new
/// import of the same year replaces it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_years")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub calendar: String,
    pub year: i32,
    #[sea_orm(column_type = "Text")]
    pub source: String,
    /// JSON array of "YYYY-MM-DD".
    #[sea_orm(column_type = "Text")]
    pub holidays: String,
    #[sea_orm(column_type = "Text")]
    pub workdays: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub file: Option<String>,
    /// The calendar revision that brought it.
    pub revision: i64,
    pub imported_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
