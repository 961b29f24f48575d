//! `rectify retention run [--dry-run] [--now]` and the sweep's retention pass: erase the
//! personal data of reports whose incident closed `retention.reporter_days` ago.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Settings;
use crate::db::Db;
use crate::db::retention::Due;
use crate::db::workflow::ActError;

pub async fn run(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<Due>, ActError> {
    crate::db::retention::run(
        db,
        &settings.deadlines,
        now,
        settings.retention.reporter_days,
        dry_run,
    )
    .await
}

/// One line per report, nothing when there is nothing to erase.
pub fn describe(due: &[Due], dry_run: bool) -> String {
    let mut out = String::new();
    for d in due {
        let _ = writeln!(
            out,
            "{} report {} ({}) of INC-{} closed {}: {}",
            if dry_run { "WOULD ERASE" } else { "ERASED" },
            d.report_id,
            d.tracking_code,
            d.incident_id,
            d.closed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            d.fields.join(", "),
        );
    }
    out
}

/// `rectify retention run`: what to print.
pub async fn command(
    db: &Db,
    settings: &Settings,
    now: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<String> {
    let now = super::cli::parse_now(now)?;
    let due = run(db, settings, now, dry_run).await?;
    let mut out = format!(
        "retention at {} (reporter data kept {} days after closing){}: {} report(s) {}\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
        settings.retention.reporter_days,
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        due.len(),
        if dry_run { "would be erased" } else { "erased" },
    );
    out.push_str(&describe(&due, dry_run));
    Ok(out)
}
