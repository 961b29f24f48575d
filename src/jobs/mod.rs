//! Scheduled work: the deadline sweep (escalation steps that fell due → escalation rows and
//! outbox rows). Built on the incident clocks stored at intake.

pub mod calendar;
pub mod cli;
pub mod retention;
pub mod retraining;
pub mod sweep;
