//! Calendars that know what they cover (issue 12): imported official years, the calendar's
//! revision history, the compliance notices sent about provisional years, and on each clock
//! the calendar it was computed with, whether it rests on a provisional year, and why it ended.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CalendarYears {
    Table,
    Id,
    Calendar,
    Year,
    Source,
    Holidays,
    Workdays,
    File,
    Revision,
    ImportedAt,
}

#[derive(DeriveIden)]
enum CalendarRevisions {
    Table,
    Id,
    At,
    Kind,
    ConfigHash,
    ConfigText,
    Description,
}

#[derive(DeriveIden)]
enum CalendarNotices {
    Table,
    Id,
    Key,
    Calendar,
    Year,
    Kind,
    SentAt,
}

#[derive(DeriveIden)]
enum IncidentClocks {
    Table,
    Calendar,
    Provisional,
    ProvisionalYears,
    CalendarRevision,
    StopReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CalendarYears::Table)
                .col(big_pk_auto(CalendarYears::Id))
                .col(string(CalendarYears::Calendar))
                .col(integer(CalendarYears::Year))
                .col(text(CalendarYears::Source))
                // JSON arrays of "YYYY-MM-DD".
                .col(text(CalendarYears::Holidays))
                .col(text(CalendarYears::Workdays))
                .col(text_null(CalendarYears::File))
                .col(big_integer(CalendarYears::Revision))
                .col(timestamp_with_time_zone(CalendarYears::ImportedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("calendar_years_unique")
                .table(CalendarYears::Table)
                .col(CalendarYears::Calendar)
                .col(CalendarYears::Year)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CalendarRevisions::Table)
                .col(big_pk_auto(CalendarRevisions::Id))
                .col(timestamp_with_time_zone(CalendarRevisions::At))
                // "config" (start-up found the configuration's calendars changed) or "import".
                .col(string(CalendarRevisions::Kind))
                .col(string(CalendarRevisions::ConfigHash))
                .col(text(CalendarRevisions::ConfigText))
                .col(text(CalendarRevisions::Description))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CalendarNotices::Table)
                .col(big_pk_auto(CalendarNotices::Id))
                .col(string(CalendarNotices::Key))
                .col(string(CalendarNotices::Calendar))
                .col(integer(CalendarNotices::Year))
                // "provisional" or "official".
                .col(string(CalendarNotices::Kind))
                .col(timestamp_with_time_zone(CalendarNotices::SentAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("calendar_notices_unique")
                .table(CalendarNotices::Table)
                .col(CalendarNotices::Key)
                .unique()
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement.
        for col in [
            ColumnDef::new(IncidentClocks::Calendar)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(IncidentClocks::Provisional)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(IncidentClocks::ProvisionalYears)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(IncidentClocks::CalendarRevision)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(IncidentClocks::StopReason)
                .string()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(IncidentClocks::Table)
                    .add_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            IncidentClocks::Calendar,
            IncidentClocks::Provisional,
            IncidentClocks::ProvisionalYears,
            IncidentClocks::CalendarRevision,
            IncidentClocks::StopReason,
        ] {
            m.alter_table(
                Table::alter()
                    .table(IncidentClocks::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for t in [
            CalendarNotices::Table.into_iden(),
            CalendarRevisions::Table.into_iden(),
            CalendarYears::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
