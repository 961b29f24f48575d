//! The schema's history. Each migration is frozen once released: it defines its own table and
//! column names and imports nothing from the application, so later changes to entities cannot
//! rewrite the past.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_core;
mod m20261129_000002_board_indexes;
mod m20261129_000003_outbox_claim_index;
mod m20261202_000010_calendars;
mod m20261202_000020_alert_mail;
mod m20261202_000030_staff_search;
mod m20261202_000040_ready_probe;
mod m20261202_000050_retraining_loop;
mod m20261202_000060_reporter_messages;
mod m20261202_000061_attachments;
mod m20261202_000062_reply_attachments;
mod m20261202_000080_search_short_words;
mod m20261202_000090_search_counts;
mod m20261202_000100_pg_search_queue;
mod m20261202_000110_pg_title_queue;
mod m20261203_000120_board_counts;
mod m20261203_000130_assignee_deadline;
mod m20261206_000140_search_by_incident;
mod m20261206_000150_intake_inbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core::Migration),
            Box::new(m20261129_000002_board_indexes::Migration),
            Box::new(m20261129_000003_outbox_claim_index::Migration),
            Box::new(m20261202_000010_calendars::Migration),
            Box::new(m20261202_000020_alert_mail::Migration),
            Box::new(m20261202_000030_staff_search::Migration),
            Box::new(m20261202_000040_ready_probe::Migration),
            Box::new(m20261202_000050_retraining_loop::Migration),
            Box::new(m20261202_000060_reporter_messages::Migration),
            Box::new(m20261202_000061_attachments::Migration),
            Box::new(m20261202_000062_reply_attachments::Migration),
            Box::new(m20261202_000080_search_short_words::Migration),
            Box::new(m20261202_000090_search_counts::Migration),
            Box::new(m20261202_000100_pg_search_queue::Migration),
            Box::new(m20261202_000110_pg_title_queue::Migration),
            Box::new(m20261203_000120_board_counts::Migration),
            Box::new(m20261203_000130_assignee_deadline::Migration),
            Box::new(m20261206_000140_search_by_incident::Migration),
            Box::new(m20261206_000150_intake_inbox::Migration),
        ]
    }
}
