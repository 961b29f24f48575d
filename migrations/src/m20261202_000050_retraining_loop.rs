//! The loop into retraining: regression cases, machine tokens, verification runs posted by the
//! training pipeline, and the source ids of imported red-team findings.
//!
//! Incidents gain the desired behaviour `plan_fix` records (a reference answer or a refusal),
//! and `complaint_at`: when the first report from the public arrived. Discovery reports (red-team
//! imports) are not complaints, so an incident they alone opened has no `acknowledge` clock
//! until a complaint joins it; every incident before this migration was opened by one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    ComplaintAt,
    FirstReportedAt,
    DesiredKind,
    DesiredResponse,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MachineTokens {
    Table,
    Id,
    Name,
    Scopes,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RegressionCases {
    Table,
    Id,
    IncidentId,
    ReportId,
    Prompt,
    BadOutput,
    Desired,
    Source,
    Model,
    ModelVersion,
    Retired,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VerificationRuns {
    Table,
    Id,
    RunId,
    ModelVersion,
    BodyHash,
    Answer,
    Actor,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum VerificationResults {
    Table,
    Id,
    RunPk,
    CaseId,
    IncidentId,
    Output,
    Passed,
    Score,
    Detector,
}

#[derive(DeriveIden)]
enum DiscoverySources {
    Table,
    Id,
    Tool,
    SourceId,
    ReportId,
    Probe,
    Detector,
    Score,
    RunId,
    Model,
    ImportedAt,
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
        for col in [
            timestamp_with_time_zone_null(Incidents::ComplaintAt),
            string_null(Incidents::DesiredKind),
            text_null(Incidents::DesiredResponse),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Incidents::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.exec_stmt(
            Query::update()
                .table(Incidents::Table)
                .value(
                    Incidents::ComplaintAt,
                    Expr::col(Incidents::FirstReportedAt),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MachineTokens::Table)
                .col(big_pk_auto(MachineTokens::Id))
                .col(string_uniq(MachineTokens::Name))
                .col(string(MachineTokens::Scopes))
                .col(string_uniq(MachineTokens::TokenHash))
                .col(timestamp_with_time_zone(MachineTokens::CreatedAt))
                .col(timestamp_with_time_zone_null(MachineTokens::LastUsedAt))
                .col(timestamp_with_time_zone_null(MachineTokens::RevokedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RegressionCases::Table)
                .col(big_pk_auto(RegressionCases::Id))
                .col(big_integer(RegressionCases::IncidentId))
                .col(big_integer_null(RegressionCases::ReportId))
                .col(text(RegressionCases::Prompt))
                .col(text(RegressionCases::BadOutput))
                .col(text_null(RegressionCases::Desired))
                .col(string(RegressionCases::Source))
                .col(string_null(RegressionCases::Model))
                .col(string_null(RegressionCases::ModelVersion))
                .col(boolean(RegressionCases::Retired).default(false))
                .col(timestamp_with_time_zone(RegressionCases::CreatedAt))
                .col(timestamp_with_time_zone(RegressionCases::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(RegressionCases::Table, RegressionCases::IncidentId)
                        .to(Incidents::Table, Incidents::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(RegressionCases::Table, RegressionCases::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "regression_cases_incident",
            RegressionCases::Table,
            &["incident_id", "id"],
        ))
        .await?;
        // One case per report: the case a report becomes.
        m.create_index(
            index(
                "regression_cases_report",
                RegressionCases::Table,
                &["report_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        // Every report with a prompt is a case (intake makes them from now on).
        let backfill = "INSERT INTO regression_cases \
             (incident_id, report_id, prompt, bad_output, desired, source, model, model_version, \
              retired, created_at, updated_at) \
             SELECT incident_id, id, prompt, output, NULL, 'report', model, model_version, \
              false, received_at, received_at \
             FROM reports WHERE prompt IS NOT NULL AND prompt <> '' ORDER BY id";
        m.get_connection().execute_unprepared(backfill).await?;

        m.create_table(
            Table::create()
                .table(VerificationRuns::Table)
                .col(big_pk_auto(VerificationRuns::Id))
                .col(string_uniq(VerificationRuns::RunId))
                .col(string(VerificationRuns::ModelVersion))
                .col(string(VerificationRuns::BodyHash))
                .col(text(VerificationRuns::Answer))
                .col(string(VerificationRuns::Actor))
                .col(timestamp_with_time_zone(VerificationRuns::ReceivedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(VerificationResults::Table)
                .col(big_pk_auto(VerificationResults::Id))
                .col(big_integer(VerificationResults::RunPk))
                .col(big_integer(VerificationResults::CaseId))
                .col(big_integer(VerificationResults::IncidentId))
                .col(text(VerificationResults::Output))
                .col(boolean(VerificationResults::Passed))
                .col(double_null(VerificationResults::Score))
                .col(string_null(VerificationResults::Detector))
                .foreign_key(
                    ForeignKey::create()
                        .from(VerificationResults::Table, VerificationResults::RunPk)
                        .to(VerificationRuns::Table, VerificationRuns::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(VerificationResults::Table, VerificationResults::CaseId)
                        .to(RegressionCases::Table, RegressionCases::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "verification_results_case",
            VerificationResults::Table,
            &["case_id", "run_pk"],
        ))
        .await?;
        m.create_index(index(
            "verification_results_incident",
            VerificationResults::Table,
            &["incident_id", "run_pk"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(DiscoverySources::Table)
                .col(big_pk_auto(DiscoverySources::Id))
                .col(string(DiscoverySources::Tool))
                .col(string(DiscoverySources::SourceId))
                .col(big_integer(DiscoverySources::ReportId))
                .col(string_null(DiscoverySources::Probe))
                .col(string_null(DiscoverySources::Detector))
                .col(double_null(DiscoverySources::Score))
                .col(string_null(DiscoverySources::RunId))
                .col(string_null(DiscoverySources::Model))
                .col(timestamp_with_time_zone(DiscoverySources::ImportedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(DiscoverySources::Table, DiscoverySources::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .to_owned(),
        )
        .await?;
        // Re-importing a file adds nothing: one report per finding of a tool.
        m.create_index(
            index(
                "discovery_sources_once",
                DiscoverySources::Table,
                &["tool", "source_id"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "discovery_sources_report",
            DiscoverySources::Table,
            &["report_id"],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            DiscoverySources::Table.into_iden(),
            VerificationResults::Table.into_iden(),
            VerificationRuns::Table.into_iden(),
            RegressionCases::Table.into_iden(),
            MachineTokens::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        for c in [
            Incidents::ComplaintAt.into_iden(),
            Incidents::DesiredKind.into_iden(),
            Incidents::DesiredResponse.into_iden(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Incidents::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
