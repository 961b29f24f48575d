//! A reporter's reply may carry one attachment (issue 17): the attachment's row names the reply
//! message it came with, so the incident page shows it beside the reply.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attachments {
    Table,
    MessageId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Attachments::Table)
                .add_column(big_integer_null(Attachments::MessageId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Attachments::Table)
                .drop_column(Attachments::MessageId)
                .to_owned(),
        )
        .await
    }
}
