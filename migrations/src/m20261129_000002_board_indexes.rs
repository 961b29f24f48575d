//! Indexes for the board's filters: a category group and a severity within a column are
//! index ranges rather than scans of the whole column.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in [
            (
                "incidents_board_category",
                ["state", "category", "next_due_at"],
            ),
            (
                "incidents_board_severity",
                ["state", "severity", "next_due_at"],
            ),
        ] {
            let mut i = Index::create();
            i.name(name).table(Alias::new("incidents"));
            for c in cols {
                i.col(Alias::new(c));
            }
            m.create_index(i.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["incidents_board_category", "incidents_board_severity"] {
            m.drop_index(
                Index::drop()
                    .name(name)
                    .table(Alias::new("incidents"))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
