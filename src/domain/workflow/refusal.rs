//! Why an action was not taken (for the person who tried), and why a stored history could not
//! be replayed (for the operator).

use std::fmt;

use super::action::ActionKind;
use super::rules::{roles_allowed, states_allowing};
use super::state::{Role, State};
use crate::domain::severity::{SeriousKind, Severity, UnknownName};

/// An action that was not taken, and why: data, not words. Its [`Display`](fmt::Display) (also
/// [`Refusal::reason`]) is the English sentence for the CLI, the API and the logs; pages put
/// it in the reader's language (`i18n::refusal`), so every detail a sentence needs is kept
/// here as a value, never as prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor's role may not take this action (or a person tried a system action, or the
    /// system a person's).
    NotPermitted {
        action: ActionKind,
        role: Option<Role>,
    },
    /// The action cannot be taken in the incident's current state.
    WrongState { action: ActionKind, state: State },
    /// A required field is missing or blank.
    Missing { field: &'static str },
    /// A field has a value that will not do.
    Invalid {
        field: &'static str,
        problem: Problem,
    },
    /// EU AI Act Art. 73(6): no change to the system before the authority is informed.
    EvidenceHold,
    /// Splitting out the only report would leave an incident about nothing.
    LastReport,
    /// The action would change nothing (and so would only add noise to the audit trail).
    NothingToChange { what: Unchanged },
    /// `open` on an incident that exists.
    AlreadyOpen { incident_id: i64 },
    /// Any action but `open` before there is an incident.
    NotOpen { action: ActionKind },
    /// A form or event named an action that does not exist.
    UnknownAction { name: String },
}

impl Refusal {
    /// The sentence to show.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The form field at fault, so a form can mark it.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Refusal::Missing { field } | Refusal::Invalid { field, .. } => Some(field),
            Refusal::LastReport => Some("report_id"),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotPermitted { action, .. } if action.is_system() => {
                write!(f, "only the system may {}", action.phrase())
            }
            Refusal::NotPermitted { action, role: None } => write!(
                f,
                "the system may not {}: a member of staff must",
                action.phrase()
            ),
            Refusal::NotPermitted { action, role: _ } => {
                let roles: Vec<&str> = roles_allowed(*action)
                    .into_iter()
                    .map(Role::label)
                    .collect();
                write!(f, "only {} may {}", a_list(&roles), action.phrase())
            }
            Refusal::WrongState { action, state } => {
                let states: Vec<&str> = states_allowing(*action)
                    .into_iter()
                    .map(State::label)
                    .collect();
                write!(
                    f,
                    "cannot {} while the incident is {}",
                    action.phrase(),
                    state.label()
                )?;
                if !states.is_empty() {
                    write!(f, " (only when it is {})", or_list(&states))?;
                }
                Ok(())
            }
            Refusal::Missing { field } => {
                write!(f, "{field}: {} is required", field_label(field))
            }
            Refusal::Invalid { field, problem } => write!(f, "{field}: {problem}"),
            Refusal::EvidenceHold => f.write_str(
                "evidence hold: cannot start retraining while the serious incident has not been \
                 reported to the authority (EU AI Act Art. 73(6)); record the authority report \
                 first, or have a lead or compliance officer lift the hold",
            ),
            Refusal::LastReport => {
                f.write_str("report_id: cannot split out the incident's only report")
            }
            Refusal::NothingToChange { what } => write!(f, "nothing to change: {what}"),
            Refusal::AlreadyOpen { incident_id } => write!(
                f,
                "incident {incident_id} is already open; an incident is opened only once"
            ),
            Refusal::NotOpen { action } => {
                write!(
                    f,
                    "cannot {} before the incident is opened",
                    action.phrase()
                )
            }
            Refusal::UnknownAction { name } => write!(f, "there is no action {name:?}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// What is wrong with a field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A control character other than a line break or a tab.
    ControlCharacters,
    /// More characters than the field takes.
    TooLong {
        max: usize,
    },
    /// A title longer than [`super::action::TITLE_MAX`].
    TitleTooLong {
        max: usize,
    },
    /// A number that must be 1 or more.
    NotPositive {
        value: i64,
    },
    NotANumber {
        value: String,
    },
    NotOnOrOff {
        value: String,
    },
    /// Not one of a closed set of names (a severity, a serious-incident kind).
    UnknownName(UnknownName),
    /// A category the configured taxonomy does not have.
    NotInTaxonomy {
        value: String,
    },
    /// Both a reference answer and a refusal style.
    BothDesired,
    MergeIntoItself,
    NoSuchIncident {
        id: i64,
    },
    MergeIntoDuplicate {
        id: i64,
    },
    MergeIntoClosed {
        id: i64,
        state: State,
    },
    AbsorbItself,
    SplitIntoItself,
    /// DSA Art. 20: the person who took the contested decision may not decide the appeal.
    OwnDecision,
    NoOpenAppeal,
    NotThisIncidentsReport {
        report_id: i64,
    },
    CaseRetired {
        case_id: i64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ControlCharacters => f.write_str(
                "it contains control characters (only line breaks and tabs are allowed)",
            ),
            Problem::TooLong { max } => write!(f, "it is longer than {max} characters"),
            Problem::TitleTooLong { max } => write!(f, "at most {max} characters"),
            Problem::NotPositive { value } => {
                write!(
                    f,
                    "{value} is not a valid number here (it must be 1 or more)"
                )
            }
            Problem::NotANumber { value } => write!(f, "{value:?} is not a number"),
            Problem::NotOnOrOff { value } => write!(f, "{value:?} is neither on nor off"),
            Problem::UnknownName(e) => write!(f, "{e}"),
            Problem::NotInTaxonomy { value } => {
                write!(f, "{value:?} is not a category of the taxonomy")
            }
            Problem::BothDesired => {
                f.write_str("give a reference answer or a refusal style, not both")
            }
            Problem::MergeIntoItself => f.write_str("an incident cannot be merged into itself"),
            Problem::NoSuchIncident { id } => write!(f, "there is no incident {id}"),
            Problem::MergeIntoDuplicate { id } => write!(
                f,
                "incident {id} is itself a duplicate; merge into the incident it duplicates"
            ),
            Problem::MergeIntoClosed { id, state } => write!(
                f,
                "incident {id} is {}; only an open incident can take in a merge",
                state.label()
            ),
            Problem::AbsorbItself => f.write_str("an incident cannot absorb itself"),
            Problem::SplitIntoItself => {
                f.write_str("a report split out must go to another incident")
            }
            Problem::OwnDecision => f.write_str(
                "an appeal is decided by someone other than the person who took the contested \
                 decision",
            ),
            Problem::NoOpenAppeal => f.write_str("this incident has no open appeal to decide"),
            Problem::NotThisIncidentsReport { report_id } => {
                write!(
                    f,
                    "report {report_id} is not one of this incident's reports"
                )
            }
            Problem::CaseRetired { case_id } => {
                write!(f, "case #{case_id} is retired; add a new case instead")
            }
        }
    }
}

/// What an action would not have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unchanged {
    EvidenceHold {
        on: bool,
    },
    Serious {
        kind: Option<SeriousKind>,
    },
    /// `assigned`: to that person already; otherwise to nobody already.
    Assignee {
        assigned: bool,
    },
    Title,
    Category {
        category: String,
    },
    Severity {
        severity: Severity,
    },
    /// A merge whose target could not be checked.
    MergeTarget,
    CaseText {
        case_id: i64,
    },
    CaseRetired {
        case_id: i64,
    },
}

impl fmt::Display for Unchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unchanged::EvidenceHold { on } => write!(
                f,
                "the evidence hold is already {}",
                if *on { "on" } else { "off" }
            ),
            Unchanged::Serious { kind: Some(kind) } => {
                write!(f, "already marked as a serious incident ({})", kind.label())
            }
            Unchanged::Serious { kind: None } => f.write_str("not marked as a serious incident"),
            Unchanged::Assignee { assigned: true } => {
                f.write_str("already assigned to that person")
            }
            Unchanged::Assignee { assigned: false } => f.write_str("not assigned to anyone"),
            Unchanged::Title => f.write_str("the title is already that"),
            Unchanged::Category { category } => write!(f, "the category is already {category}"),
            Unchanged::Severity { severity } => write!(f, "the severity is already {severity}"),
            Unchanged::MergeTarget => f.write_str("merge target"),
            Unchanged::CaseText { case_id } => write!(f, "case #{case_id} already reads so"),
            Unchanged::CaseRetired { case_id } => write!(f, "case #{case_id} is retired already"),
        }
    }
}

/// Words for a form field, for "… is required".
fn field_label(field: &str) -> &'static str {
    match field {
        "category" => "a category",
        "severity" => "a severity",
        "reasons" => "a statement of reasons for the reporter",
        "target" => "the incident to merge into",
        "filter_rule" => "the filter rule",
        "blocks" => "what the filter blocks",
        "plan" => "the fix plan",
        "reference_answer" => {
            "the desired behaviour: a reference answer or a refusal style (what the retrained model should say)"
        }
        "refusal_style" => "a refusal style",
        "case_id" => "the regression case",
        "prompt" => "the prompt",
        "bad_output" => "the bad output",
        "run_id" => "the verification run",
        "training_run" => "the training run",
        "model_version" => "the candidate model version",
        "prompts" => "the prompts used to verify",
        "outcome" => "the outcome of verification",
        "reason" => "a reason",
        "reference" => "the authority's reference",
        "text" => "the comment's text",
        "report_id" => "the report",
        "new_incident_id" => "the new incident",
        "title" => "a title",
        "fingerprint" => "a fingerprint",
        "from_incident" => "the merged incident",
        _ => "a value",
    }
}

/// "a triager, lead or admin" / "an engineer or admin".
fn a_list(nouns: &[&str]) -> String {
    let list = or_list(nouns);
    let article = match list.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    };
    format!("{article} {list}")
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A stored history that does not fold into an incident: a bug, a migration gone wrong or
/// tampering. Never shown to a reporter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("incident {incident_id}: its first event is {action:?}, not \"open\"")]
    NotOpened { incident_id: i64, action: String },
    #[error("incident {incident_id}: event {version} opens it a second time")]
    OpenedTwice { incident_id: i64, version: i64 },
    #[error("an event of incident {found} was replayed onto incident {expected}")]
    WrongIncident { expected: i64, found: i64 },
    #[error(
        "incident {incident_id}: event {version} ({action}) starts from {found}, \
         but the incident was {expected}"
    )]
    StateMismatch {
        incident_id: i64,
        version: i64,
        action: String,
        expected: String,
        found: String,
    },
    #[error("incident {incident_id}: event {version} ({action}) has unreadable data: {reason}")]
    BadData {
        incident_id: i64,
        version: i64,
        action: String,
        reason: String,
    },
    #[error("incident {incident_id}: event {version} names an unknown state {state:?}")]
    UnknownState {
        incident_id: i64,
        version: i64,
        state: String,
    },
}
