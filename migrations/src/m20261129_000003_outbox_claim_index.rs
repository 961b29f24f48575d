//! The outbox worker claims pending rows in id order after the last it saw: with an index on
//! (status, id) a claim reads the ten rows it takes, not every pending row (a backlog of
//! thousands during a flood of reports made each claim scan and sort them all).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "outbox_pending";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NAME)
                .table(Alias::new("outbox"))
                .col(Alias::new("status"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(NAME)
                .table(Alias::new("outbox"))
                .to_owned(),
        )
        .await
    }
}
