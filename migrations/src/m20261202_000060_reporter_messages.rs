//! Messages both ways between staff and reporters (issue 17). One row per recipient report for
//! staff messages (so a report keeps its thread through merges and splits) and one per reply;
//! `batch` groups the rows of one staff message sent to several reporters. `read_at` on a
//! reply is when staff first opened the incident after it came: until then the board marks
//! the incident as having unread reporter mail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReporterMessages {
    Table,
    Id,
    ReportId,
    IncidentId,
    Direction,
    Batch,
    Body,
    Author,
    CreatedAt,
    ReadAt,
    RedactedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReporterMessages::Table)
                .col(big_pk_auto(ReporterMessages::Id))
                .col(big_integer(ReporterMessages::ReportId))
                .col(big_integer(ReporterMessages::IncidentId))
                // "staff" (to the reporter) or "reporter" (a reply)
                .col(string(ReporterMessages::Direction))
                .col(string(ReporterMessages::Batch))
                .col(text(ReporterMessages::Body))
                .col(string(ReporterMessages::Author))
                .col(timestamp_with_time_zone(ReporterMessages::CreatedAt))
                .col(timestamp_with_time_zone_null(ReporterMessages::ReadAt))
                .col(timestamp_with_time_zone_null(ReporterMessages::RedactedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("reporter_messages_report")
                .table(ReporterMessages::Table)
                .col(ReporterMessages::ReportId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("reporter_messages_incident")
                .table(ReporterMessages::Table)
                .col(ReporterMessages::IncidentId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReporterMessages::Table).to_owned())
            .await
    }
}
