//! Alert mail (issue 13): which escalation steps a mail tells of, kept beside the mail as its
//! `X-Rectify-Steps` header rather than in the reader's text; and when each person was last told
//! about each clock, so a repeating overdue step reminds them at most once per
//! `escalation.repeat_min_hours`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Steps,
}

#[derive(DeriveIden)]
enum AlertNotices {
    Table,
    Id,
    IncidentId,
    Clock,
    Recipient,
    ToldAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(ColumnDef::new(Outbox::Steps).text().null().to_owned())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlertNotices::Table)
                .col(big_pk_auto(AlertNotices::Id))
                .col(big_integer(AlertNotices::IncidentId))
                .col(string(AlertNotices::Clock))
                // Lowercased address.
                .col(string(AlertNotices::Recipient))
                .col(timestamp_with_time_zone(AlertNotices::ToldAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("alert_notices_unique")
                .table(AlertNotices::Table)
                .col(AlertNotices::IncidentId)
                .col(AlertNotices::Clock)
                .col(AlertNotices::Recipient)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AlertNotices::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .drop_column(Outbox::Steps)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
