//! Deadlines: when each clock on an incident falls due (DESIGN.md §1).
//!
//! Pure functions of their inputs. Time is always passed in; nothing here
//! reads the system clock, so the sweep and the tests can move time freely.
//! Every result is a UTC instant, computed from dates in the clock's legal
//! time zone, because the law counts local days while the database stores
//! instants.

mod calendar;
mod policy;
mod rules;

#[cfg(test)]
mod tests;

pub use calendar::HolidayCalendar;
pub use policy::{ClockDue, ClockFacts, ClockRule, Policy, SERIOUS_KINDS, SEVERITIES, StartEvent};
pub use rules::{Unit, due_instant, local_display};
