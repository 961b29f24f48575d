//! The incident's clocks as staff read them: the same state words everywhere (running, met,
//! breached, stopped, no longer applies), why a clock stopped, and a "provisional deadline"
//! mark beside a due instant that rests on a year no official calendar covers yet. A view model
//! and a partial (`templates/staff/deadlines.html`) of their own, so the incident page's layout
//! can change around them.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::{reference, urgency};
use crate::db::entities::incident_clock;
use crate::domain::deadlines::{Policy, local_display};
use crate::domain::locale::Locale;
use crate::domain::workflow::ActionKind;
use crate::i18n::words;

/// One clock row.
pub struct DeadlineRow {
    /// The clock in words ("remediation (model fix)").
    pub clock: String,
    /// The state word.
    pub status: &'static str,
    /// For styling: running, overdue, met, breached, stopped, cancelled.
    pub status_key: &'static str,
    /// Why it stopped ("incident rejected"; "merged into another incident: INC-12").
    pub why: String,
    pub urgency: &'static str,
    pub countdown: String,
    pub started: String,
    /// Rounded up to the minute: a due instant is never shown earlier than it is.
    pub due_local: String,
    pub due_utc: String,
    /// "provisional deadline" and why, when the due instant rests on a provisional year.
    pub provisional: Option<(&'static str, String)>,
}

pub use crate::i18n::staff::DeadlineLabels;

/// The clocks section of an incident page.
pub struct DeadlinesView {
    pub labels: DeadlineLabels,
    pub rows: Vec<DeadlineRow>,
}

/// Rounds up to the minute, for pages that show minutes.
pub fn ceil_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    let down = at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at);
    if down == at {
        at
    } else {
        down + TimeDelta::minutes(1)
    }
}

fn fmt_utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The view of an incident's clocks, as stored, at `now`.
pub fn view(
    policy: &Policy,
    clocks: Vec<incident_clock::Model>,
    duplicate_of: Option<i64>,
    now: DateTime<Utc>,
    locale: Locale,
) -> DeadlinesView {
    let rows = clocks
        .into_iter()
        .map(|c| {
            let zone = policy.rule(&c.clock).map_or(chrono_tz::UTC, |r| r.zone);
            let running = c.status == "running";
            let overdue = running && c.due_at < now;
            let (urg, countdown) = if running {
                urgency(Some(c.due_at), now, locale)
            } else {
                ("none", c.stopped_at.map(fmt_utc).unwrap_or_default())
            };
            let status_key = match c.status.as_str() {
                "running" if overdue => "overdue",
                "running" => "running",
                "met" => "met",
                "breached" => "breached",
                "stopped" => "stopped",
                _ => "cancelled",
            };
            let why = match (c.status.as_str(), c.stop_reason.as_deref()) {
                ("stopped" | "cancelled", Some(r)) => match r.parse::<ActionKind>() {
                    Ok(ActionKind::Merge) => format!(
                        "{}{}",
                        words::stop_reason(ActionKind::Merge, locale),
                        duplicate_of
                            .map(|d| format!(": {}", reference(d)))
                            .unwrap_or_default()
                    ),
                    Ok(a) => words::stop_reason(a, locale).to_owned(),
                    Err(_) => String::new(),
                },
                _ => String::new(),
            };
            let provisional = (running && c.provisional).then(|| {
                (
                    words::provisional_deadline(locale),
                    words::provisional_why(c.provisional_years.as_deref().unwrap_or(""), locale),
                )
            });
            let due = ceil_minute(c.due_at);
            DeadlineRow {
                clock: words::clock(&c.clock, locale).into_owned(),
                status: words::clock_status(&c.status, overdue, locale),
                status_key,
                why,
                urgency: urg,
                countdown,
                started: fmt_utc(c.started_at),
                due_local: local_display(due, zone),
                due_utc: fmt_utc(due),
                provisional,
            }
        })
        .collect();
    DeadlinesView {
        labels: DeadlineLabels::of(locale),
        rows,
    }
}

/// The board card's mark: "provisional deadline: remediation (model fix)" when any running
/// clock of the incident rests on a provisional year.
pub fn card_mark(clocks: Option<&Vec<String>>, locale: Locale) -> String {
    match clocks {
        Some(c) if !c.is_empty() => format!(
            "{}: {}",
            words::provisional_deadline(locale),
            c.iter()
                .map(|n| words::clock(n, locale).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    }
}
