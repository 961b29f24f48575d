//! Where an incident is in the workflow, and who is acting on it.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::super::severity::UnknownName;
use super::super::spelling;

/// The workflow states of DESIGN.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Triaged,
    Contained,
    FixPlanned,
    Retraining,
    Verifying,
    Resolved,
    Rejected,
    Duplicate,
}

impl State {
    /// In workflow order, open states first.
    pub const ALL: [State; 9] = [
        State::New,
        State::Triaged,
        State::Contained,
        State::FixPlanned,
        State::Retraining,
        State::Verifying,
        State::Resolved,
        State::Rejected,
        State::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Triaged => "triaged",
            State::Contained => "contained",
            State::FixPlanned => "fix_planned",
            State::Retraining => "retraining",
            State::Verifying => "verifying",
            State::Resolved => "resolved",
            State::Rejected => "rejected",
            State::Duplicate => "duplicate",
        }
    }

    /// Reads after "the incident is …" in a sentence.
    pub fn label(self) -> &'static str {
        match self {
            State::New => "new",
            State::Triaged => "triaged",
            State::Contained => "contained",
            State::FixPlanned => "fix planned",
            State::Retraining => "in retraining",
            State::Verifying => "in verification",
            State::Resolved => "resolved",
            State::Rejected => "rejected",
            State::Duplicate => "a duplicate",
        }
    }

    /// Still being worked on: everything but resolved, rejected and duplicate.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Resolved | State::Rejected | State::Duplicate)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spelling::find(&State::ALL, State::as_str, s).ok_or_else(|| UnknownName {
            what: "state",
            value: s.to_owned(),
            expected: "new, triaged, contained, fix_planned, retraining, verifying, \
                           resolved, rejected or duplicate",
        })
    }
}

/// A member of staff's role. What each may do is [`super::may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Triager,
    Engineer,
    Lead,
    Compliance,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Triager,
        Role::Engineer,
        Role::Lead,
        Role::Compliance,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Triager => "triager",
            Role::Engineer => "engineer",
            Role::Lead => "lead",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
        }
    }

    /// The person holding the role, as a noun ("a compliance officer").
    pub fn label(self) -> &'static str {
        match self {
            Role::Triager => "triager",
            Role::Engineer => "engineer",
            Role::Lead => "lead",
            Role::Compliance => "compliance officer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spelling::find(&Role::ALL, Role::as_str, s).ok_or_else(|| UnknownName {
            what: "role",
            value: s.to_owned(),
            expected: "triager, engineer, lead, compliance or admin",
        })
    }
}

crate::deserialize_by_spelling!(State);
crate::deserialize_by_spelling!(Role);
