//! Hand-checked legal examples and property tests for the deadline rules.
//!
//! Instants are written in UTC, with the local reading beside them, because
//! the database stores UTC and a wrong zone shows up as a wrong hour here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde::Deserialize;

use super::rules::{end_of_local_day, local_date};
use super::*;
use crate::domain::severity::{SeriousKind, Severity};
use crate::domain::workflow::ActionKind;

#[derive(Deserialize)]
struct Wrap {
    deadlines: Policy,
}

static DEFAULT: LazyLock<Policy> = LazyLock::new(|| {
    // The policy as shipped: the [deadlines] tables of config/default.toml.
    toml::from_str::<Wrap>(include_str!("../../../config/default.toml"))
        .expect("config/default.toml parses")
        .deadlines
});

static CN: LazyLock<HolidayCalendar> =
    LazyLock::new(|| DEFAULT.calendar_set().get("cn").expect("cn").days.clone());
static EU: LazyLock<HolidayCalendar> =
    LazyLock::new(|| DEFAULT.calendar_set().get("eu").expect("eu").days.clone());

/// The shipped cn calendar: official 2026, the statutory rule for every other year.
fn cn() -> &'static HolidayCalendar {
    &CN
}

fn eu() -> &'static HolidayCalendar {
    &EU
}

fn weekends_only() -> HolidayCalendar {
    HolidayCalendar::default()
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 instant")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn calendar(off: &[NaiveDate], workdays: &[NaiveDate]) -> HolidayCalendar {
    HolidayCalendar {
        off: off.iter().copied().collect(),
        workdays: workdays.iter().copied().collect(),
    }
}

const SHANGHAI: Tz = Tz::Asia__Shanghai;
const BERLIN: Tz = Tz::Europe__Berlin;
const BRUSSELS: Tz = Tz::Europe__Brussels;

fn due(start: &str, unit: Unit, count: u32, zone: Tz, cal: &HolidayCalendar) -> DateTime<Utc> {
    due_instant(utc(start), unit, count, zone, cal)
}

// ---------------------------------------------------------------------------
// Calendar months (Civil Code Arts. 201–203)
// ---------------------------------------------------------------------------

#[test]
fn chrono_add_months_clamps_to_the_month_end_and_otherwise_keeps_the_day() {
    // The Art. 202 reading relies on exactly this.
    let add = |d: NaiveDate, n| d.checked_add_months(chrono::Months::new(n)).unwrap();
    assert_eq!(add(date(2026, 1, 31), 1), date(2026, 2, 28));
    assert_eq!(add(date(2028, 1, 31), 1), date(2028, 2, 29));
    assert_eq!(add(date(2026, 2, 28), 1), date(2026, 3, 28));
    assert_eq!(add(date(2026, 8, 31), 1), date(2026, 9, 30));
    assert_eq!(add(date(2028, 2, 29), 12), date(2029, 2, 28));
}

#[test]
fn jan_31_plus_one_month_2026_ends_on_feb_28_a_make_up_saturday() {
    // Start 2026-01-31 10:00 CST (02:00Z): start date Jan 31, not counted.
    // Feb 31 does not exist → last day Feb 28 (2026 is not a leap year).
    // Feb 28 2026 is a Saturday, but a 春节 make-up working day in cn → no roll.
    // 24:00 Feb 28 CST = 2026-03-01 00:00 +08:00 = 2026-02-28T16:00Z.
    let d = due(
        "2026-01-31T02:00:00Z",
        Unit::CalendarMonths,
        1,
        SHANGHAI,
        cn(),
    );
    assert_eq!(d, utc("2026-02-28T16:00:00Z"));
    assert_eq!(
        local_display(d, SHANGHAI),
        "2026-03-01 00:00 CST (Asia/Shanghai)"
    );

    // Without the make-up day the Saturday is a rest day: Sat 28, Sun Mar 1
    // roll to Mon Mar 2 → 24:00 Mar 2 CST = 2026-03-02T16:00Z.
    let d = due(
        "2026-01-31T02:00:00Z",
        Unit::CalendarMonths,
        1,
        SHANGHAI,
        &weekends_only(),
    );
    assert_eq!(d, utc("2026-03-02T16:00:00Z"));
}

#[test]
fn jan_31_2028_plus_one_month_ends_on_leap_day() {
    // 2028 is a leap year → last day Feb 29 2028, a Tuesday → no roll.
    // 24:00 Feb 29 CST = 2028-03-01 00:00 +08:00 = 2028-02-29T16:00Z.
    let d = due(
        "2028-01-31T02:00:00Z",
        Unit::CalendarMonths,
        1,
        SHANGHAI,
        cn(),
    );
    assert_eq!(d, utc("2028-02-29T16:00:00Z"));

    // Were Feb 29 a public holiday, it rolls to Wed Mar 1:
    // 24:00 Mar 1 CST = 2028-03-01T16:00Z.
    let holiday = calendar(&[date(2028, 2, 29)], &[]);
    let d = due(
        "2028-01-31T02:00:00Z",
        Unit::CalendarMonths,
        1,
        SHANGHAI,
        &holiday,
    );
    assert_eq!(d, utc("2028-03-01T16:00:00Z"));
}

#[test]
fn feb_29_2028_plus_twelve_months_ends_on_feb_28_2029() {
    // Start 2028-02-29 09:00 CST (01:00Z). Feb 29 2029 does not exist →
    // last day Feb 28 2029, a Wednesday → no roll.
    // 24:00 Feb 28 2029 CST = 2029-02-28T16:00Z.
    let d = due(
        "2028-02-29T01:00:00Z",
        Unit::CalendarMonths,
        12,
        SHANGHAI,
        cn(),
    );
    assert_eq!(d, utc("2029-02-28T16:00:00Z"));
}

#[test]
fn the_start_day_is_the_local_date_not_the_utc_date() {
    // Both reports arrive on the UTC date 2026-03-10:
    //   15:30Z = 23:30 CST Tue Mar 10 → start date Mar 10
    //   16:30Z = 00:30 CST Wed Mar 11 → start date Mar 11
    let late = "2026-03-10T15:30:00Z";
    let early = "2026-03-10T16:30:00Z";

    // remediate, 3 months: Mar 10 → Wed Jun 10; Mar 11 → Thu Jun 11 (no holidays).
    assert_eq!(
        due(late, Unit::CalendarMonths, 3, SHANGHAI, cn()),
        utc("2026-06-10T16:00:00Z")
    );
    assert_eq!(
        due(early, Unit::CalendarMonths, 3, SHANGHAI, cn()),
        utc("2026-06-11T16:00:00Z")
    );

    // triage, 3 days: Mar 10 + 3 = Fri Mar 13; Mar 11 + 3 = Sat Mar 14 → Mon Mar 16.
    assert_eq!(
        due(late, Unit::Days, 3, SHANGHAI, cn()),
        utc("2026-03-13T16:00:00Z")
    );
    assert_eq!(
        due(early, Unit::Days, 3, SHANGHAI, cn()),
        utc("2026-03-16T16:00:00Z")
    );

    // Read in UTC the second report would have started on Mar 10 too.
    assert_eq!(local_date(utc(early), Tz::UTC), date(2026, 3, 10));
    assert_eq!(local_date(utc(early), SHANGHAI), date(2026, 3, 11));
}

#[test]
fn remediation_due_on_national_day_rolls_past_golden_week() {
    // Report 2026-07-01 10:00 CST (02:00Z); + 3 months → Thu Oct 1 (国庆节).
    // Oct 1–7 are off; Thu Oct 8 is a working day → last day Oct 8.
    // 24:00 Oct 8 CST = 2026-10-09 00:00 +08:00 = 2026-10-08T16:00Z.
    let d = due(
        "2026-07-01T02:00:00Z",
        Unit::CalendarMonths,
        3,
        SHANGHAI,
        cn(),
    );
    assert_eq!(d, utc("2026-10-08T16:00:00Z"));
}

#[test]
fn calendar_months_rolls_over_a_plain_weekend() {
    // Report Wed 2026-03-04 (10:00 CST); + 1 month → Sat Apr 4, which is also
    // 清明节 (Apr 4–6 off) → Tue Apr 7. 24:00 Apr 7 CST = 2026-04-07T16:00Z.
    let d = due(
        "2026-03-04T02:00:00Z",
        Unit::CalendarMonths,
        1,
        SHANGHAI,
        cn(),
    );
    assert_eq!(d, utc("2026-04-07T16:00:00Z"));
}

// ---------------------------------------------------------------------------
// Days (Reg. 1182/71 Art. 3)
// ---------------------------------------------------------------------------

#[test]
fn days_across_spring_dst_in_berlin() {
    // Start Wed 2026-03-25 12:00 CET (11:00Z); 5 days → last day Mon Mar 30.
    // Clocks go 02:00 CET → 03:00 CEST on Sun Mar 29, so the end is
    // 24:00 Mar 30 CEST = 2026-03-31 00:00 +02:00 = 2026-03-30T22:00Z
    // (a fixed +01:00 would wrongly give 23:00Z).
    let d = due("2026-03-25T11:00:00Z", Unit::Days, 5, BERLIN, eu());
    assert_eq!(d, utc("2026-03-30T22:00:00Z"));
    assert_eq!(
        local_display(d, BERLIN),
        "2026-03-31 00:00 CEST (Europe/Berlin)"
    );
}

#[test]
fn days_across_autumn_dst_in_berlin() {
    // Start Tue 2026-10-20 09:00 CEST (07:00Z); 6 days → Mon Oct 26.
    // Clocks go 03:00 CEST → 02:00 CET on Sun Oct 25, so the end is
    // 24:00 Oct 26 CET = 2026-10-27 00:00 +01:00 = 2026-10-26T23:00Z.
    assert_eq!(
        due("2026-10-20T07:00:00Z", Unit::Days, 6, BERLIN, eu()),
        utc("2026-10-26T23:00:00Z")
    );
    // 5 days → Sun Oct 25 (the DST day itself) → Art. 3(4) → Mon Oct 26: same end.
    assert_eq!(
        due("2026-10-20T07:00:00Z", Unit::Days, 5, BERLIN, eu()),
        utc("2026-10-26T23:00:00Z")
    );
}

#[test]
fn art_3_5_two_working_days_over_a_weekend() {
    // Event Fri 2026-03-06 10:00 CET (09:00Z) in Brussels.
    // 1 day: last day Sat Mar 7 → Art. 3(4) → Mon Mar 9; Art. 3(5) does not
    // apply to a one-day period. 24:00 Mar 9 CET = 2026-03-09T23:00Z.
    assert_eq!(
        due("2026-03-06T09:00:00Z", Unit::Days, 1, BRUSSELS, eu()),
        utc("2026-03-09T23:00:00Z")
    );
    // 2 days: Sun Mar 8 → Mon Mar 9, but (Mar 6, Mar 9] holds one working day
    // → extended to the second, Tue Mar 10. 24:00 Mar 10 CET = 2026-03-10T23:00Z.
    assert_eq!(
        due("2026-03-06T09:00:00Z", Unit::Days, 2, BRUSSELS, eu()),
        utc("2026-03-10T23:00:00Z")
    );
    // 3 days: Mon Mar 9 needs no roll, yet still holds one working day → Tue Mar 10.
    assert_eq!(
        due("2026-03-06T09:00:00Z", Unit::Days, 3, BRUSSELS, eu()),
        utc("2026-03-10T23:00:00Z")
    );
    // 4 days: Tue Mar 10 holds Mon 9 and Tue 10 → no extension.
    assert_eq!(
        due("2026-03-06T09:00:00Z", Unit::Days, 4, BRUSSELS, eu()),
        utc("2026-03-10T23:00:00Z")
    );
}

#[test]
fn art_3_5_two_working_days_over_easter() {
    // Event Wed 2026-04-01 10:00 CEST (08:00Z) in Brussels, 2 days (the
    // "widespread" Art. 73 limit): last day Fri Apr 3 (Good Friday) → Art. 3(4):
    // Sat 4, Sun 5, Mon 6 (Easter Monday) are not working days → Tue Apr 7.
    // (Apr 1, Apr 7] holds only Apr 7 (Apr 2 is Maundy Thursday) → Art. 3(5)
    // extends to the second working day, Wed Apr 8.
    // 24:00 Apr 8 CEST = 2026-04-08T22:00Z.
    assert_eq!(
        due("2026-04-01T08:00:00Z", Unit::Days, 2, BRUSSELS, eu()),
        utc("2026-04-08T22:00:00Z")
    );
}

#[test]
fn days_last_day_on_a_public_holiday_rolls() {
    // Event Mon 2026-07-06 10:00 CEST (08:00Z); 15 days → Tue Jul 21, Belgian
    // National Day → Wed Jul 22. 24:00 Jul 22 CEST = 2026-07-22T22:00Z.
    assert_eq!(
        due("2026-07-06T08:00:00Z", Unit::Days, 15, BRUSSELS, eu()),
        utc("2026-07-22T22:00:00Z")
    );
}

// ---------------------------------------------------------------------------
// Working days and hours
// ---------------------------------------------------------------------------

#[test]
fn working_days_count_make_up_saturdays_and_skip_golden_week() {
    // Report Thu 2026-09-24 10:00 CST; 15 working days in cn:
    // Sep 25–27 off (中秋); Mon 28 (1), 29 (2), 30 (3); Oct 1–7 off (国庆);
    // Thu 8 (4), Fri 9 (5), Sat 10 make-up (6), Sun 11 off; Mon 12 (7) … Fri 16 (11);
    // Mon 19 (12), 20 (13), 21 (14), Thu 22 (15).
    // 24:00 Oct 22 CST = 2026-10-22T16:00Z.
    assert_eq!(
        due(
            "2026-09-24T02:00:00Z",
            Unit::WorkingDays,
            15,
            SHANGHAI,
            cn()
        ),
        utc("2026-10-22T16:00:00Z")
    );
}

#[test]
fn forty_eight_hours_across_dst_are_real_hours() {
    // Sat 2026-03-28 12:00 CET (11:00Z) + 48 h = 2026-03-30T11:00Z, which the
    // Berlin wall clock shows as 13:00 CEST: 49 wall-clock hours later.
    let d = due("2026-03-28T11:00:00Z", Unit::Hours, 48, BERLIN, eu());
    assert_eq!(d, utc("2026-03-30T11:00:00Z"));
    assert_eq!(
        local_display(d, BERLIN),
        "2026-03-30 13:00 CEST (Europe/Berlin)"
    );

    // Sat 2026-10-24 12:00 CEST (10:00Z) + 48 h = 2026-10-26T10:00Z = 11:00 CET:
    // 47 wall-clock hours later. No roll-over although Sat/Sun intervene.
    let d = due("2026-10-24T10:00:00Z", Unit::Hours, 48, BERLIN, eu());
    assert_eq!(d, utc("2026-10-26T10:00:00Z"));
    assert_eq!(
        local_display(d, BERLIN),
        "2026-10-26 11:00 CET (Europe/Berlin)"
    );
}

// ---------------------------------------------------------------------------
// Local midnights that are skipped or repeated
// ---------------------------------------------------------------------------

#[test]
fn ambiguous_midnight_takes_the_first_one() {
    // Cuba falls back 01:00 CDT → 00:00 CST on Sun 2026-11-01, so 00:00 happens
    // at -04:00 (04:00Z) and again at -05:00 (05:00Z). One day from Fri Oct 30,
    // with Sat Oct 31 made a working day so nothing rolls: Saturday is over at
    // the first midnight, 2026-11-01T04:00Z.
    let sat_worked = calendar(&[], &[date(2026, 10, 31)]);
    let d = due(
        "2026-10-30T16:00:00Z",
        Unit::Days,
        1,
        Tz::America__Havana,
        &sat_worked,
    );
    assert_eq!(d, utc("2026-11-01T04:00:00Z"));
}

#[test]
fn skipped_midnight_ends_at_the_transition() {
    // Cuba springs forward 00:00 CST → 01:00 CDT on Sun 2026-03-08: 24:00 Sat
    // Mar 7 never shows; the day ends at the jump, 00:00 -05:00 = 05:00Z.
    let sat_worked = calendar(&[], &[date(2026, 3, 7)]);
    let d = due(
        "2026-03-06T16:00:00Z",
        Unit::Days,
        1,
        Tz::America__Havana,
        &sat_worked,
    );
    assert_eq!(d, utc("2026-03-08T05:00:00Z"));
    assert_eq!(
        local_display(d, Tz::America__Havana),
        "2026-03-08 01:00 CDT (America/Havana)"
    );

    // Chile springs forward 00:00 -04 → 01:00 -03 on Sun 2026-09-06.
    let sat_worked = calendar(&[], &[date(2026, 9, 5)]);
    let d = due(
        "2026-09-04T16:00:00Z",
        Unit::Days,
        1,
        Tz::America__Santiago,
        &sat_worked,
    );
    assert_eq!(d, utc("2026-09-06T04:00:00Z"));

    // Samoa skipped Fri 2011-12-30 entirely (-10 → +14). One working day from
    // Wed Dec 28 is Thu Dec 29, which ended at 24:00 -10 = 2011-12-30T10:00Z,
    // when the clock jumped to Sat Dec 31 00:00 +14.
    let d = due(
        "2011-12-28T22:00:00Z",
        Unit::WorkingDays,
        1,
        Tz::Pacific__Apia,
        &weekends_only(),
    );
    assert_eq!(d, utc("2011-12-30T10:00:00Z"));
    assert_eq!(
        end_of_local_day(date(2011, 12, 29), Tz::Pacific__Apia),
        Some(utc("2011-12-30T10:00:00Z"))
    );
}

#[test]
fn every_day_end_from_2010_to_2030_is_the_first_instant_of_the_next_day() {
    // Sweeps every transition of the property-test zones, which random
    // sampling would rarely hit (Cuba's repeated midnight comes once a year).
    for &zone in ZONES {
        for day in date(2010, 1, 1)
            .iter_days()
            .take_while(|d| d.year() <= 2030)
        {
            let end = end_of_local_day(day, zone).unwrap();
            let next_midnight = day.succ_opt().unwrap().and_time(NaiveTime::MIN);
            let before = (end - TimeDelta::seconds(1))
                .with_timezone(&zone)
                .naive_local();
            assert!(
                end.with_timezone(&zone).naive_local() >= next_midnight,
                "{zone} {day}"
            );
            assert!(before < next_midnight, "{zone} {day}");
            // Only a day that never happened (Samoa's 2011-12-30) may end
            // together with the day before it.
            let noon = day.and_hms_opt(12, 0, 0).unwrap();
            let skipped = zone.from_local_datetime(&noon).earliest().is_none();
            assert!(before.date() == day || skipped, "{zone} {day}");
        }
    }
}

#[test]
fn absurd_counts_saturate_instead_of_panicking_or_hanging() {
    let start = utc("2026-01-01T00:00:00Z");
    for unit in [
        Unit::CalendarMonths,
        Unit::Days,
        Unit::WorkingDays,
        Unit::Hours,
    ] {
        assert_eq!(
            due_instant(start, unit, u32::MAX, SHANGHAI, cn()),
            DateTime::<Utc>::MAX_UTC,
            "{unit:?}"
        );
    }
}

#[test]
fn local_display_names_the_zone() {
    assert_eq!(
        local_display(utc("2026-02-28T16:00:00Z"), SHANGHAI),
        "2026-03-01 00:00 CST (Asia/Shanghai)"
    );
    assert_eq!(
        local_display(utc("2026-07-07T22:00:00Z"), BRUSSELS),
        "2026-07-08 00:00 CEST (Europe/Brussels)"
    );
}

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

#[test]
fn default_policy_parses_and_validates() {
    DEFAULT.validate().expect("default policy is valid");
    let names: Vec<&str> = DEFAULT.clocks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "acknowledge",
            "triage",
            "contain",
            "remediate",
            "authority_report"
        ]
    );
    let report = &DEFAULT.clocks[4];
    assert_eq!(report.count_by_serious.get(&SeriousKind::Death), Some(&10));
    // Brussels through the default authority, the EU institutions.
    assert_eq!(report.zone, BRUSSELS);
    assert_eq!(report.calendar, "authority");
    assert!(DEFAULT.clocks[1].internal);
    // Spot checks of the 2026 notices.
    assert!(!cn().is_working_day(date(2026, 10, 1)));
    assert!(cn().is_working_day(date(2026, 2, 28)));
    assert!(cn().is_working_day(date(2026, 10, 10)));
    assert!(!cn().is_working_day(date(2026, 2, 23)));
    assert!(!eu().is_working_day(date(2026, 4, 6)));
    assert!(eu().is_working_day(date(2026, 10, 1)));
}

#[test]
fn toml_date_literals_are_rejected_so_the_snippet_quotes_dates() {
    // chrono reads dates from strings only; a bare TOML date would fail to
    // load, which is why config/default.toml quotes every date.
    assert!(toml::from_str::<HolidayCalendar>("off = [2026-01-01]").is_err());
    let quoted: HolidayCalendar = toml::from_str(r#"off = ["2026-01-01"]"#).unwrap();
    assert!(quoted.off.contains(&date(2026, 1, 1)));
}

#[test]
fn units_and_start_events_use_the_config_spelling() {
    let units = [
        Unit::CalendarMonths,
        Unit::Days,
        Unit::WorkingDays,
        Unit::Hours,
    ];
    let json: Vec<String> = units
        .iter()
        .map(|u| serde_json::to_string(u).unwrap())
        .collect();
    assert_eq!(
        json,
        [
            r#""calendar_months""#,
            r#""days""#,
            r#""working_days""#,
            r#""hours""#
        ]
    );
    let events: Vec<StartEvent> =
        serde_json::from_str(r#"["first_report","triage","serious_flag"]"#).unwrap();
    assert_eq!(
        events,
        [
            StartEvent::FirstReport,
            StartEvent::Triage,
            StartEvent::SeriousFlag
        ]
    );
}

#[test]
fn unknown_clock_keys_are_rejected() {
    // `severity` instead of `severities` must not silently widen the clock.
    let bad = r#"
        name = "contain"
        starts_on = "triage"
        stops_on = ["contain"]
        unit = "hours"
        count = 48
        zone = "Asia/Shanghai"
        calendar = "cn"
        severity = ["high"]
    "#;
    assert!(toml::from_str::<ClockRule>(bad).is_err());
}

fn rule(name: &str) -> ClockRule {
    ClockRule {
        name: name.to_owned(),
        starts_on: StartEvent::FirstReport,
        stops_on: vec![ActionKind::VerifyPass],
        unit: Unit::Days,
        count: 3,
        zone: SHANGHAI,
        zone_configured: Some(SHANGHAI),
        calendar: "cn".to_owned(),
        categories: vec![],
        severities: vec![],
        serious: vec![],
        count_by_serious: BTreeMap::new(),
        internal: false,
        weight: 0,
        escalation: None,
    }
}

fn policy_with(clocks: Vec<ClockRule>) -> Policy {
    policy_from(clocks, "")
}

/// A policy of `clocks` over the shipped calendars, with `extra` TOML appended to the
/// `[deadlines]` table (more calendars, another authority).
fn policy_from(clocks: Vec<ClockRule>, extra: &str) -> Policy {
    let text = format!("{}\n{extra}", include_str!("../../../config/default.toml"));
    let mut p = toml::from_str::<Wrap>(&text).expect("parses").deadlines;
    p.clocks = clocks;
    p
}

#[test]
fn validate_names_the_offending_clock() {
    let cases: Vec<(ClockRule, &str)> = vec![
        (
            ClockRule {
                calendar: "mars".into(),
                ..rule("a")
            },
            "clock \"a\": unknown calendar \"mars\"",
        ),
        (
            ClockRule {
                count: 0,
                ..rule("b")
            },
            "clock \"b\": count must be at least 1",
        ),
        (
            ClockRule {
                count_by_serious: BTreeMap::from([(SeriousKind::Death, 0)]),
                ..rule("e")
            },
            "clock \"e\": count_by_serious.death must be at least 1",
        ),
        (
            ClockRule {
                serious: vec![SeriousKind::Other],
                count_by_serious: BTreeMap::from([(SeriousKind::Death, 10)]),
                ..rule("f")
            },
            "clock \"f\": count_by_serious names \"death\", which its serious filter excludes",
        ),
        (
            ClockRule {
                stops_on: vec![],
                ..rule("g")
            },
            "clock \"g\": stops_on names no event",
        ),
        (
            ClockRule {
                unit: Unit::WorkingDays,
                count: 1_000_000,
                ..rule("h")
            },
            "clock \"h\": count 1000000 exceeds the maximum",
        ),
        (
            ClockRule {
                escalation: Some(vec![crate::domain::escalation::Step::new(
                    crate::domain::escalation::When::Elapsed(50),
                    &[],
                )]),
                ..rule("i")
            },
            "clock \"i\": escalation step 1 (at 50%): `to` names nobody",
        ),
    ];
    for (bad, expected) in cases {
        let err = policy_with(vec![bad]).validate().unwrap_err();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
    }

    let err = policy_with(vec![rule("x"), rule("x")])
        .validate()
        .unwrap_err();
    assert!(err.contains("clock \"x\": duplicate name"), "{err}");

    let policy = policy_from(
        vec![rule("y")],
        r#"
[deadlines.calendars.typo]
jurisdiction = "cn"
[[deadlines.calendars.typo.years]]
year = 2026
source = "a notice"
holidays = ["2026-02-14"]
workdays = ["2026-02-14", "2026-02-16"]
[[deadlines.calendars.typo.years]]
year = 2027
source = " "
holidays = ["2025-05-01"]
"#,
    );
    let err = policy.validate().unwrap_err();
    for expected in [
        "calendar \"typo\": year 2026: 2026-02-14 is both a holiday and a workday",
        "calendar \"typo\": year 2026: workday 2026-02-16 is not a Saturday or Sunday",
        "calendar \"typo\": year 2027: `source` must name the official document",
        "calendar \"typo\": year 2027: 2025-05-01 is outside the year",
    ] {
        assert!(err.contains(expected), "{err} lacks {expected}");
    }
}

#[test]
fn unknown_names_in_the_configuration_stop_it_naming_the_value() {
    for (line, named) in [
        (r#"severities = ["urgent"]"#, "\"urgent\" is not a severity"),
        (
            r#"serious = ["fatal"]"#,
            "\"fatal\" is not a kind of serious incident",
        ),
        (
            r#"stops_on = ["verify-passed"]"#,
            "\"verify-passed\" is not a action",
        ),
        (
            r#"count_by_serious = { deadly = 3 }"#,
            "\"deadly\" is not a kind of serious incident",
        ),
    ] {
        let text = format!(
            "name = \"c\"\nstarts_on = \"triage\"\nunit = \"hours\"\ncount = 4\ncalendar = \"cn\"\n{}\n{line}\n",
            if line.starts_with("stops_on") {
                ""
            } else {
                "stops_on = [\"contain\"]"
            }
        );
        let err = toml::from_str::<ClockRule>(&text).unwrap_err().to_string();
        assert!(err.contains(named), "{line}: {err}");
    }
}

#[test]
fn applies_filters_by_category_severity_and_seriousness() {
    let p = &*DEFAULT;
    let by_name = |n: &str| p.clocks.iter().find(|c| c.name == n).unwrap();
    let none = ClockFacts::default();

    // contain needs a known high or critical severity.
    assert_eq!(p.applies(by_name("contain"), &none), None);
    let low = ClockFacts {
        severity: Some(Severity::Low),
        ..none
    };
    assert_eq!(p.applies(by_name("contain"), &low), None);
    let high = ClockFacts {
        severity: Some(Severity::High),
        ..none
    };
    assert_eq!(p.applies(by_name("contain"), &high), Some(48));

    // authority_report: only when flagged serious, with the count per kind.
    let report = by_name("authority_report");
    assert_eq!(p.applies(report, &none), None);
    for (kind, count) in [
        (SeriousKind::Death, 10),
        (SeriousKind::Widespread, 2),
        (SeriousKind::CriticalInfrastructure, 2),
        (SeriousKind::Other, 15),
    ] {
        let facts = ClockFacts {
            serious: Some(kind),
            ..none
        };
        assert_eq!(p.applies(report, &facts), Some(count), "{kind}");
    }

    // Unfiltered clocks apply to anything.
    assert_eq!(p.applies(by_name("remediate"), &none), Some(3));

    // A category entry matches itself and its sub-categories only.
    let core = ClockRule {
        categories: vec!["core_values".into()],
        ..rule("core")
    };
    let cat = |c| ClockFacts {
        category: c,
        ..none
    };
    assert_eq!(p.applies(&core, &cat(Some("core_values"))), Some(3));
    assert_eq!(
        p.applies(&core, &cat(Some("core_values.terrorism"))),
        Some(3)
    );
    assert_eq!(p.applies(&core, &cat(Some("core_values_extra"))), None);
    assert_eq!(p.applies(&core, &cat(Some("discrimination.gender"))), None);
    assert_eq!(p.applies(&core, &cat(None)), None);
    let specific = ClockRule {
        categories: vec!["core_values.terrorism".into()],
        ..rule("specific")
    };
    assert_eq!(p.applies(&specific, &cat(Some("core_values"))), None);
}

#[test]
fn clocks_for_follows_the_incident_through_its_start_events() {
    let p = &*DEFAULT;
    let first = utc("2026-07-01T02:00:00Z"); // Wed 10:00 CST
    let names = |v: &[ClockDue]| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let due_of = |v: &[ClockDue], n: &str| v.iter().find(|c| c.name == n).unwrap().due;

    // Only the first report so far: severity unknown, not serious.
    let facts = ClockFacts {
        category: Some("core_values.terrorism"),
        ..ClockFacts::default()
    };
    let clocks = p.clocks_for(&facts, first, None, None);
    assert_eq!(names(&clocks), ["acknowledge", "triage", "remediate"]);
    // acknowledge: 15 working days in July (no holidays) → Wed Jul 22.
    assert_eq!(due_of(&clocks, "acknowledge"), utc("2026-07-22T16:00:00Z"));
    // triage: Jul 1 + 3 = Sat Jul 4 → Mon Jul 6.
    assert_eq!(due_of(&clocks, "triage"), utc("2026-07-06T16:00:00Z"));
    // remediate: Oct 1 (国庆) → Thu Oct 8.
    assert_eq!(due_of(&clocks, "remediate"), utc("2026-10-08T16:00:00Z"));

    // Triaged high: contain starts at triage and runs 48 real hours.
    let triaged = utc("2026-07-02T01:00:00Z");
    let facts = ClockFacts {
        severity: Some(Severity::High),
        ..facts
    };
    let clocks = p.clocks_for(&facts, first, Some(triaged), None);
    assert_eq!(
        names(&clocks),
        ["acknowledge", "triage", "contain", "remediate"]
    );
    let contain = clocks.iter().find(|c| c.name == "contain").unwrap();
    assert_eq!(contain.start, triaged);
    assert_eq!(contain.due, utc("2026-07-04T01:00:00Z"));
    assert_eq!(
        (contain.unit, contain.count, contain.zone),
        (Unit::Hours, 48, SHANGHAI)
    );

    // Flagged serious (widespread) on Fri 2026-07-03 10:00 CEST: 2 days in
    // Brussels → Sun Jul 5 → Mon Jul 6, one working day → Art. 3(5) → Tue Jul 7.
    // 24:00 Jul 7 CEST = 2026-07-07T22:00Z.
    let flagged = utc("2026-07-03T08:00:00Z");
    let facts = ClockFacts {
        serious: Some(SeriousKind::Widespread),
        ..facts
    };
    let clocks = p.clocks_for(&facts, first, Some(triaged), Some(flagged));
    let report = clocks
        .iter()
        .find(|c| c.name == "authority_report")
        .unwrap();
    assert_eq!((report.count, report.zone), (2, BRUSSELS));
    assert_eq!(report.due, utc("2026-07-07T22:00:00Z"));

    // Death: 10 days → Mon Jul 13 → 2026-07-13T22:00Z.
    let facts = ClockFacts {
        serious: Some(SeriousKind::Death),
        ..facts
    };
    let clocks = p.clocks_for(&facts, first, Some(triaged), Some(flagged));
    assert_eq!(
        due_of(&clocks, "authority_report"),
        utc("2026-07-13T22:00:00Z")
    );

    // Flagged but the flag's instant not recorded: the clock cannot start yet.
    let clocks = p.clocks_for(&facts, first, Some(triaged), None);
    assert!(!names(&clocks).contains(&"authority_report".to_owned()));
}

#[test]
fn clocks_for_falls_back_to_weekends_when_a_calendar_is_missing() {
    let p = policy_with(vec![ClockRule {
        calendar: "missing".into(),
        ..rule("r")
    }]);
    assert!(p.validate().is_err());
    // Thu 2026-10-01 + 3 days = Sun Oct 4 → Mon Oct 5 (no cn holidays known).
    let clocks = p.clocks_for(
        &ClockFacts::default(),
        utc("2026-10-01T02:00:00Z"),
        None,
        None,
    );
    assert_eq!(clocks[0].due, utc("2026-10-05T16:00:00Z"));
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Zones chosen for their transitions: DST at 02:00/03:00 (Berlin, New York),
/// at midnight (Havana, Santiago, Beirut), half-hour DST (Lord Howe), odd
/// offsets (Kathmandu), a skipped day (Apia), and none at all.
const ZONES: &[Tz] = &[
    Tz::Asia__Shanghai,
    Tz::Europe__Berlin,
    Tz::Europe__Brussels,
    Tz::America__New_York,
    Tz::America__Havana,
    Tz::America__Santiago,
    Tz::Asia__Beirut,
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kathmandu,
    Tz::Pacific__Apia,
    Tz::UTC,
];

const UNITS: &[Unit] = &[
    Unit::CalendarMonths,
    Unit::Days,
    Unit::WorkingDays,
    Unit::Hours,
];

fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(ZONES)
}

fn unit() -> impl Strategy<Value = Unit> {
    prop::sample::select(UNITS)
}

/// Instants between 2010 and 2031, weighted towards the years the default
/// calendars cover.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let wide = 1_262_304_000i64..1_924_992_000; // 2010-01-01 .. 2031-01-01
    let covered = 1_759_276_800i64..1_798_761_600; // 2025-10-01 .. 2027-01-01
    prop_oneof![wide, covered].prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

#[derive(Debug, Clone)]
enum CalSpec {
    Cn,
    Eu,
    WeekendsOnly,
    /// Offsets in days from the start date, so that random holidays fall where
    /// the periods under test run.
    Random(Vec<u32>, Vec<u32>),
}

fn cal_spec() -> impl Strategy<Value = CalSpec> {
    prop_oneof![
        Just(CalSpec::Cn),
        Just(CalSpec::Eu),
        Just(CalSpec::WeekendsOnly),
        (
            prop::collection::vec(0u32..1200, 0..200),
            prop::collection::vec(0u32..1200, 0..40)
        )
            .prop_map(|(off, work)| CalSpec::Random(off, work)),
    ]
}

fn build(spec: &CalSpec, base: NaiveDate) -> HolidayCalendar {
    let at = |o: &u32| base + Days::new(u64::from(*o));
    match spec {
        CalSpec::Cn => cn().clone(),
        CalSpec::Eu => eu().clone(),
        CalSpec::WeekendsOnly => weekends_only(),
        CalSpec::Random(off, work) => HolidayCalendar {
            off: off.iter().map(at).collect(),
            workdays: work.iter().map(at).collect(),
        },
    }
}

fn count_for(unit: Unit) -> impl Strategy<Value = u32> {
    match unit {
        Unit::CalendarMonths => 1u32..=36,
        Unit::Days | Unit::WorkingDays => 1u32..=60,
        Unit::Hours => 1u32..=2_000,
    }
}

fn unit_and_count() -> impl Strategy<Value = (Unit, u32)> {
    unit().prop_flat_map(|u| (Just(u), count_for(u)))
}

/// The local date of the last day a date-based period covers.
fn last_day(due: DateTime<Utc>, zone: Tz) -> NaiveDate {
    local_date(due - TimeDelta::seconds(1), zone)
}

fn working_days_in(cal: &HolidayCalendar, after: NaiveDate, upto: NaiveDate) -> usize {
    after
        .iter_days()
        .skip(1)
        .take_while(|d| *d <= upto)
        .filter(|d| cal.is_working_day(*d))
        .count()
}

fn first_working_on_or_after(cal: &HolidayCalendar, d: NaiveDate) -> NaiveDate {
    d.iter_days().find(|d| cal.is_working_day(*d)).unwrap()
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Art. 202 written out by hand, independent of chrono's month arithmetic.
fn corresponding_day(start: NaiveDate, months: u32) -> NaiveDate {
    let index = start.year() * 12 + i32::try_from(start.month0() + months).unwrap();
    let (year, month) = (
        index.div_euclid(12),
        index.rem_euclid(12).unsigned_abs() + 1,
    );
    date(year, month, start.day().min(days_in_month(year, month)))
}

proptest! {
    #[test]
    fn due_is_after_start_and_monotonic_in_start(
        start in instant(),
        later_by in 0i64..(40 * 86_400),
        (unit, count) in unit_and_count(),
        zone in zone(),
        spec in cal_spec(),
    ) {
        let cal = build(&spec, local_date(start, zone));
        let later = start + TimeDelta::seconds(later_by);
        let a = due_instant(start, unit, count, zone, &cal);
        let b = due_instant(later, unit, count, zone, &cal);
        prop_assert!(a > start, "{a} not after {start}");
        prop_assert!(a <= b, "start {start} → {a}, later start {later} → {b}");
    }

    #[test]
    fn date_based_periods_end_at_the_first_instant_of_the_next_local_day(
        start in instant(),
        (unit, count) in unit_and_count().prop_filter("date-based units", |(u, _)| *u != Unit::Hours),
        zone in zone(),
        spec in cal_spec(),
    ) {
        let cal = build(&spec, local_date(start, zone));
        let due = due_instant(start, unit, count, zone, &cal);
        let last = last_day(due, zone);
        let next_midnight = last.succ_opt().unwrap().and_time(NaiveTime::MIN);
        prop_assert!(due.with_timezone(&zone).naive_local() >= next_midnight);
        prop_assert!((due - TimeDelta::seconds(1)).with_timezone(&zone).naive_local() < next_midnight);
    }

    #[test]
    fn calendar_months_end_on_the_corresponding_day_then_roll(
        start in instant(),
        count in 1u32..=36,
        zone in zone(),
        spec in cal_spec(),
    ) {
        let s = local_date(start, zone);
        let cal = build(&spec, s);
        let due = due_instant(start, Unit::CalendarMonths, count, zone, &cal);
        let unrolled = corresponding_day(s, count);
        // The unrolled day is the same day of month, or the month's last day
        // when the month is too short.
        let month_len = days_in_month(unrolled.year(), unrolled.month());
        prop_assert!(
            unrolled.day() == s.day() || (unrolled.day() == month_len && s.day() > month_len)
        );
        // Roll-over lands on the first working day at or after it. Compared as instants: a
        // last day the zone skipped (Samoa, 2011-12-30) ends where the day before it does.
        let expected = first_working_on_or_after(&cal, unrolled);
        prop_assert!(cal.is_working_day(expected));
        prop_assert_eq!(Some(due), end_of_local_day(expected, zone));
    }

    #[test]
    fn days_end_on_the_first_working_day_that_satisfies_art_3(
        start in instant(),
        count in 1u32..=60,
        zone in zone(),
        spec in cal_spec(),
    ) {
        let s = local_date(start, zone);
        let cal = build(&spec, s);
        let due = due_instant(start, Unit::Days, count, zone, &cal);
        let nominal = s + Days::new(u64::from(count));
        // Art. 3(4) and 3(5) stated declaratively: the earliest day on or after
        // the nominal last day that is a working day and, for two days or more,
        // closes a period holding at least two working days.
        let expected = nominal
            .iter_days()
            .find(|d| cal.is_working_day(*d) && (count < 2 || working_days_in(&cal, s, *d) >= 2))
            .unwrap();
        prop_assert!(cal.is_working_day(expected));
        prop_assert_eq!(Some(due), end_of_local_day(expected, zone));
    }

    #[test]
    fn working_days_end_on_the_nth_working_day(
        start in instant(),
        count in 1u32..=60,
        zone in zone(),
        spec in cal_spec(),
    ) {
        let s = local_date(start, zone);
        let cal = build(&spec, s);
        let due = due_instant(start, Unit::WorkingDays, count, zone, &cal);
        // The count-th working day after the start day, found by stepping.
        let expected = s
            .iter_days()
            .skip(1)
            .filter(|d| cal.is_working_day(*d))
            .nth(count as usize - 1)
            .unwrap();
        prop_assert_eq!(working_days_in(&cal, s, expected), count as usize);
        prop_assert_eq!(Some(due), end_of_local_day(expected, zone));
    }

    #[test]
    fn hours_are_exact(
        start in instant(),
        count in 1u32..=100_000,
        zone in zone(),
        spec in cal_spec(),
    ) {
        let cal = build(&spec, local_date(start, zone));
        let due = due_instant(start, Unit::Hours, count, zone, &cal);
        prop_assert_eq!(due - start, TimeDelta::hours(i64::from(count)));
    }

    #[test]
    fn fast_working_day_arithmetic_matches_stepping_day_by_day(
        base_offset in 0u32..20_000,
        off in prop::collection::btree_set(0u32..400, 0..150),
        work in prop::collection::btree_set(0u32..400, 0..60),
        n in 0u32..250,
    ) {
        let base = date(2000, 1, 1) + Days::new(u64::from(base_offset));
        let at = |o: &u32| base + Days::new(u64::from(*o));
        let cal = HolidayCalendar {
            off: off.iter().map(at).collect::<BTreeSet<_>>(),
            workdays: work.iter().map(at).collect::<BTreeSet<_>>(),
        };
        let stepped = base
            .iter_days()
            .filter(|d| *d == base || cal.is_working_day(*d))
            .nth(n as usize)
            .unwrap();
        prop_assert_eq!(cal.nth_working_day_after(base, n), Some(stepped));
    }
}

#[test]
fn the_shipped_escalation_ladders() {
    use crate::domain::escalation::{Recipient::*, occurrences};
    let remediate = DEFAULT.rule("remediate").expect("remediate");
    let started = utc("2026-03-10T02:00:00Z");
    let due = utc("2026-06-10T16:00:00Z");
    let steps: Vec<(String, TimeDelta, Vec<_>)> = occurrences(&remediate.ladder(), started, due)
        .take(6)
        .map(|o| (o.name, o.at - due, o.to))
        .collect();
    let all = vec![Assignee, Leads, Compliance];
    assert_eq!(
        steps,
        vec![
            (
                "before_30d".to_owned(),
                TimeDelta::days(-30),
                vec![Assignee]
            ),
            (
                "before_14d".to_owned(),
                TimeDelta::days(-14),
                vec![Assignee, Leads]
            ),
            ("before_7d".to_owned(), TimeDelta::days(-7), all.clone()),
            ("at_due".to_owned(), TimeDelta::zero(), all.clone()),
            ("overdue_1w".to_owned(), TimeDelta::days(7), all.clone()),
            ("overdue_2w".to_owned(), TimeDelta::days(14), all),
        ]
    );
    // Every shipped clock has a ladder, proportionate on the short ones.
    for name in ["acknowledge", "triage", "contain", "authority_report"] {
        let ladder = DEFAULT.rule(name).unwrap().ladder();
        let first = occurrences(&ladder, started, started + TimeDelta::hours(48))
            .next()
            .unwrap();
        assert_eq!(first.name, "elapsed_50pct", "{name}");
        assert_eq!(first.at, started + TimeDelta::hours(24), "{name}");
    }
    assert!(DEFAULT.validate().is_ok());
    assert_eq!(
        DEFAULT.first_fire("remediate", started, due),
        Some(due - TimeDelta::days(30))
    );
    assert_eq!(DEFAULT.first_fire("no_such_clock", started, due), None);
}
