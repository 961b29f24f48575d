//! The core schema: reports, incidents and their clocks, the append-only event log, users and
//! sessions, the outbox, and the escalations that have fired.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    Role,
    PasswordHash,
    Disabled,
    Locale,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    State,
    Version,
    Category,
    Severity,
    AssigneeId,
    Title,
    Fingerprint,
    FirstReportedAt,
    ReportCount,
    EvidenceHold,
    Serious,
    SeriousAt,
    AuthorityReportedAt,
    TriagedAt,
    DuplicateOf,
    RejectionReasons,
    FilterRule,
    FixPlan,
    TrainingRun,
    CandidateModelVersion,
    ResolvedAt,
    LastEventAt,
    LastEventHash,
    NextDueAt,
    NextDueClock,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IncidentClocks {
    Table,
    Id,
    IncidentId,
    Clock,
    StartedAt,
    DueAt,
    StoppedAt,
    Status,
    NextFireAt,
}

#[derive(DeriveIden)]
enum IncidentEvents {
    Table,
    Id,
    IncidentId,
    Seq,
    At,
    Actor,
    ActorId,
    Action,
    FromState,
    ToState,
    Data,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    TrackingCode,
    IncidentId,
    ReceivedAt,
    Locale,
    Channel,
    Output,
    Prompt,
    Model,
    ModelVersion,
    Url,
    Category,
    Description,
    ReporterName,
    ReporterEmail,
    Fingerprint,
    ErasedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    CreatedAt,
    Kind,
    Recipient,
    Locale,
    Subject,
    BodyText,
    BodyHtml,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
    MessageId,
    IncidentId,
    ReportId,
}

#[derive(DeriveIden)]
enum Escalations {
    Table,
    Id,
    IncidentId,
    Clock,
    Step,
    FiredAt,
    OutboxId,
}

fn index(name: &str, table: impl IntoIden, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(big_pk_auto(Users::Id))
                .col(string_uniq(Users::Email))
                .col(string(Users::Name))
                .col(string(Users::Role))
                .col(string(Users::PasswordHash))
                .col(boolean(Users::Disabled).default(false))
                .col(string(Users::Locale).default("en"))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(string(Sessions::Id).primary_key())
                .col(big_integer(Sessions::UserId))
                .col(string(Sessions::CsrfToken))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index("sessions_user", Sessions::Table, &["user_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(Incidents::Table)
                .col(big_pk_auto(Incidents::Id))
                .col(string(Incidents::State))
                .col(big_integer(Incidents::Version))
                .col(string(Incidents::Category))
                .col(string_null(Incidents::Severity))
                .col(big_integer_null(Incidents::AssigneeId))
                .col(string(Incidents::Title))
                .col(string(Incidents::Fingerprint))
                .col(timestamp_with_time_zone(Incidents::FirstReportedAt))
                .col(integer(Incidents::ReportCount))
                .col(boolean(Incidents::EvidenceHold).default(false))
                .col(string_null(Incidents::Serious))
                .col(timestamp_with_time_zone_null(Incidents::SeriousAt))
                .col(timestamp_with_time_zone_null(
                    Incidents::AuthorityReportedAt,
                ))
                .col(timestamp_with_time_zone_null(Incidents::TriagedAt))
                .col(big_integer_null(Incidents::DuplicateOf))
                .col(text_null(Incidents::RejectionReasons))
                .col(text_null(Incidents::FilterRule))
                .col(text_null(Incidents::FixPlan))
                .col(string_null(Incidents::TrainingRun))
                .col(string_null(Incidents::CandidateModelVersion))
                .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
                .col(timestamp_with_time_zone(Incidents::LastEventAt))
                .col(string(Incidents::LastEventHash))
                .col(timestamp_with_time_zone_null(Incidents::NextDueAt))
                .col(string_null(Incidents::NextDueClock))
                .col(timestamp_with_time_zone(Incidents::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Incidents::Table, Incidents::AssigneeId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
        // Intake looks up the open incident with a report's fingerprint.
        m.create_index(index(
            "incidents_fingerprint",
            Incidents::Table,
            &["fingerprint", "state"],
        ))
        .await?;
        // The board: one column per state, cards by nearest deadline.
        m.create_index(index(
            "incidents_board",
            Incidents::Table,
            &["state", "next_due_at"],
        ))
        .await?;
        m.create_index(index(
            "incidents_assignee",
            Incidents::Table,
            &["assignee_id", "state"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(IncidentClocks::Table)
                .col(big_pk_auto(IncidentClocks::Id))
                .col(big_integer(IncidentClocks::IncidentId))
                .col(string(IncidentClocks::Clock))
                .col(timestamp_with_time_zone(IncidentClocks::StartedAt))
                .col(timestamp_with_time_zone(IncidentClocks::DueAt))
                .col(timestamp_with_time_zone_null(IncidentClocks::StoppedAt))
                .col(string(IncidentClocks::Status))
                .col(timestamp_with_time_zone_null(IncidentClocks::NextFireAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(IncidentClocks::Table, IncidentClocks::IncidentId)
                        .to(Incidents::Table, Incidents::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "incident_clocks_unique",
                IncidentClocks::Table,
                &["incident_id", "clock"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        // The sweep reads only the clocks whose next escalation step has come.
        m.create_index(index(
            "incident_clocks_next_fire",
            IncidentClocks::Table,
            &["next_fire_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(IncidentEvents::Table)
                .col(big_pk_auto(IncidentEvents::Id))
                .col(big_integer(IncidentEvents::IncidentId))
                .col(big_integer(IncidentEvents::Seq))
                .col(timestamp_with_time_zone(IncidentEvents::At))
                .col(string(IncidentEvents::Actor))
                .col(big_integer_null(IncidentEvents::ActorId))
                .col(string(IncidentEvents::Action))
                .col(string_null(IncidentEvents::FromState))
                .col(string(IncidentEvents::ToState))
                .col(text(IncidentEvents::Data))
                .col(string(IncidentEvents::PrevHash))
                .col(string(IncidentEvents::Hash))
                .foreign_key(
                    ForeignKey::create()
                        .from(IncidentEvents::Table, IncidentEvents::IncidentId)
                        .to(Incidents::Table, Incidents::Id),
                )
                .to_owned(),
        )
        .await?;
        // One event per (incident, seq): two writers cannot both append the same link.
        m.create_index(
            index(
                "incident_events_chain",
                IncidentEvents::Table,
                &["incident_id", "seq"],
            )
            .unique()
            .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Reports::Table)
                .col(big_pk_auto(Reports::Id))
                .col(string_uniq(Reports::TrackingCode))
                .col(big_integer(Reports::IncidentId))
                .col(timestamp_with_time_zone(Reports::ReceivedAt))
                .col(string(Reports::Locale))
                .col(string(Reports::Channel))
                .col(text(Reports::Output))
                .col(text_null(Reports::Prompt))
                .col(string_null(Reports::Model))
                .col(string_null(Reports::ModelVersion))
                .col(text_null(Reports::Url))
                .col(string(Reports::Category))
                .col(text(Reports::Description))
                .col(string_null(Reports::ReporterName))
                .col(string_null(Reports::ReporterEmail))
                .col(string(Reports::Fingerprint))
                .col(timestamp_with_time_zone_null(Reports::ErasedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Reports::Table, Reports::IncidentId)
                        .to(Incidents::Table, Incidents::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index("reports_incident", Reports::Table, &["incident_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(big_pk_auto(Outbox::Id))
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .col(string(Outbox::Kind))
                .col(string(Outbox::Recipient))
                .col(string(Outbox::Locale))
                .col(string(Outbox::Subject))
                .col(text(Outbox::BodyText))
                .col(text_null(Outbox::BodyHtml))
                .col(string(Outbox::Status))
                .col(integer(Outbox::Attempts).default(0))
                .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Outbox::LeaseUntil))
                .col(text_null(Outbox::LastError))
                .col(timestamp_with_time_zone_null(Outbox::SentAt))
                .col(string_uniq(Outbox::MessageId))
                .col(big_integer_null(Outbox::IncidentId))
                .col(big_integer_null(Outbox::ReportId))
                .to_owned(),
        )
        .await?;
        // The delivery worker claims due pending rows in order.
        m.create_index(index(
            "outbox_due",
            Outbox::Table,
            &["status", "next_attempt_at"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Escalations::Table)
                .col(big_pk_auto(Escalations::Id))
                .col(big_integer(Escalations::IncidentId))
                .col(string(Escalations::Clock))
                .col(string(Escalations::Step))
                .col(timestamp_with_time_zone(Escalations::FiredAt))
                .col(big_integer_null(Escalations::OutboxId))
                .foreign_key(
                    ForeignKey::create()
                        .from(Escalations::Table, Escalations::IncidentId)
                        .to(Incidents::Table, Incidents::Id),
                )
                .to_owned(),
        )
        .await?;
        // Each step of each clock of each incident fires at most once, ever.
        m.create_index(
            index(
                "escalations_once",
                Escalations::Table,
                &["incident_id", "clock", "step"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Escalations::Table.into_iden(),
            Outbox::Table.into_iden(),
            Reports::Table.into_iden(),
            IncidentEvents::Table.into_iden(),
            IncidentClocks::Table.into_iden(),
            Incidents::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
