//! What an alert mail says (issue 13): the escalations a sweep has for one person, turned into
//! one entry per incident, worst first, each clock with what is true at the sweep instant (not
//! the step that fired), and the counts its summary and subject give.
//!
//! Pure: the sweep passes `now` and the clocks; words are the mail's business.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::escalation::{Occurrence, Step};

/// Where a clock stands at the sweep instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Past its due instant by this much (zero: due this very instant).
    Overdue(TimeDelta),
    /// Due later on the sweep's local day in the clock's legal zone, in this much time.
    DueToday(TimeDelta),
    /// Due on a later local day: this many days from the sweep's local date.
    DueInDays(i64),
}

/// The urgency class of a clock or an incident, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Overdue on a legal clock (one that never pauses).
    OverdueLegal,
    /// Overdue on an internal clock.
    Overdue,
    /// Due now or later today.
    DueToday,
    /// Due within 7 days.
    DueSoon,
    /// Due later.
    Later,
}

impl Class {
    pub fn is_overdue(self) -> bool {
        matches!(self, Class::OverdueLegal | Class::Overdue)
    }
}

/// The last local day of a period: a deadline at local midnight ends the day before (24:00).
fn due_day(due: DateTime<Utc>, zone: Tz) -> NaiveDate {
    (due - TimeDelta::nanoseconds(1))
        .with_timezone(&zone)
        .date_naive()
}

/// Where a clock due at `due` stands at `now`, counted on local dates in its legal `zone`.
pub fn standing(due: DateTime<Utc>, zone: Tz, now: DateTime<Utc>) -> Standing {
    if now >= due {
        return Standing::Overdue(now - due);
    }
    let days = (due_day(due, zone) - now.with_timezone(&zone).date_naive()).num_days();
    if days <= 0 {
        Standing::DueToday(due - now)
    } else {
        Standing::DueInDays(days)
    }
}

impl Standing {
    pub fn class(self, legal: bool) -> Class {
        match self {
            Standing::Overdue(d) if d > TimeDelta::zero() => {
                if legal {
                    Class::OverdueLegal
                } else {
                    Class::Overdue
                }
            }
            Standing::Overdue(_) | Standing::DueToday(_) => Class::DueToday,
            Standing::DueInDays(d) if d <= 7 => Class::DueSoon,
            Standing::DueInDays(_) => Class::Later,
        }
    }
}

/// One clock of one incident that escalated to the reader in this sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub incident_id: i64,
    /// The clock's configured name.
    pub clock: String,
    /// A legal clock (never pauses) rather than an internal SLA.
    pub legal: bool,
    /// Configured weight: higher comes first among overdue clocks.
    pub weight: u32,
    pub due_at: DateTime<Utc>,
    pub zone: Tz,
    /// The steps that fired (in order), for the mail's metadata; empty in a digest.
    pub steps: Vec<String>,
}

/// A clock as an entry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockLine {
    pub hit: Hit,
    pub standing: Standing,
    pub class: Class,
}

/// One incident in a mail: its clocks, worst first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub incident_id: i64,
    pub clocks: Vec<ClockLine>,
}

impl Entry {
    /// The worst of its clocks.
    pub fn worst(&self) -> &ClockLine {
        &self.clocks[0]
    }

    pub fn class(&self) -> Class {
        self.worst().class
    }
}

/// The counts a mail's summary and subject give.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub incidents: usize,
    /// Incidents with at least one overdue clock.
    pub overdue_incidents: usize,
    /// Every overdue clock listed.
    pub overdue_clocks: usize,
    /// Overdue legal clocks by clock name, in weight order.
    pub overdue_legal: Vec<(String, usize)>,
    /// Incidents whose worst clock is due today (or this instant).
    pub due_today: usize,
    /// Incidents whose worst clock is due within 7 days.
    pub due_soon: usize,
    /// Incidents whose worst clock is due later.
    pub later: usize,
}

/// The mail's content for one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub now: DateTime<Utc>,
    /// Worst first.
    pub entries: Vec<Entry>,
    pub summary: Summary,
}

impl Alert {
    /// The single worst clock, if any.
    pub fn worst(&self) -> Option<(&Entry, &ClockLine)> {
        self.entries.first().map(|e| (e, e.worst()))
    }
}

/// Orders two clocks, worse first: by class; overdue ones by weight then lateness; the others
/// by how soon they fall due, then weight.
fn worse(a: &ClockLine, b: &ClockLine, now: DateTime<Utc>) -> Ordering {
    a.class.cmp(&b.class).then_with(|| {
        // How late (positive) or early (negative).
        let (la, lb) = (now - a.hit.due_at, now - b.hit.due_at);
        if a.class.is_overdue() {
            b.hit.weight.cmp(&a.hit.weight).then(lb.cmp(&la))
        } else {
            lb.cmp(&la).then(b.hit.weight.cmp(&a.hit.weight))
        }
        .then_with(|| a.hit.clock.cmp(&b.hit.clock))
    })
}

/// Groups `hits` by incident (one entry each, a clock once however many steps fired), each
/// clock with its standing at `now`, and orders the entries worst first.
pub fn build(hits: Vec<Hit>, now: DateTime<Utc>) -> Alert {
    let mut by_incident: BTreeMap<i64, Vec<ClockLine>> = BTreeMap::new();
    for hit in hits {
        let clocks = by_incident.entry(hit.incident_id).or_default();
        if let Some(same) = clocks.iter_mut().find(|c| c.hit.clock == hit.clock) {
            for s in hit.steps {
                if !same.hit.steps.contains(&s) {
                    same.hit.steps.push(s);
                }
            }
            continue;
        }
        let standing = standing(hit.due_at, hit.zone, now);
        let class = standing.class(hit.legal);
        clocks.push(ClockLine {
            hit,
            standing,
            class,
        });
    }
    let mut entries: Vec<Entry> = by_incident
        .into_iter()
        .map(|(incident_id, mut clocks)| {
            clocks.sort_by(|a, b| worse(a, b, now));
            Entry {
                incident_id,
                clocks,
            }
        })
        .collect();
    entries
        .sort_by(|a, b| worse(a.worst(), b.worst(), now).then(a.incident_id.cmp(&b.incident_id)));

    let mut summary = Summary {
        incidents: entries.len(),
        ..Summary::default()
    };
    let mut legal: Vec<(u32, String, usize)> = Vec::new();
    for e in &entries {
        let overdue: Vec<&ClockLine> = e.clocks.iter().filter(|c| c.class.is_overdue()).collect();
        if !overdue.is_empty() {
            summary.overdue_incidents += 1;
        }
        summary.overdue_clocks += overdue.len();
        for c in overdue.iter().filter(|c| c.class == Class::OverdueLegal) {
            match legal.iter_mut().find(|(_, n, _)| *n == c.hit.clock) {
                Some(l) => l.2 += 1,
                None => legal.push((c.hit.weight, c.hit.clock.clone(), 1)),
            }
        }
        match e.class() {
            Class::DueToday => summary.due_today += 1,
            Class::DueSoon => summary.due_soon += 1,
            Class::Later => summary.later += 1,
            _ => {}
        }
    }
    legal.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    summary.overdue_legal = legal.into_iter().map(|(_, n, c)| (n, c)).collect();
    Alert {
        now,
        entries,
        summary,
    }
}

/// Whether `o` comes from a repeating step (an overdue reminder): those tell a person about a
/// clock at most once per `escalation.repeat_min_hours`, whatever the step's own interval.
pub fn is_repeat(steps: &[Step], o: &Occurrence) -> bool {
    steps.get(o.step).is_some_and(|s| s.every.is_some())
}

/// The step names of a clock as the metadata header lists them: a long catch-up run shortened
/// to its first and last ("overdue_61d…overdue_93d(33)").
pub fn steps_tag(steps: &[String]) -> String {
    match steps {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first},{second}"),
        [first, .., last] => format!("{first}..{last}({})", steps.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SH: Tz = chrono_tz::Asia::Shanghai;
    const BX: Tz = chrono_tz::Europe::Brussels;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hit(id: i64, clock: &str, legal: bool, weight: u32, due: &str, zone: Tz) -> Hit {
        Hit {
            incident_id: id,
            clock: clock.into(),
            legal,
            weight,
            due_at: t(due),
            zone,
            steps: vec!["at_due".into()],
        }
    }

    #[test]
    fn standing_counts_local_days_in_the_legal_zone() {
        // Due at 24:00 on 2026-12-18 in Shanghai (16:00 UTC).
        let due = SH.with_ymd_and_hms(2026, 12, 19, 0, 0, 0).unwrap().to_utc();
        let at = |s| standing(due, SH, t(s));
        assert_eq!(
            at("2026-12-12T01:00:00Z"),
            Standing::DueInDays(6),
            "12-12 09:00 local: 6 days to the 18th"
        );
        assert_eq!(
            at("2026-12-18T01:00:00Z"),
            Standing::DueToday(TimeDelta::hours(15))
        );
        assert_eq!(
            at("2026-12-18T16:00:00Z"),
            Standing::Overdue(TimeDelta::zero())
        );
        assert_eq!(
            at("2026-12-22T17:00:00Z"),
            Standing::Overdue(TimeDelta::days(4) + TimeDelta::hours(1))
        );
        // Late evening UTC is already the next day in Shanghai.
        assert_eq!(
            at("2026-12-17T17:00:00Z"),
            Standing::DueToday(TimeDelta::hours(23))
        );
    }

    #[test]
    fn a_past_due_clock_is_overdue_whatever_step_fired() {
        let now = t("2027-03-06T00:00:00Z");
        let a = build(
            vec![hit(1, "remediate", true, 80, "2027-03-01T16:00:00Z", SH)],
            now,
        );
        assert_eq!(a.entries[0].class(), Class::OverdueLegal);
        assert_eq!(a.summary.overdue_clocks, 1);
        assert_eq!(a.summary.overdue_legal, vec![("remediate".to_owned(), 1)]);
    }

    #[test]
    fn one_entry_per_incident_worst_first() {
        let now = t("2027-03-06T00:00:00Z");
        let hits = vec![
            // 1: remediation 4 days late, triage (internal) 90 days late.
            hit(1, "remediate", true, 80, "2027-03-01T16:00:00Z", SH),
            hit(1, "triage", false, 10, "2026-12-04T16:00:00Z", SH),
            // 2: authority report 2 days late: weight beats lateness.
            hit(2, "authority_report", true, 100, "2027-03-03T23:00:00Z", BX),
            // 3: due in 5 days.
            hit(3, "remediate", true, 80, "2027-03-10T16:00:00Z", SH),
            // 4: due later today (Shanghai).
            hit(4, "remediate", true, 80, "2027-03-06T15:00:00Z", SH),
            // 5: remediation 30 days late: before 1 (same weight, later).
            hit(5, "remediate", true, 80, "2027-02-04T16:00:00Z", SH),
            // 6: only an internal clock overdue.
            hit(6, "triage", false, 10, "2027-03-01T16:00:00Z", SH),
            // The same clock again (a second step in the same sweep) folds in.
            Hit {
                steps: vec!["overdue_1w".into()],
                ..hit(1, "remediate", true, 80, "2027-03-01T16:00:00Z", SH)
            },
        ];
        let a = build(hits, now);
        let order: Vec<i64> = a.entries.iter().map(|e| e.incident_id).collect();
        assert_eq!(order, [2, 5, 1, 6, 4, 3]);
        let one = a.entries.iter().find(|e| e.incident_id == 1).unwrap();
        assert_eq!(one.clocks.len(), 2);
        assert_eq!(one.clocks[0].hit.clock, "remediate");
        assert_eq!(one.clocks[0].hit.steps, ["at_due", "overdue_1w"]);
        assert_eq!(a.summary.incidents, 6);
        assert_eq!(a.summary.overdue_incidents, 4);
        assert_eq!(a.summary.overdue_clocks, 5);
        assert_eq!(
            a.summary.overdue_legal,
            vec![
                ("authority_report".to_owned(), 1),
                ("remediate".to_owned(), 2)
            ]
        );
        assert_eq!(a.summary.due_today, 1);
        assert_eq!(a.summary.due_soon, 1);
        assert_eq!(a.worst().unwrap().1.hit.clock, "authority_report");
    }

    #[test]
    fn steps_tag_shortens_a_catch_up() {
        let names: Vec<String> = (61..=93).map(|d| format!("overdue_{d}d")).collect();
        assert_eq!(steps_tag(&names), "overdue_61d..overdue_93d(33)");
        assert_eq!(steps_tag(&names[..1]), "overdue_61d");
    }
}
