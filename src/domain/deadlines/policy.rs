//! Which clocks run on an incident, from the `[deadlines]` configuration.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::{HolidayCalendar, is_weekend};
use super::rules::{Unit, due_instant};
use crate::domain::escalation::{self, Step};

/// Severity levels a clock may filter on; the workflow module uses the same
/// strings, and a misspelt filter would otherwise silently never match.
pub const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

/// Kinds of serious incident (EU AI Act Art. 3(49) and Art. 73(3)–(4)).
pub const SERIOUS_KINDS: &[&str] = &["death", "widespread", "critical_infrastructure", "other"];

/// Anything longer than about a century is a typo in the configuration, not a
/// deadline anybody can be held to.
const MAX_COUNT_MONTHS: u32 = 1_200;
const MAX_COUNT_DAYS: u32 = 36_600;
const MAX_COUNT_WORKING_DAYS: u32 = 26_100;
const MAX_COUNT_HOURS: u32 = 878_400;

/// The workflow event that starts a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartEvent {
    FirstReport,
    Triage,
    SeriousFlag,
}

/// One named deadline, as configured in `[[deadlines.clocks]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt filter key (`severity` for `severities`) would otherwise be
// dropped and widen the clock to every incident.
#[serde(deny_unknown_fields)]
pub struct ClockRule {
    pub name: String,
    pub starts_on: StartEvent,
    /// Workflow event names that stop the clock; the workflow module owns them.
    pub stops_on: Vec<String>,
    pub unit: Unit,
    pub count: u32,
    pub zone: Tz,
    /// Key into `Policy::calendars`.
    pub calendar: String,
    /// Empty applies to every category; an entry also matches its
    /// sub-categories (`core_values` matches `core_values.terrorism`).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Empty applies to every severity, else only to a known, listed severity.
    #[serde(default)]
    pub severities: Vec<String>,
    /// Empty applies regardless; else only to incidents flagged serious with
    /// one of these kinds.
    #[serde(default)]
    pub serious: Vec<String>,
    /// Overrides `count` for incidents flagged with that serious kind.
    #[serde(default)]
    pub count_by_serious: BTreeMap<String, u32>,
    /// An internal SLA, which may pause, rather than a legal clock, which never
    /// does.
    #[serde(default)]
    pub internal: bool,
    /// The escalation ladder (`crate::domain::escalation`). Absent: the proportionate default
    /// (50% and 75% of the time, the due instant, then weekly while overdue); empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Vec<Step>>,
}

impl ClockRule {
    /// The clock's escalation ladder: as configured, or the proportionate default.
    #[must_use]
    pub fn ladder(&self) -> std::borrow::Cow<'_, [Step]> {
        escalation::ladder_or_default(self.escalation.as_ref())
    }
}

/// The `[deadlines]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub clocks: Vec<ClockRule>,
    #[serde(default)]
    pub calendars: BTreeMap<String, HolidayCalendar>,
}

/// What is known about an incident that decides which clocks apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockFacts<'a> {
    /// `group` or `group.specific_risk`; `None` until anyone has chosen one.
    pub category: Option<&'a str>,
    /// `None` until triage has set it.
    pub severity: Option<&'a str>,
    /// The serious-incident kind, `None` unless flagged serious.
    pub serious: Option<&'a str>,
}

/// One running clock with its computed due instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockDue {
    pub name: String,
    pub start: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub zone: Tz,
    pub unit: Unit,
    pub count: u32,
}

impl Policy {
    /// Checks the configuration once at start-up, so a mistake stops the app
    /// instead of quietly computing wrong deadlines.
    ///
    /// # Errors
    ///
    /// Every problem found, each naming its clock or calendar, joined by "; ":
    /// an unknown calendar, a count of 0 (or beyond a century), a duplicate
    /// name, an unknown severity or serious kind, an override its own filter
    /// excludes, a clock nothing stops, or a calendar date that is both off and
    /// a make-up workday or a make-up workday that is not a weekend.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for rule in &self.clocks {
            let name = &rule.name;
            if name.trim().is_empty() {
                errors.push("a clock has an empty name".to_owned());
            } else if !seen.insert(name.as_str()) {
                errors.push(format!("clock {name:?}: duplicate name"));
            }
            if !self.calendars.contains_key(&rule.calendar) {
                let known: Vec<&str> = self.calendars.keys().map(String::as_str).collect();
                errors.push(format!(
                    "clock {name:?}: unknown calendar {:?} (configured: {})",
                    rule.calendar,
                    known.join(", ")
                ));
            }
            check_count(name, "count", rule.unit, rule.count, &mut errors);
            if rule.stops_on.is_empty() {
                // A clock nothing can stop is always breached in the end.
                errors.push(format!("clock {name:?}: stops_on names no event"));
            } else if rule.stops_on.iter().any(|e| e.trim().is_empty()) {
                errors.push(format!("clock {name:?}: empty event name in stops_on"));
            }
            if rule.categories.iter().any(|c| c.trim().is_empty()) {
                errors.push(format!("clock {name:?}: empty category filter entry"));
            }
            for s in &rule.severities {
                if !SEVERITIES.contains(&s.as_str()) {
                    errors.push(format!(
                        "clock {name:?}: unknown severity {s:?} (known: {})",
                        SEVERITIES.join(", ")
                    ));
                }
            }
            for s in &rule.serious {
                if !SERIOUS_KINDS.contains(&s.as_str()) {
                    errors.push(format!(
                        "clock {name:?}: unknown serious kind {s:?} (known: {})",
                        SERIOUS_KINDS.join(", ")
                    ));
                }
            }
            for e in escalation::validate(&rule.ladder()) {
                errors.push(format!("clock {name:?}: escalation {e}"));
            }
            for (kind, &count) in &rule.count_by_serious {
                if !SERIOUS_KINDS.contains(&kind.as_str()) {
                    errors.push(format!(
                        "clock {name:?}: count_by_serious has unknown serious kind {kind:?} (known: {})",
                        SERIOUS_KINDS.join(", ")
                    ));
                } else if !rule.serious.is_empty() && !rule.serious.contains(kind) {
                    // The override could never be used: the filter excludes it.
                    errors.push(format!(
                        "clock {name:?}: count_by_serious names {kind:?}, which its serious filter excludes"
                    ));
                }
                check_count(
                    name,
                    &format!("count_by_serious.{kind}"),
                    rule.unit,
                    count,
                    &mut errors,
                );
            }
        }
        for (cal_name, cal) in &self.calendars {
            for d in cal.off.intersection(&cal.workdays) {
                errors.push(format!(
                    "calendar {cal_name:?}: {d} is both off and a workday"
                ));
            }
            for d in cal.workdays.iter().filter(|d| !is_weekend(**d)) {
                // Make-up days are Saturdays or Sundays; a weekday here is
                // almost certainly a date typed wrong.
                errors.push(format!(
                    "calendar {cal_name:?}: workday {d} is not a Saturday or Sunday"
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The rule of the clock called `name`.
    #[must_use]
    pub fn rule(&self, name: &str) -> Option<&ClockRule> {
        self.clocks.iter().find(|r| r.name == name)
    }

    /// When a new clock called `name` that runs from `start` to `due` first escalates (`None`
    /// when its ladder is empty or the clock is not configured).
    #[must_use]
    pub fn first_fire(
        &self,
        name: &str,
        start: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let rule = self.rule(name)?;
        escalation::next_fire(&rule.ladder(), start, due, None).map(|(at, _)| at)
    }

    /// `Some(count)` to use when `rule` applies to an incident with `facts`,
    /// else `None`.
    ///
    /// A filter on a fact that is still unknown does not match: the clock
    /// starts once the fact is known (and then from its own start event, which
    /// the unknown fact does not move).
    #[must_use]
    pub fn applies(&self, rule: &ClockRule, facts: &ClockFacts) -> Option<u32> {
        if !rule.categories.is_empty() {
            let category = facts.category?;
            if !rule
                .categories
                .iter()
                .any(|entry| category_matches(entry, category))
            {
                return None;
            }
        }
        if !rule.severities.is_empty() {
            let severity = facts.severity?;
            if !rule.severities.iter().any(|s| s == severity) {
                return None;
            }
        }
        if !rule.serious.is_empty() {
            let kind = facts.serious?;
            if !rule.serious.iter().any(|s| s == kind) {
                return None;
            }
        }
        let overridden = facts
            .serious
            .and_then(|kind| rule.count_by_serious.get(kind));
        Some(overridden.copied().unwrap_or(rule.count))
    }

    /// Due instants of every clock that applies, given the instants of the
    /// start events that have happened (`first_report` always; `triage` and
    /// `serious_flag` when they have happened), in configuration order.
    #[must_use]
    pub fn clocks_for(
        &self,
        facts: &ClockFacts,
        first_report: DateTime<Utc>,
        triaged_at: Option<DateTime<Utc>>,
        serious_at: Option<DateTime<Utc>>,
    ) -> Vec<ClockDue> {
        // A calendar missing from an unvalidated policy falls back to plain
        // weekends rather than dropping a legal clock altogether.
        let weekends_only = HolidayCalendar::default();
        self.clocks
            .iter()
            .filter_map(|rule| {
                let count = self.applies(rule, facts)?;
                let start = match rule.starts_on {
                    StartEvent::FirstReport => first_report,
                    StartEvent::Triage => triaged_at?,
                    StartEvent::SeriousFlag => serious_at?,
                };
                let cal = self.calendars.get(&rule.calendar).unwrap_or(&weekends_only);
                Some(ClockDue {
                    name: rule.name.clone(),
                    start,
                    due: due_instant(start, rule.unit, count, rule.zone, cal),
                    zone: rule.zone,
                    unit: rule.unit,
                    count,
                })
            })
            .collect()
    }
}

fn category_matches(entry: &str, category: &str) -> bool {
    category
        .strip_prefix(entry)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn check_count(clock: &str, field: &str, unit: Unit, count: u32, errors: &mut Vec<String>) {
    let max = match unit {
        Unit::CalendarMonths => MAX_COUNT_MONTHS,
        Unit::Days => MAX_COUNT_DAYS,
        Unit::WorkingDays => MAX_COUNT_WORKING_DAYS,
        Unit::Hours => MAX_COUNT_HOURS,
    };
    if count == 0 {
        errors.push(format!("clock {clock:?}: {field} must be at least 1"));
    } else if count > max {
        errors.push(format!(
            "clock {clock:?}: {field} {count} exceeds the maximum of {max}"
        ));
    }
}
