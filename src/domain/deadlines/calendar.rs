//! Working days: which local dates count, and arithmetic over them.
//!
//! A calendar only lists the exceptions to the plain Monday–Friday week, so the
//! arithmetic below walks the plain week in closed form and visits the listed
//! exceptions one by one. That keeps every operation proportional to the size
//! of the calendar rather than to the length of the period: a misconfigured
//! count of four billion working days must not hang the deadline sweep.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Public holidays and make-up working days of one jurisdiction.
///
/// Dates missing from both sets follow the plain week. The calendars a policy
/// uses are built so that no year is left to the plain week: see
/// [`super::calendars::Calendar::build`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayCalendar {
    /// Public holidays (法定节假日 and the rest days moved next to them).
    #[serde(default)]
    pub off: BTreeSet<NaiveDate>,
    /// Saturdays and Sundays that are worked to make up for a bridged holiday
    /// (调休上班日).
    #[serde(default)]
    pub workdays: BTreeSet<NaiveDate>,
}

pub(super) fn is_weekend(d: NaiveDate) -> bool {
    d.weekday().num_days_from_monday() >= 5
}

impl HolidayCalendar {
    /// Monday–Friday unless listed in `off`; Saturday and Sunday only if listed
    /// in `workdays`.
    ///
    /// A date listed in both is treated as off: `Policy::validate` rejects
    /// that contradiction, and resting on a doubtful day can only move a
    /// deadline later, which a reviewer will notice, never silently shorten it.
    #[must_use]
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.off.contains(&d) {
            return false;
        }
        !is_weekend(d) || self.workdays.contains(&d)
    }

    /// `d` itself if it is a working day, else the next one. `None` only when
    /// the date range of chrono runs out.
    pub(super) fn working_day_on_or_after(&self, d: NaiveDate) -> Option<NaiveDate> {
        // Terminates: at most two weekend days separate runs of weekdays, and
        // only the finitely many `off` dates can make a weekday non-working.
        let mut d = d;
        while !self.is_working_day(d) {
            d = d.succ_opt()?;
        }
        Some(d)
    }

    /// The `n`-th working day strictly after `after`; `after` itself for
    /// `n == 0`. `None` when the result lies beyond chrono's date range.
    pub(super) fn nth_working_day_after(&self, after: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut remaining = u64::from(n);
        if remaining == 0 {
            return Some(after);
        }
        // Every date up to and including `cur` has been counted.
        let mut cur = after;
        for e in self.exceptions_after(after) {
            let plain = weekdays_between(cur, e.pred_opt()?);
            if remaining <= plain {
                return nth_weekday_after(cur, remaining);
            }
            remaining -= plain;
            if self.is_working_day(e) {
                remaining -= 1;
                if remaining == 0 {
                    return Some(e);
                }
            }
            cur = e;
        }
        nth_weekday_after(cur, remaining)
    }

    /// Listed dates after `after` whose status differs from the plain week,
    /// in ascending order and without duplicates.
    fn exceptions_after(&self, after: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        // Merges the two sorted sets from `after` on (a calendar holds a century of
        // provisional holidays, so starting at the beginning would cost), once per date.
        use std::ops::Bound::{Excluded, Unbounded};
        let mut off = self
            .off
            .range((Excluded(after), Unbounded))
            .copied()
            .peekable();
        let mut work = self
            .workdays
            .range((Excluded(after), Unbounded))
            .copied()
            .peekable();
        std::iter::from_fn(move || match (off.peek().copied(), work.peek().copied()) {
            (Some(a), Some(b)) if a == b => {
                work.next();
                off.next()
            }
            (Some(a), Some(b)) if a < b => off.next(),
            (Some(_), Some(_)) | (None, Some(_)) => work.next(),
            (Some(_), None) => off.next(),
            (None, None) => None,
        })
        .filter(|e| self.is_working_day(*e) == is_weekend(*e))
    }
}

/// Monday–Friday dates in `(a, b]`; zero when `b <= a`.
fn weekdays_between(a: NaiveDate, b: NaiveDate) -> u64 {
    let Ok(span) = u64::try_from((b - a).num_days()) else {
        return 0;
    };
    let first = u64::from(a.weekday().num_days_from_monday());
    // Any seven consecutive dates hold exactly five weekdays; only the tail
    // of fewer than seven dates needs looking at.
    let tail = (1..=span % 7).filter(|i| (first + i) % 7 < 5).count();
    span / 7 * 5 + tail as u64
}

/// The `n`-th (n ≥ 1) Monday–Friday date strictly after `a`.
fn nth_weekday_after(a: NaiveDate, n: u64) -> Option<NaiveDate> {
    let weeks = (n - 1) / 5;
    let mut d = a.checked_add_days(Days::new(weeks.checked_mul(7)?))?;
    let mut left = n - weeks * 5;
    loop {
        d = d.succ_opt()?;
        if !is_weekend(d) {
            left -= 1;
            if left == 0 {
                return Some(d);
            }
        }
    }
}
