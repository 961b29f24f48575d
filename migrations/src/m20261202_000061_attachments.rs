//! Attachments (issue 17): screenshots with reports, re-encoded, and staff evidence files. The
//! bytes live content-addressed (by SHA-256) under `attachments.dir`; a row says whose they are.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    Sha256,
    MediaType,
    Size,
    Filename,
    ReportId,
    IncidentId,
    UploadedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Attachments::Table)
                .col(big_pk_auto(Attachments::Id))
                .col(string(Attachments::Sha256))
                .col(string(Attachments::MediaType))
                .col(big_integer(Attachments::Size))
                .col(text(Attachments::Filename))
                .col(big_integer_null(Attachments::ReportId))
                .col(big_integer(Attachments::IncidentId))
                .col(string(Attachments::UploadedBy))
                .col(timestamp_with_time_zone(Attachments::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("attachments_incident")
                .table(Attachments::Table)
                .col(Attachments::IncidentId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Attachments::Table).to_owned())
            .await
    }
}
