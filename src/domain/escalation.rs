//! The escalation ladder (DESIGN.md §2): the points on a clock at which people are told, and who.
//!
//! Pure: a ladder is configuration ([`Step`]s, kept on each clock rule of the deadline policy),
//! and everything here computes from a clock's start and due instants. Nothing reads the system
//! clock; the sweep passes its `now` in.
//!
//! A step falls either at an offset from the due instant (`-30d`, `0`, `+7d`) or when a share of
//! the clock's length has elapsed (`50%`). A step with `every` repeats at that interval after its
//! first instant for as long as the clock runs (overdue reminders). Every occurrence has a stable
//! name derived from where it falls, which the `escalations` table keys on, so each fires at most
//! once per incident and clock, ever:
//!
//! | falls at | name |
//! |---|---|
//! | 30 days before the due instant | `before_30d` (hours or minutes when not whole days: `before_36h`) |
//! | the due instant | `at_due` |
//! | 7, 14, … days after | `overdue_1w`, `overdue_2w`, … (days, hours or minutes when not whole weeks) |
//! | 50% of the clock's length | `elapsed_50pct` |
//!
//! Occurrences that would fall before the clock started (30 days before a 2-day deadline) are
//! not part of that clock's ladder.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Who a step tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The incident's assignee; the leads when nobody (or a disabled account) is assigned.
    Assignee,
    /// Every active user with role `lead`.
    Leads,
    /// Every active user with role `compliance`, plus the configured compliance addresses.
    Compliance,
}

impl Recipient {
    pub const ALL: [Recipient; 3] = [Recipient::Assignee, Recipient::Leads, Recipient::Compliance];

    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Assignee => "assignee",
            Recipient::Leads => "leads",
            Recipient::Compliance => "compliance",
        }
    }
}

/// Where a step falls on its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum When {
    /// An offset from the due instant: negative before it, zero at it, positive after it.
    FromDue(TimeDelta),
    /// When this many percent of the clock's length (start to due) have elapsed.
    Elapsed(u32),
}

/// Longest offset a ladder may use: anything beyond is a typo, not a reminder.
const MAX_OFFSET: TimeDelta = TimeDelta::days(3660);
/// Shortest repeat interval: a reminder more often than hourly is noise.
const MIN_EVERY: TimeDelta = TimeDelta::hours(1);
const MAX_PERCENT: u32 = 1000;

/// Parses `30d`, `2w`, `36h`, `90m` (no sign) into a duration.
fn parse_span(s: &str) -> Result<TimeDelta, String> {
    let s = s.trim();
    let unit_at = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit (w, d, h or m)"))?;
    let (n, unit) = s.split_at(unit_at);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} does not start with a number"))?;
    let d = match unit {
        "w" => TimeDelta::try_weeks(n),
        "d" => TimeDelta::try_days(n),
        "h" => TimeDelta::try_hours(n),
        "m" => TimeDelta::try_minutes(n),
        _ => None,
    };
    d.ok_or_else(|| format!("{s:?}: the unit must be w, d, h or m"))
}

/// `30d`, `36h`, `90m`, `45s`: the largest unit that divides `d` exactly (weeks when `weeks`).
fn span_name(d: TimeDelta, weeks: bool) -> String {
    let s = d.num_seconds();
    if weeks && s % (7 * 86_400) == 0 {
        format!("{}w", s / (7 * 86_400))
    } else if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The stable name of an occurrence at offset `d` from the due instant.
fn offset_name(d: TimeDelta) -> String {
    match d.cmp(&TimeDelta::zero()) {
        std::cmp::Ordering::Less => format!("before_{}", span_name(-d, false)),
        std::cmp::Ordering::Equal => "at_due".to_owned(),
        std::cmp::Ordering::Greater => format!("overdue_{}", span_name(d, true)),
    }
}

impl FromStr for When {
    type Err = String;

    /// `-30d`, `0` (or `due`), `+7d`, `-36h`, `50%`.
    fn from_str(s: &str) -> Result<When, String> {
        let t = s.trim();
        if t == "0" || t == "due" {
            return Ok(When::FromDue(TimeDelta::zero()));
        }
        if let Some(p) = t.strip_suffix('%') {
            let p: u32 = p
                .trim()
                .parse()
                .map_err(|_| format!("{s:?}: a share of the clock is a whole percentage"))?;
            return Ok(When::Elapsed(p));
        }
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'-') => (-1, &t[1..]),
            Some(b'+') => (1, &t[1..]),
            _ => {
                return Err(format!(
                    "{s:?}: write an offset from the due instant with its sign (-30d, +7d), 0, or a share of the clock (50%)"
                ));
            }
        };
        Ok(When::FromDue(parse_span(rest)? * sign))
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            When::FromDue(d) if d == TimeDelta::zero() => f.write_str("0"),
            When::FromDue(d) if d < TimeDelta::zero() => write!(f, "-{}", span_name(-d, false)),
            When::FromDue(d) => write!(f, "+{}", span_name(d, false)),
            When::Elapsed(p) => write!(f, "{p}%"),
        }
    }
}

impl TryFrom<String> for When {
    type Error = String;
    fn try_from(s: String) -> Result<When, String> {
        s.parse()
    }
}

impl From<When> for String {
    fn from(w: When) -> String {
        w.to_string()
    }
}

impl Serialize for When {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<When, D::Error> {
        // Accept a bare 0 as well as strings.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
        }
        match Raw::deserialize(d)? {
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::I(0) => Ok(When::FromDue(TimeDelta::zero())),
            Raw::I(i) => Err(serde::de::Error::custom(format!(
                "{i}: write an offset with its unit, e.g. \"-30d\""
            ))),
        }
    }
}

/// A repeat interval (`7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Every(pub TimeDelta);

impl Serialize for Every {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&span_name(self.0, false))
    }
}

impl<'de> Deserialize<'de> for Every {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Every, D::Error> {
        let s = String::deserialize(d)?;
        parse_span(&s).map(Every).map_err(serde::de::Error::custom)
    }
}

/// One rung of a ladder, as configured in `[[deadlines.clocks.escalation]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at: When,
    /// Repeats at this interval after `at` while the clock runs (only for offsets from due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Every>,
    pub to: Vec<Recipient>,
}

impl Step {
    pub fn new(at: When, to: &[Recipient]) -> Step {
        Step {
            at,
            every: None,
            to: to.to_vec(),
        }
    }

    pub fn repeating(at: When, every: TimeDelta, to: &[Recipient]) -> Step {
        Step {
            at,
            every: Some(Every(every)),
            to: to.to_vec(),
        }
    }
}

/// Whether an occurrence falls before, at, or after the due instant. Ordered by urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Before,
    AtDue,
    Overdue,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::AtDue => "at_due",
            Phase::Overdue => "overdue",
        }
    }
}

/// One point in time at which a ladder tells someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub at: DateTime<Utc>,
    /// Stable: the `step` of the escalation row.
    pub name: String,
    /// Sorted, without duplicates.
    pub to: Vec<Recipient>,
    pub phase: Phase,
    /// Position of its step in the ladder.
    pub step: usize,
}

/// The ladder a clock without an `escalation` list gets: proportionate to any length.
pub fn default_ladder() -> Vec<Step> {
    use Recipient::*;
    vec![
        Step::new(When::Elapsed(50), &[Assignee]),
        Step::new(When::Elapsed(75), &[Assignee, Leads]),
        Step::new(
            When::FromDue(TimeDelta::zero()),
            &[Assignee, Leads, Compliance],
        ),
        Step::repeating(
            When::FromDue(TimeDelta::days(7)),
            TimeDelta::days(7),
            &[Assignee, Leads, Compliance],
        ),
    ]
}

/// The configured ladder, or the default one when none is configured.
pub fn ladder_or_default(configured: Option<&Vec<Step>>) -> Cow<'_, [Step]> {
    match configured {
        Some(v) => Cow::Borrowed(v.as_slice()),
        None => Cow::Owned(default_ladder()),
    }
}

fn sorted_recipients(to: &[Recipient]) -> Vec<Recipient> {
    let set: BTreeSet<Recipient> = to.iter().copied().collect();
    set.into_iter().collect()
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Whether two steps ever fall on the same offset, and so share a name.
fn overlap(a: &Step, b: &Step) -> bool {
    match (a.at, a.every, b.at, b.every) {
        (When::Elapsed(p), _, When::Elapsed(q), _) => p == q,
        (When::FromDue(x), None, When::FromDue(y), None) => x == y,
        (When::FromDue(x), Some(Every(e)), When::FromDue(y), None)
        | (When::FromDue(y), None, When::FromDue(x), Some(Every(e))) => {
            let (x, y, e) = (x.num_seconds(), y.num_seconds(), e.num_seconds());
            e > 0 && y >= x && (y - x) % e == 0
        }
        (When::FromDue(x), Some(Every(e)), When::FromDue(y), Some(Every(f))) => {
            // x + i·e = y + j·f has a solution in whole numbers iff gcd(e, f) divides y − x,
            // and then infinitely many with i, j ≥ 0.
            let g = gcd(e.num_seconds(), f.num_seconds());
            g > 0 && (y.num_seconds() - x.num_seconds()) % g == 0
        }
        _ => false,
    }
}

/// Checks a ladder; every problem found, each as a sentence.
pub fn validate(steps: &[Step]) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let which = format!("step {} (at {})", i + 1, s.at);
        if s.to.is_empty() {
            errors.push(format!("{which}: `to` names nobody"));
        }
        match s.at {
            When::Elapsed(p) if p == 0 || p > MAX_PERCENT => {
                errors.push(format!("{which}: a share must be 1% to {MAX_PERCENT}%"));
            }
            When::FromDue(d) if d.abs() > MAX_OFFSET => {
                errors.push(format!("{which}: offsets are limited to 3660 days"));
            }
            _ => {}
        }
        if let Some(Every(e)) = s.every {
            if matches!(s.at, When::Elapsed(_)) {
                errors.push(format!(
                    "{which}: `every` repeats offsets from the due instant, not shares"
                ));
            } else if e < MIN_EVERY || e > MAX_OFFSET {
                errors.push(format!("{which}: `every` must be 1h to 3660d"));
            }
        }
        if let Some(j) = steps[..i].iter().position(|other| overlap(other, s)) {
            errors.push(format!(
                "{which}: falls on the same point as step {} at least once; the two would share a name and fire once between them",
                j + 1
            ));
        }
    }
    errors
}

/// Every occurrence of a ladder on a clock that started at `started` and falls due at `due`, in
/// time order (ties in ladder order). Endless when a step repeats.
pub fn occurrences<'a>(
    steps: &'a [Step],
    started: DateTime<Utc>,
    due: DateTime<Utc>,
) -> impl Iterator<Item = Occurrence> + 'a {
    // For each step, the index k of its next occurrence (None once exhausted).
    let mut next_k: Vec<Option<u32>> = vec![Some(0); steps.len()];
    let length = due - started;
    let instant = move |step: &Step, k: u32| -> Option<(DateTime<Utc>, String)> {
        match (step.at, step.every) {
            (When::Elapsed(p), _) => {
                if k > 0 {
                    return None;
                }
                // Milliseconds keep the arithmetic exact enough and far from overflow.
                let ms = length.num_milliseconds().checked_mul(i64::from(p))? / 100;
                let at = started.checked_add_signed(TimeDelta::try_milliseconds(ms)?)?;
                Some((at, format!("elapsed_{p}pct")))
            }
            (When::FromDue(d), every) => {
                let offset = match every {
                    None if k > 0 => return None,
                    None => d,
                    Some(Every(e)) => d.checked_add(&e.checked_mul(i32::try_from(k).ok()?)?)?,
                };
                Some((due.checked_add_signed(offset)?, offset_name(offset)))
            }
        }
    };
    std::iter::from_fn(move || {
        loop {
            let mut best: Option<(DateTime<Utc>, usize, String)> = None;
            for (i, k) in next_k.iter_mut().enumerate() {
                let Some(kk) = *k else { continue };
                match instant(&steps[i], kk) {
                    Some((at, name)) => {
                        if best.as_ref().is_none_or(|(b, _, _)| at < *b) {
                            best = Some((at, i, name));
                        }
                    }
                    None => *k = None,
                }
            }
            let (at, i, name) = best?;
            next_k[i] = next_k[i].map(|k| k + 1);
            if at < started {
                continue; // before the clock existed: not part of its ladder
            }
            let phase = match at.cmp(&due) {
                std::cmp::Ordering::Less => Phase::Before,
                std::cmp::Ordering::Equal => Phase::AtDue,
                std::cmp::Ordering::Greater => Phase::Overdue,
            };
            return Some(Occurrence {
                at,
                name,
                to: sorted_recipients(&steps[i].to),
                phase,
                step: i,
            });
        }
    })
}

/// The first occurrence strictly after `after` (the first of all when `None`): when a clock's
/// next step falls, and which it is.
pub fn next_fire(
    steps: &[Step],
    started: DateTime<Utc>,
    due: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, String)> {
    occurrences(steps, started, due)
        .find(|o| after.is_none_or(|a| o.at > a))
        .map(|o| (o.at, o.name))
}

/// What a sweep at `now` does with one running clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The occurrences to fire now: their time has come and they have not fired before.
    pub fire: Vec<Occurrence>,
    /// The first occurrence after `now` that has not fired: the clock's next fire time.
    pub next: Option<Occurrence>,
}

/// The occurrences due at `now` that `fired` does not already hold, and the next one after.
/// `fired` holds names: it is finite, so the search for `next` ends even on an endless ladder.
pub fn due_at(
    steps: &[Step],
    started: DateTime<Utc>,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    fired: &dyn Fn(&str) -> bool,
) -> Due {
    let mut fire = Vec::new();
    let mut next = None;
    for o in occurrences(steps, started, due) {
        if fired(&o.name) {
            continue;
        }
        if o.at <= now {
            fire.push(o);
        } else {
            next = Some(o);
            break;
        }
    }
    Due { fire, next }
}

/// "30 days before the deadline", "at the deadline", "2 weeks overdue", "50% of the time used",
/// for people; `zh` gives Chinese.
pub fn describe(name: &str, zh: bool) -> String {
    let unit = |u: &str, n: i64, zh: bool| -> &'static str {
        match (u, zh, n == 1) {
            ("w", false, true) => "week",
            ("w", false, false) => "weeks",
            ("d", false, true) => "day",
            ("d", false, false) => "days",
            ("h", false, true) => "hour",
            ("h", false, false) => "hours",
            ("m", false, true) => "minute",
            ("m", false, false) => "minutes",
            (_, false, true) => "second",
            (_, false, false) => "seconds",
            ("w", true, _) => "周",
            ("d", true, _) => "天",
            ("h", true, _) => "小时",
            ("m", true, _) => "分钟",
            _ => "秒",
        }
    };
    let split = |s: &str| -> Option<(i64, String)> {
        let at = s.find(|c: char| !c.is_ascii_digit())?;
        Some((s[..at].parse().ok()?, s[at..].to_owned()))
    };
    if name == "at_due" {
        return if zh {
            "已到期限"
        } else {
            "at the deadline"
        }
        .to_owned();
    }
    if let Some(rest) = name.strip_prefix("before_")
        && let Some((n, u)) = split(rest)
    {
        return if zh {
            format!("距期限还有 {n} {}", unit(&u, n, true))
        } else {
            format!("{n} {} before the deadline", unit(&u, n, false))
        };
    }
    if let Some(rest) = name.strip_prefix("overdue_")
        && let Some((n, u)) = split(rest)
    {
        return if zh {
            format!("已逾期 {n} {}", unit(&u, n, true))
        } else {
            format!("{n} {} overdue", unit(&u, n, false))
        };
    }
    if let Some(p) = name
        .strip_prefix("elapsed_")
        .and_then(|r| r.strip_suffix("pct"))
    {
        return if zh {
            format!("期限已过去 {p}%")
        } else {
            format!("{p}% of the time used")
        };
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::Recipient::*;
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The shipped `remediate` ladder.
    fn remediate() -> Vec<Step> {
        vec![
            Step::new("-30d".parse().unwrap(), &[Assignee]),
            Step::new("-14d".parse().unwrap(), &[Assignee, Leads]),
            Step::new("-7d".parse().unwrap(), &[Assignee, Leads, Compliance]),
            Step::new("0".parse().unwrap(), &[Assignee, Leads, Compliance]),
            Step::repeating(
                "+7d".parse().unwrap(),
                TimeDelta::days(7),
                &[Assignee, Leads, Compliance],
            ),
        ]
    }

    #[test]
    fn parses_and_prints_offsets() {
        assert_eq!(
            "-30d".parse::<When>().unwrap(),
            When::FromDue(TimeDelta::days(-30))
        );
        assert_eq!(
            "+1w".parse::<When>().unwrap(),
            When::FromDue(TimeDelta::days(7))
        );
        assert_eq!(
            "0".parse::<When>().unwrap(),
            When::FromDue(TimeDelta::zero())
        );
        assert_eq!("75%".parse::<When>().unwrap(), When::Elapsed(75));
        assert_eq!(
            "-36h".parse::<When>().unwrap().to_string(),
            "-36h".to_owned()
        );
        assert!("30d".parse::<When>().is_err(), "the sign is required");
        assert!("-30y".parse::<When>().is_err());
        assert!("half".parse::<When>().is_err());
    }

    #[test]
    fn step_toml_round_trip_and_unknown_keys() {
        #[derive(Deserialize)]
        struct W {
            escalation: Vec<Step>,
        }
        let w: W = toml::from_str(
            r#"escalation = [
                { at = "-30d", to = ["assignee"] },
                { at = 0, to = ["assignee", "leads"] },
                { at = "+7d", every = "7d", to = ["assignee", "leads", "compliance"] },
                { at = "50%", to = ["leads"] },
            ]"#,
        )
        .unwrap();
        assert_eq!(w.escalation.len(), 4);
        assert_eq!(w.escalation[2].every, Some(Every(TimeDelta::days(7))));
        assert!(
            toml::from_str::<W>(r#"escalation = [{ at = "0", to = ["boss"] }]"#).is_err(),
            "unknown recipient"
        );
        assert!(
            toml::from_str::<W>(r#"escalation = [{ at = "0", to = [], when = "x" }]"#).is_err(),
            "unknown key"
        );
    }

    #[test]
    fn the_remediate_ladder_over_three_months() {
        let started = utc("2026-03-10T02:00:00Z");
        let due = utc("2026-06-10T16:00:00Z");
        let names: Vec<(String, DateTime<Utc>, Vec<Recipient>)> =
            occurrences(&remediate(), started, due)
                .take(7)
                .map(|o| (o.name, o.at, o.to))
                .collect();
        let all = vec![Assignee, Leads, Compliance];
        assert_eq!(
            names,
            vec![
                (
                    "before_30d".into(),
                    due - TimeDelta::days(30),
                    vec![Assignee]
                ),
                (
                    "before_14d".into(),
                    due - TimeDelta::days(14),
                    vec![Assignee, Leads]
                ),
                ("before_7d".into(), due - TimeDelta::days(7), all.clone()),
                ("at_due".into(), due, all.clone()),
                ("overdue_1w".into(), due + TimeDelta::days(7), all.clone()),
                ("overdue_2w".into(), due + TimeDelta::days(14), all.clone()),
                ("overdue_3w".into(), due + TimeDelta::days(21), all.clone()),
            ]
        );
        assert_eq!(
            next_fire(&remediate(), started, due, None),
            Some((due - TimeDelta::days(30), "before_30d".into()))
        );
        assert_eq!(
            next_fire(&remediate(), started, due, Some(due)),
            Some((due + TimeDelta::days(7), "overdue_1w".into()))
        );
    }

    #[test]
    fn steps_before_the_start_are_not_on_a_short_clock() {
        let started = utc("2026-03-10T00:00:00Z");
        let due = started + TimeDelta::days(2);
        let first = occurrences(&remediate(), started, due).next().unwrap();
        assert_eq!(first.name, "at_due");
    }

    #[test]
    fn proportionate_default() {
        let started = utc("2026-03-10T00:00:00Z");
        let due = started + TimeDelta::hours(48);
        let v: Vec<(String, DateTime<Utc>)> = occurrences(&default_ladder(), started, due)
            .take(5)
            .map(|o| (o.name, o.at))
            .collect();
        assert_eq!(
            v,
            vec![
                ("elapsed_50pct".into(), started + TimeDelta::hours(24)),
                ("elapsed_75pct".into(), started + TimeDelta::hours(36)),
                ("at_due".into(), due),
                ("overdue_1w".into(), due + TimeDelta::days(7)),
                ("overdue_2w".into(), due + TimeDelta::days(14)),
            ]
        );
    }

    #[test]
    fn a_catch_up_fires_every_missed_step_and_no_fired_one() {
        let started = utc("2026-03-10T02:00:00Z");
        let due = utc("2026-06-10T16:00:00Z");
        let fired: HashSet<&str> = ["before_30d"].into();
        let d = due_at(&remediate(), started, due, due + TimeDelta::days(8), &|n| {
            fired.contains(n)
        });
        let names: Vec<&str> = d.fire.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["before_14d", "before_7d", "at_due", "overdue_1w"].to_vec()
        );
        assert_eq!(d.next.unwrap().name, "overdue_2w");
    }

    #[test]
    fn validation_names_the_problem() {
        let bad = [
            (vec![Step::new(When::Elapsed(0), &[Leads])], "1% to"),
            (vec![Step::new(When::Elapsed(50), &[])], "names nobody"),
            (
                vec![Step::repeating(
                    When::Elapsed(50),
                    TimeDelta::days(1),
                    &[Leads],
                )],
                "not shares",
            ),
            (
                vec![Step::repeating(
                    When::FromDue(TimeDelta::zero()),
                    TimeDelta::minutes(5),
                    &[Leads],
                )],
                "1h to",
            ),
            (
                vec![
                    Step::new(When::FromDue(TimeDelta::days(14)), &[Leads]),
                    Step::repeating(
                        When::FromDue(TimeDelta::days(7)),
                        TimeDelta::days(7),
                        &[Leads],
                    ),
                ],
                "same point as step 1",
            ),
        ];
        for (steps, want) in bad {
            let errors = validate(&steps).join("; ");
            assert!(errors.contains(want), "{errors:?} lacks {want:?}");
        }
        assert!(validate(&remediate()).is_empty());
        assert!(validate(&default_ladder()).is_empty());
    }

    #[test]
    fn describes_steps() {
        assert_eq!(describe("before_30d", false), "30 days before the deadline");
        assert_eq!(describe("overdue_1w", false), "1 week overdue");
        assert_eq!(describe("overdue_2w", true), "已逾期 2 周");
        assert_eq!(describe("elapsed_50pct", false), "50% of the time used");
        assert_eq!(describe("at_due", false), "at the deadline");
    }

    fn step_strategy() -> impl Strategy<Value = Step> {
        let recipients = proptest::sample::subsequence(vec![Assignee, Leads, Compliance], 1..=3);
        prop_oneof![
            ((-60i64 * 24)..=(60 * 24), recipients.clone())
                .prop_map(|(h, to)| Step::new(When::FromDue(TimeDelta::hours(h)), &to)),
            (1u32..=150, recipients.clone()).prop_map(|(p, to)| Step::new(When::Elapsed(p), &to)),
            ((0i64..=(30 * 24)), (1i64..=(14 * 24)), recipients).prop_map(|(h, e, to)| {
                Step::repeating(When::FromDue(TimeDelta::hours(h)), TimeDelta::hours(e), &to)
            }),
        ]
    }

    fn ladder_strategy() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(step_strategy(), 1..6)
            .prop_filter("valid", |s| validate(s).is_empty())
    }

    fn clock_strategy() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>)> {
        (0i64..(5 * 365 * 86_400), 3600i64..(200 * 86_400)).prop_map(|(s, len)| {
            let started = utc("2025-01-01T00:00:00Z") + TimeDelta::seconds(s);
            (started, started + TimeDelta::seconds(len))
        })
    }

    proptest! {
        #[test]
        fn occurrences_are_ordered_unique_and_not_before_the_start(
            steps in ladder_strategy(),
            (started, due) in clock_strategy(),
        ) {
            let v: Vec<Occurrence> = occurrences(&steps, started, due).take(200).collect();
            let mut seen = HashSet::new();
            for w in v.windows(2) {
                prop_assert!(w[0].at <= w[1].at);
            }
            for o in &v {
                prop_assert!(o.at >= started);
                prop_assert!(seen.insert(o.name.clone()), "duplicate {}", o.name);
                prop_assert_eq!(o.phase == Phase::AtDue, o.at == due);
            }
        }

        #[test]
        fn next_fire_is_the_earliest_occurrence_after(
            steps in ladder_strategy(),
            (started, due) in clock_strategy(),
            after_s in -(30i64 * 86_400)..(300 * 86_400),
        ) {
            let after = started + TimeDelta::seconds(after_s);
            let got = next_fire(&steps, started, due, Some(after));
            let brute = occurrences(&steps, started, due)
                .take_while(|o| o.at <= after + TimeDelta::days(4000))
                .filter(|o| o.at > after)
                .min_by_key(|o| o.at);
            match (got, brute) {
                (Some((at, _)), Some(b)) => prop_assert_eq!(at, b.at),
                (None, None) => {}
                (g, b) => prop_assert!(false, "{:?} vs {:?}", g, b),
            }
        }

        #[test]
        fn next_fire_is_monotonic(
            steps in ladder_strategy(),
            (started, due) in clock_strategy(),
            a in 0i64..(300 * 86_400),
            b in 0i64..(300 * 86_400),
        ) {
            let (a, b) = (a.min(b), a.max(b));
            let fa = next_fire(&steps, started, due, Some(started + TimeDelta::seconds(a)));
            let fb = next_fire(&steps, started, due, Some(started + TimeDelta::seconds(b)));
            if let (Some((x, _)), Some((y, _))) = (fa, fb) {
                prop_assert!(x <= y);
            }
        }

        /// The sweep's whole life on one clock, with the stored next fire time as the only gate:
        /// sweeps at arbitrary instants (the clock moving back and forth) fire every occurrence
        /// up to the latest instant seen exactly once, and none after it.
        #[test]
        fn every_step_fires_exactly_once_whatever_the_sweep_times(
            steps in ladder_strategy(),
            (started, due) in clock_strategy(),
            sweeps in proptest::collection::vec(-(10i64 * 86_400)..(320 * 86_400), 1..25),
        ) {
            let mut fired: Vec<String> = Vec::new();
            let mut next_fire_at = next_fire(&steps, started, due, None).map(|(at, _)| at);
            let mut latest = None::<DateTime<Utc>>;
            for s in sweeps {
                let now = started + TimeDelta::seconds(s);
                latest = Some(latest.map_or(now, |l| l.max(now)));
                if next_fire_at.is_none_or(|at| at > now) {
                    continue;
                }
                let done: HashSet<String> = fired.iter().cloned().collect();
                let d = due_at(&steps, started, due, now, &|n| done.contains(n));
                for o in d.fire {
                    prop_assert!(o.at <= now);
                    fired.push(o.name);
                }
                next_fire_at = d.next.map(|o| o.at);
                if let Some(at) = next_fire_at {
                    prop_assert!(at > now);
                }
            }
            let unique: HashSet<&String> = fired.iter().collect();
            prop_assert_eq!(unique.len(), fired.len(), "a step fired twice: {:?}", fired);
            let latest = latest.unwrap();
            let expected: Vec<String> = occurrences(&steps, started, due)
                .take_while(|o| o.at <= latest)
                .map(|o| o.name)
                .collect();
            let mut got = fired.clone();
            got.sort();
            let mut want = expected.clone();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}
