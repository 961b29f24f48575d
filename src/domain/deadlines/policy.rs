//! Which clocks run on an incident, from the `[deadlines]` configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};

use super::calendar::HolidayCalendar;
use super::calendars::{AUTHORITY, Authority, CalendarConfig, CalendarSet, Calendars};
use super::rules::{Unit, due_and_span};
use crate::domain::escalation::{self, Step};
use crate::domain::severity::{SeriousKind, Severity};
use crate::domain::spelling;
use crate::domain::workflow::ActionKind;

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

impl StartEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            StartEvent::FirstReport => "first_report",
            StartEvent::Triage => "triage",
            StartEvent::SeriousFlag => "serious_flag",
        }
    }
}

/// One named deadline, as configured in `[[deadlines.clocks]]`.
///
/// The filters are parsed into their types when the configuration is read, by the same
/// spelling rule as every other edge ([`crate::domain::spelling`]), so `High` in a file selects
/// the same clocks as `high` typed on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt filter key (`severity` for `severities`) would otherwise be
// dropped and widen the clock to every incident.
#[serde(deny_unknown_fields)]
pub struct ClockRule {
    pub name: String,
    pub starts_on: StartEvent,
    /// The workflow events that end the clock. Whether the end is `met` or `stopped` depends
    /// on where the event leaves the incident (see [`ClockEnd::after`]).
    pub stops_on: Vec<ActionKind>,
    pub unit: Unit,
    pub count: u32,
    /// The zone whose local dates count: `zone_configured`, else the calendar's zone (for
    /// `calendar = "authority"`, the authority's). Filled in by [`Policy::new`].
    #[serde(skip_deserializing, default = "utc")]
    pub zone: Tz,
    /// `zone` as configured, when it was.
    #[serde(rename = "zone", default, skip_serializing)]
    pub zone_configured: Option<Tz>,
    /// A configured calendar's name, a jurisdiction's code (`de`), or `authority`.
    pub calendar: String,
    /// Empty applies to every category; an entry also matches its
    /// sub-categories (`core_values` matches `core_values.terrorism`). Canonical keys.
    #[serde(default, deserialize_with = "category_keys")]
    pub categories: Vec<String>,
    /// Empty applies to every severity, else only to a known, listed severity.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Empty applies regardless; else only to incidents flagged serious with
    /// one of these kinds.
    #[serde(default)]
    pub serious: Vec<SeriousKind>,
    /// Overrides `count` for incidents flagged with that serious kind.
    #[serde(default)]
    pub count_by_serious: BTreeMap<SeriousKind, u32>,
    /// An internal SLA, which may pause, rather than a legal clock, which never
    /// does.
    #[serde(default)]
    pub internal: bool,
    /// How much an overdue clock of this kind outranks others in alert mail (higher first):
    /// an authority report before remediation before the rest.
    #[serde(default)]
    pub weight: u32,
    /// The escalation ladder (`crate::domain::escalation`). Absent: the proportionate default
    /// (50% and 75% of the time, the due instant, then weekly while overdue); empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Vec<Step>>,
}

fn utc() -> Tz {
    Tz::UTC
}

fn category_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?
        .iter()
        .map(|c| spelling::fold(c).into_owned())
        .collect())
}

impl ClockRule {
    /// The clock's escalation ladder: as configured, or the proportionate default.
    #[must_use]
    pub fn ladder(&self) -> std::borrow::Cow<'_, [Step]> {
        escalation::ladder_or_default(self.escalation.as_ref())
    }

    /// Whether `action` is one of the events that end this clock.
    #[must_use]
    pub fn stopped_by(&self, action: ActionKind) -> bool {
        self.stops_on.contains(&action)
    }

    /// The events in `stops_on` that do the clock's work (they meet it, or breach it when
    /// late), and those that end the incident without the work (they stop it).
    #[must_use]
    pub fn endings(&self) -> (Vec<ActionKind>, Vec<ActionKind>) {
        self.stops_on
            .iter()
            .copied()
            .partition(|a| !ends_without_work(*a))
    }
}

/// Whether an action can close an open incident other than by resolving it (reject, merge).
#[must_use]
pub fn ends_without_work(kind: ActionKind) -> bool {
    use crate::domain::workflow::{State, next_state};
    State::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .any(|s| next_state(kind, s, true).is_some_and(|t| !t.is_open() && t != State::Resolved))
}

/// The `[deadlines]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "PolicyConfig")]
pub struct Policy {
    pub clocks: Vec<ClockRule>,
    /// Shared by every copy of the policy: see [`Calendars`].
    pub calendars: Calendars,
    pub authority: Authority,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyConfig {
    clocks: Vec<ClockRule>,
    #[serde(default)]
    calendars: BTreeMap<String, CalendarConfig>,
    #[serde(default)]
    authority: Authority,
}

impl TryFrom<PolicyConfig> for Policy {
    type Error = String;

    fn try_from(c: PolicyConfig) -> Result<Self, String> {
        Ok(Policy::new(c.clocks, c.calendars, c.authority))
    }
}

/// What is known about an incident that decides which clocks apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockFacts<'a> {
    /// A canonical key, `group` or `group.specific_risk` (as the taxonomy parses it); `None`
    /// until anyone has chosen one.
    pub category: Option<&'a str>,
    /// `None` until triage has set it.
    pub severity: Option<Severity>,
    /// The serious-incident kind, `None` unless flagged serious.
    pub serious: Option<SeriousKind>,
}

/// One running clock with its computed due instant, and the calendar it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockDue {
    pub name: String,
    pub start: DateTime<Utc>,
    /// Never earlier than the law's instant: rounded up to the microsecond a database keeps.
    pub due: DateTime<Utc>,
    pub zone: Tz,
    pub unit: Unit,
    pub count: u32,
    /// The calendar's name (`authority` resolved to the calendar it stands for).
    pub calendar: String,
    /// The years the due instant depends on that no official arrangement covers: the due
    /// instant is provisional when this is not empty.
    pub provisional_years: Vec<i32>,
    /// The last day of the calendar's official coverage.
    pub covered_through: Option<NaiveDate>,
    /// The calendar revision the due instant was computed with.
    pub calendar_revision: i64,
}

impl ClockDue {
    /// Whether the due instant rests on a year only the statutory rule covers.
    #[must_use]
    pub fn provisional(&self) -> bool {
        !self.provisional_years.is_empty()
    }
}

/// Rounds up to the microsecond, the precision both databases keep: a stored due instant is
/// never earlier than the computed one.
#[must_use]
pub fn ceil_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let down = at.trunc_subsecs(6);
    if down == at {
        at
    } else {
        down.checked_add_signed(TimeDelta::microseconds(1))
            .unwrap_or(down)
    }
}

/// How a clock ended, decided from the event that ended it and where that event left the
/// incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEnd {
    /// The work was done by the due instant.
    Met,
    /// The work was done, late.
    Breached,
    /// The incident ended without the work (rejected, merged, or closed by another event).
    Stopped,
}

impl ClockEnd {
    /// How a running clock ends when `action` (which it `stops` on, or which closed the
    /// incident) happens at `at`, leaving the incident `open` or not, `resolved` or not.
    ///
    /// General over `stops_on`: an event the clock stops on meets it (in time or late) unless
    /// the same event ends the incident without the work (reject, merge: anything that closes
    /// it other than resolving it). An event the clock does not stop on but that closes the
    /// incident stops it: nothing did the clock's work.
    #[must_use]
    pub fn after(
        stops: bool,
        closes_without_work: bool,
        at: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> ClockEnd {
        if !stops || closes_without_work {
            ClockEnd::Stopped
        } else if at <= due {
            ClockEnd::Met
        } else {
            ClockEnd::Breached
        }
    }

    /// The stored status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ClockEnd::Met => "met",
            ClockEnd::Breached => "breached",
            ClockEnd::Stopped => "stopped",
        }
    }
}

impl Policy {
    /// A policy from its clocks and calendars. Clocks without a zone take their calendar's.
    #[must_use]
    pub fn new(
        mut clocks: Vec<ClockRule>,
        calendars: BTreeMap<String, CalendarConfig>,
        authority: Authority,
    ) -> Policy {
        let calendars = Calendars::new(calendars, authority.jurisdiction);
        let set = calendars.snapshot();
        for rule in &mut clocks {
            if let Some(z) = rule
                .zone_configured
                .or_else(|| set.get(&rule.calendar).map(|c| c.zone))
            {
                rule.zone = z;
            }
        }
        Policy {
            clocks,
            calendars,
            authority,
        }
    }

    /// The calendars as they are now.
    #[must_use]
    pub fn calendar_set(&self) -> Arc<CalendarSet> {
        self.calendars.snapshot()
    }

    /// Checks the configuration once at start-up, so a mistake stops the app
    /// instead of quietly computing wrong deadlines.
    ///
    /// # Errors
    ///
    /// Every problem found, each naming its clock or calendar, joined by "; ":
    /// an unknown calendar, a zone missing or contradicting the authority's, a count of 0 (or
    /// beyond a century), a duplicate name, an override its own filter excludes, a clock
    /// nothing stops, or a calendar year that is not right (see
    /// [`super::calendars::OfficialYear::problems`]).
    pub fn validate(&self) -> Result<(), String> {
        let set = self.calendar_set();
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for rule in &self.clocks {
            let name = &rule.name;
            if name.trim().is_empty() {
                errors.push("a clock has an empty name".to_owned());
            } else if !seen.insert(name.as_str()) {
                errors.push(format!("clock {name:?}: duplicate name"));
            }
            match set.get(&rule.calendar) {
                None => {
                    let known: Vec<&str> = set.configured_names().collect();
                    errors.push(format!(
                        "clock {name:?}: unknown calendar {:?} (configured: {}; or a \
                         jurisdiction's code, or \"authority\")",
                        rule.calendar,
                        known.join(", ")
                    ));
                }
                Some(cal)
                    if rule.calendar == AUTHORITY
                        && rule.zone_configured.is_some_and(|z| z != cal.zone) =>
                {
                    errors.push(format!(
                        "clock {name:?}: zone {} differs from the authority's ({}, {}): \
                         leave `zone` out to follow [deadlines.authority]",
                        rule.zone.name(),
                        self.authority.jurisdiction,
                        cal.zone.name()
                    ));
                }
                Some(_) => {}
            }
            check_count(name, "count", rule.unit, rule.count, &mut errors);
            if rule.stops_on.is_empty() {
                // A clock nothing can stop is always breached in the end.
                errors.push(format!("clock {name:?}: stops_on names no event"));
            }
            if rule.categories.iter().any(|c| c.is_empty()) {
                errors.push(format!("clock {name:?}: empty category filter entry"));
            }
            for e in escalation::validate(&rule.ladder()) {
                errors.push(format!("clock {name:?}: escalation {e}"));
            }
            for (kind, &count) in &rule.count_by_serious {
                if !rule.serious.is_empty() && !rule.serious.contains(kind) {
                    // The override could never be used: the filter excludes it.
                    errors.push(format!(
                        "clock {name:?}: count_by_serious names {:?}, which its serious filter excludes",
                        kind.as_str()
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
        errors.extend(set.problems());
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
        if !rule.severities.is_empty() && !rule.severities.contains(&facts.severity?) {
            return None;
        }
        if !rule.serious.is_empty() && !rule.serious.contains(&facts.serious?) {
            return None;
        }
        let overridden = facts
            .serious
            .and_then(|kind| rule.count_by_serious.get(&kind));
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
        let set = self.calendar_set();
        self.clocks
            .iter()
            .filter_map(|rule| {
                let count = self.applies(rule, facts)?;
                let start = match rule.starts_on {
                    StartEvent::FirstReport => first_report,
                    StartEvent::Triage => triaged_at?,
                    StartEvent::SeriousFlag => serious_at?,
                };
                Some(due_with(&set, rule, start, count))
            })
            .collect()
    }

    /// The due instant of `rule` over `count` units from `start`, with its calendar basis.
    #[must_use]
    pub fn due_for(&self, rule: &ClockRule, start: DateTime<Utc>, count: u32) -> ClockDue {
        due_with(&self.calendar_set(), rule, start, count)
    }
}

fn due_with(set: &CalendarSet, rule: &ClockRule, start: DateTime<Utc>, count: u32) -> ClockDue {
    // A calendar missing from an unvalidated policy falls back to plain weekends, as
    // provisional, rather than dropping a legal clock altogether.
    let weekends_only = HolidayCalendar::default();
    let cal = set.get(&rule.calendar);
    let days = cal.map_or(&weekends_only, |c| &c.days);
    let (due, span) = due_and_span(start, rule.unit, count, rule.zone, days);
    let provisional_years = match (span, cal) {
        (None, _) => Vec::new(),
        (Some((from, to)), Some(c)) => c.provisional_years(from, to),
        (Some((from, to)), None) => {
            use chrono::Datelike;
            (from.year()..=to.year()).collect()
        }
    };
    ClockDue {
        name: rule.name.clone(),
        start,
        due: ceil_micros(due),
        zone: rule.zone,
        unit: rule.unit,
        count,
        calendar: cal.map_or_else(|| rule.calendar.clone(), |c| c.name.clone()),
        provisional_years,
        covered_through: cal.and_then(super::calendars::Calendar::covered_through),
        calendar_revision: set.revision,
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
