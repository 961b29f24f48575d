//! Deadlines: when each clock on an incident falls due (DESIGN.md §1).
//!
//! Pure functions of their inputs. Time is always passed in; nothing here
//! reads the system clock, so the sweep and the tests can move time freely.
//! Every result is a UTC instant, computed from dates in the clock's legal
//! time zone, because the law counts local days while the database stores
//! instants.

mod calendar;
pub mod calendars;
pub mod jurisdiction;
mod policy;
mod rules;

#[cfg(test)]
mod calendar_tests;
#[cfg(test)]
mod tests;

pub use calendar::HolidayCalendar;
pub use calendars::{
    AUTHORITY, Authority, Calendar, CalendarConfig, CalendarFile, CalendarSet, Calendars,
    ImportedYear, OfficialYear, Origin,
};
pub use jurisdiction::Jurisdiction;
pub use policy::{
    ClockDue, ClockEnd, ClockFacts, ClockRule, Policy, StartEvent, ceil_micros, ends_without_work,
};
pub use rules::{Unit, due_and_span, due_instant, local_display};
