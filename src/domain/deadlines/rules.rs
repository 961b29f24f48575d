//! The period rules themselves (DESIGN.md §1): from a start instant to a due
//! instant, in the legal time zone of the clock.

use chrono::{
    DateTime, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::HolidayCalendar;

/// How a clock's `count` is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Chinese Civil Code Arts. 201–203.
    CalendarMonths,
    /// EU Regulation 1182/71 Art. 3.
    Days,
    /// Working days of the clock's calendar, e.g. a published feedback limit.
    WorkingDays,
    /// Elapsed real time; no calendar involved.
    Hours,
}

/// The instant at which a period of `count` `unit`s that starts at `start`
/// expires, in UTC.
///
/// Date-based units take the start day as the *local* date of `start` in
/// `zone` (a report at 00:30 in Shanghai belongs to that Shanghai date even
/// though it is the previous date in UTC), never count it, and end at 24:00
/// local time of the last day. `cal` decides which days are working days.
///
/// `count == 0` is rejected by `Policy::validate`; here it degenerates
/// without panicking (the end of the start day, or `start` for hours). A
/// result beyond chrono's range saturates to `DateTime::<Utc>::MAX_UTC`, which
/// keeps the function total and monotonic.
#[must_use]
pub fn due_instant(
    start: DateTime<Utc>,
    unit: Unit,
    count: u32,
    zone: Tz,
    cal: &HolidayCalendar,
) -> DateTime<Utc> {
    due_and_span(start, unit, count, zone, cal).0
}

/// [`due_instant`], and the local dates whose working-day status the result depends on (first,
/// last), so a caller can tell which calendar years it rests on. `None` for hours, which no
/// calendar touches, and for a result beyond chrono's range.
#[must_use]
pub fn due_and_span(
    start: DateTime<Utc>,
    unit: Unit,
    count: u32,
    zone: Tz,
    cal: &HolidayCalendar,
) -> (DateTime<Utc>, Option<(NaiveDate, NaiveDate)>) {
    let s = local_date(start, zone);
    let (due, span) = match unit {
        Unit::Hours => (
            TimeDelta::try_hours(i64::from(count)).and_then(|h| start.checked_add_signed(h)),
            None,
        ),
        Unit::CalendarMonths => {
            // Only the days from the corresponding day to the rolled last day are looked at.
            let unrolled = s.checked_add_months(Months::new(count));
            let last = calendar_months_last_day(s, count, cal);
            (
                last.and_then(|d| end_of_local_day(d, zone)),
                unrolled.zip(last),
            )
        }
        Unit::Days => {
            let last = days_last_day(s, count, cal);
            // Art. 3(5) counts working days from the day after the start.
            let first = if count < 2 {
                s.checked_add_days(Days::new(u64::from(count)))
            } else {
                s.succ_opt()
            };
            (
                last.and_then(|d| end_of_local_day(d, zone)),
                first.zip(last),
            )
        }
        Unit::WorkingDays => {
            let last = cal.nth_working_day_after(s, count);
            (
                last.and_then(|d| end_of_local_day(d, zone)),
                s.succ_opt().zip(last),
            )
        }
    };
    match due {
        Some(due) => (due, span),
        None => (DateTime::<Utc>::MAX_UTC, None),
    }
}

/// "2026-03-01 00:00 CST (Asia/Shanghai)": the local wall clock plus the zone
/// name, because an abbreviation alone is ambiguous (CST is also US Central).
#[must_use]
pub fn local_display(at: DateTime<Utc>, zone: Tz) -> String {
    format!(
        "{} ({})",
        at.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z"),
        zone.name()
    )
}

pub(super) fn local_date(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

/// Last day of a calendar-month period, after holiday roll-over.
fn calendar_months_last_day(
    start: NaiveDate,
    count: u32,
    cal: &HolidayCalendar,
) -> Option<NaiveDate> {
    // Art. 202: the corresponding day of the last month is the last day, or the
    // month's last day when there is no corresponding day. chrono's
    // checked_add_months clamps the day of month to exactly that, and keeps it
    // otherwise (Feb 28 + 1 month is Mar 28, not Mar 31), which is also the
    // Civil Code reading; the property tests check it against an independent
    // computation.
    let unrolled = start.checked_add_months(Months::new(count))?;
    // Art. 203: a last day that is a 法定休假日 moves to the day after the
    // holiday ends. Rest days (weekends) are 法定休假日 too, while a make-up
    // Saturday is a working day and does not move.
    cal.working_day_on_or_after(unrolled)
}

/// Last day of a period in days (Reg. 1182/71 Art. 3), after roll-over and
/// the two-working-day minimum.
fn days_last_day(start: NaiveDate, count: u32, cal: &HolidayCalendar) -> Option<NaiveDate> {
    // Art. 3(1) leaves out the day of the event; Art. 3(2)(b) ends the period
    // with the last hour of its last day.
    let nominal = start.checked_add_days(Days::new(u64::from(count)))?;
    // Art. 3(4): a last day on a Saturday, Sunday or public holiday moves to
    // the end of the following working day.
    let rolled = cal.working_day_on_or_after(nominal)?;
    if count < 2 {
        return Some(rolled);
    }
    // Art. 3(5): a period of two days or more holds at least two working days.
    // `rolled` is a working day, so it already holds two unless it comes
    // before the second working day after the start, and then that day is the
    // shortest extension that does.
    let second = cal.nth_working_day_after(start, 2)?;
    Some(rolled.max(second))
}

/// 24:00 local time on `day`, i.e. the first moment of the next local day, in
/// UTC.
pub(super) fn end_of_local_day(day: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    let midnight = day.succ_opt()?.and_time(NaiveTime::MIN);
    earliest_at_or_after(midnight, zone)
}

/// The earliest instant whose local wall-clock time in `zone` is `local` or
/// later.
///
/// Legal text says a period ends "at 24:00" of its last day, i.e. when that
/// day is over. Where local midnight happens twice (Cuba falls back from 01:00
/// to 00:00), the day is over at the first 00:00: the repeated hour already
/// belongs to the next day, and taking the second would add an hour the law
/// does not grant. Where midnight is skipped (Chile, Lebanon and Cuba spring
/// forward at 00:00; Samoa skipped 30 December 2011 entirely), the day is over
/// at the transition, when the clock jumps straight into the next day; any
/// earlier instant still belongs to the last day, any later one would extend
/// the period.
fn earliest_at_or_after(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    const STEP_MINUTES: i64 = 15;
    const MAX_PROBES: i64 = 2 * 24 * 60 / STEP_MINUTES;
    if let Some(t) = zone.from_local_datetime(&local).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // `local` falls in a gap. The transition is `local` read with the offset
    // in force just before the gap, so find that offset by probing backwards.
    // Real gaps are at most a day long (Samoa 2011); the step is short enough
    // that no second transition can hide between the probe and the gap.
    for i in 1..=MAX_PROBES {
        let probe = local.checked_sub_signed(TimeDelta::minutes(i * STEP_MINUTES))?;
        if let Some(before) = zone.from_local_datetime(&probe).latest() {
            let utc = local.checked_sub_offset(before.offset().fix())?;
            return Some(Utc.from_utc_datetime(&utc));
        }
    }
    None
}
