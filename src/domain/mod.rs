//! Pure domain logic: no IO, no async, no database types. Time is always passed in.

pub mod alert;
pub mod audit;
pub mod cases;
pub mod deadlines;
pub mod discovery;
pub mod escalation;
pub mod fingerprint;
pub mod locale;
pub mod report;
pub mod severity;
pub mod spelling;
pub mod stage;
pub mod taxonomy;
pub mod text;
pub mod token;
pub mod tracking_code;
pub mod workflow;
