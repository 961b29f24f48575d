//! sea-orm entities, one per table. Hand-written logic lives in the query modules beside them.

pub mod alert_notice;
pub mod attachment;
pub mod calendar_notice;
pub mod calendar_revision;
pub mod calendar_year;
pub mod discovery_source;
pub mod escalation;
pub mod incident;
pub mod incident_clock;
pub mod incident_event;
pub mod machine_token;
pub mod outbox;
pub mod regression_case;
pub mod report;
pub mod reporter_message;
pub mod session;
pub mod user;
pub mod verification_result;
pub mod verification_run;
