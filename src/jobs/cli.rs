//! What the `sweep` and `outbox` commands do, so that `main.rs` only parses and dispatches.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Settings;
use crate::db::{Db, outbox};
use crate::mail::transport::Transport;
use crate::mail::worker::{Mode, Retry, deliver_pending};

/// A `sweep` or `outbox` command, as parsed by `main.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Sweep { now: Option<String>, dry_run: bool },
    OutboxList { status: Option<String>, limit: u64 },
    OutboxDeliver,
    OutboxRetry { ids: Vec<i64> },
}

/// Runs a command; returns what to print.
pub async fn run(db: &Db, settings: &Settings, job: Job) -> anyhow::Result<String> {
    match job {
        Job::Sweep { now, dry_run } => sweep(db, settings, now.as_deref(), dry_run).await,
        Job::OutboxList { status, limit } => outbox_list(db, status.as_deref(), limit).await,
        Job::OutboxDeliver => outbox_deliver(db, settings).await,
        Job::OutboxRetry { ids } => outbox_retry(db, &ids).await,
    }
}

/// Reads `--now`: RFC 3339, or the current time when absent.
pub fn parse_now(now: Option<&str>) -> anyhow::Result<DateTime<Utc>> {
    match now {
        None => Ok(Utc::now()),
        Some(s) => Ok(DateTime::parse_from_rfc3339(s)
            .map_err(|e| anyhow::anyhow!("--now {s:?} is not RFC 3339: {e}"))?
            .with_timezone(&Utc)),
    }
}

/// `rectify sweep [--now] [--dry-run]`: one sweep; returns what to print.
pub async fn sweep(
    db: &Db,
    settings: &Settings,
    now: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<String> {
    let now = parse_now(now)?;
    let report = super::sweep::sweep(db, settings, now, dry_run).await?;
    Ok(super::sweep::describe(&report, now, dry_run))
}

/// `rectify outbox list [--status S]`: a table of rows, newest first.
pub async fn outbox_list(db: &Db, status: Option<&str>, limit: u64) -> anyhow::Result<String> {
    if let Some(s) = status
        && ![outbox::PENDING, outbox::SENT, outbox::DEAD].contains(&s)
    {
        anyhow::bail!("--status must be pending, sent or dead, not {s:?}");
    }
    let rows = outbox::list(db, status, limit).await?;
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6}  {:<7}  {:>8}  {:<12}  {:<32}  {:<20}  {:<20}  subject / last error",
        "id", "status", "attempts", "kind", "recipient", "created", "next/sent"
    );
    for r in &rows {
        let when = match (r.status.as_str(), r.sent_at) {
            ("sent", Some(s)) => t(s),
            ("dead", _) => "-".to_owned(),
            _ => t(r.next_attempt_at),
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<7}  {:>8}  {:<12}  {:<32}  {:<20}  {:<20}  {}{}",
            r.id,
            r.status,
            r.attempts,
            r.kind,
            r.recipient,
            t(r.created_at),
            when,
            r.subject,
            r.last_error
                .as_deref()
                .map(|e| format!("  [{e}]"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "{} row(s)", rows.len());
    Ok(out)
}

/// `rectify outbox deliver`: one pass over every pending row (backoff or not, since an operator
/// asked), with the configured transport.
pub async fn outbox_deliver(db: &Db, settings: &Settings) -> anyhow::Result<String> {
    let transport = Transport::from_settings(&settings.mail).map_err(anyhow::Error::msg)?;
    let pass = deliver_pending(
        db,
        &transport,
        &settings.mail.from,
        &Retry::from_settings(&settings.mail),
        Utc::now(),
        Mode::All,
    )
    .await?;
    let mut out = format!(
        "delivered {}, failed {} (will be retried), dead {}",
        pass.sent, pass.failed, pass.dead
    );
    if pass.unreachable {
        out.push_str("; the mail server could not be reached, so the pass stopped early");
    }
    out.push('\n');
    Ok(out)
}

/// `rectify outbox retry [ID…]`: dead rows back to pending.
pub async fn outbox_retry(db: &Db, ids: &[i64]) -> anyhow::Result<String> {
    let n = outbox::requeue_dead(db, ids, Utc::now()).await?;
    Ok(format!("{n} dead row(s) queued again\n"))
}
