//! What can be done to an incident, with the data each action needs.
//!
//! An action's data is also its event's `data`: [`Action::data`] writes it and
//! [`Action::from_event`] reads it back, so the event log holds everything a replay needs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::audit::{micros, truncate_micros};
use super::super::severity::{SeriousKind, Severity, UnknownName};
use super::refusal::{Problem, Refusal};
use super::state::State;

/// An action without its data: what the role table and the incident page's buttons deal in.
/// Its `as_str` is the event's `action` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Triage,
    Contain,
    PlanFix,
    StartRetraining,
    SubmitForVerification,
    VerifyPass,
    VerifyFail,
    Reopen,
    Reject,
    Merge,
    SplitOut,
    Assign,
    SetCategory,
    SetSeverity,
    SetTitle,
    SetSerious,
    SetEvidenceHold,
    RecordAuthorityReport,
    Comment,
    AddCase,
    EditCase,
    RetireCase,
    RecordVerification,
    Open,
    AddReport,
    Absorb,
    RecomputeClock,
    MessageReporter,
    PublishSummary,
    ReporterReply,
    Redact,
    Appeal,
    UpholdAppeal,
    GrantAppeal,
    AttachEvidence,
}

impl ActionKind {
    /// In the order an incident page offers them: the workflow's path first, then corrections,
    /// the legal side, comments; the system's own actions last.
    pub const ALL: [ActionKind; 35] = [
        ActionKind::Triage,
        ActionKind::Contain,
        ActionKind::PlanFix,
        ActionKind::StartRetraining,
        ActionKind::SubmitForVerification,
        ActionKind::VerifyPass,
        ActionKind::VerifyFail,
        ActionKind::Reopen,
        ActionKind::Reject,
        ActionKind::Merge,
        ActionKind::SplitOut,
        ActionKind::Assign,
        ActionKind::SetCategory,
        ActionKind::SetSeverity,
        ActionKind::SetTitle,
        ActionKind::SetSerious,
        ActionKind::SetEvidenceHold,
        ActionKind::RecordAuthorityReport,
        ActionKind::Comment,
        ActionKind::AddCase,
        ActionKind::EditCase,
        ActionKind::RetireCase,
        ActionKind::RecordVerification,
        ActionKind::Open,
        ActionKind::AddReport,
        ActionKind::Absorb,
        ActionKind::RecomputeClock,
        ActionKind::MessageReporter,
        ActionKind::PublishSummary,
        ActionKind::ReporterReply,
        ActionKind::Redact,
        ActionKind::Appeal,
        ActionKind::UpholdAppeal,
        ActionKind::GrantAppeal,
        ActionKind::AttachEvidence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Triage => "triage",
            ActionKind::Contain => "contain",
            ActionKind::PlanFix => "plan_fix",
            ActionKind::StartRetraining => "start_retraining",
            ActionKind::SubmitForVerification => "submit_for_verification",
            ActionKind::VerifyPass => "verify_pass",
            ActionKind::VerifyFail => "verify_fail",
            ActionKind::Reopen => "reopen",
            ActionKind::Reject => "reject",
            ActionKind::Merge => "merge",
            ActionKind::SplitOut => "split_out",
            ActionKind::Assign => "assign",
            ActionKind::SetCategory => "set_category",
            ActionKind::SetTitle => "set_title",
            ActionKind::SetSeverity => "set_severity",
            ActionKind::SetSerious => "set_serious",
            ActionKind::SetEvidenceHold => "set_evidence_hold",
            ActionKind::RecordAuthorityReport => "record_authority_report",
            ActionKind::Comment => "comment",
            ActionKind::AddCase => "add_case",
            ActionKind::EditCase => "edit_case",
            ActionKind::RetireCase => "retire_case",
            ActionKind::RecordVerification => "record_verification",
            ActionKind::Open => "open",
            ActionKind::AddReport => "add_report",
            ActionKind::Absorb => "absorb",
            ActionKind::RecomputeClock => "recompute_clock",
            ActionKind::MessageReporter => "message_reporter",
            ActionKind::PublishSummary => "publish_summary",
            ActionKind::ReporterReply => "reporter_reply",
            ActionKind::Redact => "redact",
            ActionKind::Appeal => "appeal",
            ActionKind::UpholdAppeal => "uphold_appeal",
            ActionKind::GrantAppeal => "grant_appeal",
            ActionKind::AttachEvidence => "attach_evidence",
        }
    }

    /// Taken by the system (intake, merges) or a machine (a verification run's evidence),
    /// never offered to a person.
    pub fn is_system(self) -> bool {
        matches!(
            self,
            ActionKind::Open
                | ActionKind::AddReport
                | ActionKind::Absorb
                | ActionKind::RecomputeClock
                | ActionKind::RecordVerification
                | ActionKind::ReporterReply
                | ActionKind::Redact
                | ActionKind::Appeal
        )
    }

    /// A change to the incident's regression cases: offered by the cases panel of the incident
    /// page rather than as a form of its own.
    pub fn is_case(self) -> bool {
        matches!(
            self,
            ActionKind::AddCase | ActionKind::EditCase | ActionKind::RetireCase
        )
    }

    /// Changes the incident's state (in at least one state it can be taken from).
    pub fn is_transition(self) -> bool {
        use ActionKind::*;
        matches!(
            self,
            Triage
                | Contain
                | PlanFix
                | StartRetraining
                | SubmitForVerification
                | VerifyPass
                | VerifyFail
                | Reopen
                | Reject
                | Merge
                | Open
                | GrantAppeal
        )
    }

    /// A button's or an event log line's caption.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::Triage => "Triage",
            ActionKind::Contain => "Record containment",
            ActionKind::PlanFix => "Plan fix",
            ActionKind::StartRetraining => "Start retraining",
            ActionKind::SubmitForVerification => "Submit for verification",
            ActionKind::VerifyPass => "Verification passed",
            ActionKind::VerifyFail => "Verification failed",
            ActionKind::Reopen => "Reopen",
            ActionKind::Reject => "Reject",
            ActionKind::Merge => "Merge into another incident",
            ActionKind::SplitOut => "Split out a report",
            ActionKind::Assign => "Assign",
            ActionKind::SetCategory => "Change category",
            ActionKind::SetTitle => "Edit title",
            ActionKind::SetSeverity => "Change severity",
            ActionKind::SetSerious => "Serious incident",
            ActionKind::SetEvidenceHold => "Evidence hold",
            ActionKind::RecordAuthorityReport => "Record authority report",
            ActionKind::Comment => "Comment",
            ActionKind::AddCase => "Regression case added",
            ActionKind::EditCase => "Regression case edited",
            ActionKind::RetireCase => "Regression case retired",
            ActionKind::RecordVerification => "Verification run recorded",
            ActionKind::Open => "Opened",
            ActionKind::AddReport => "Report added",
            ActionKind::Absorb => "Merged incident's reports added",
            ActionKind::RecomputeClock => "Deadline recomputed",
            ActionKind::MessageReporter => "Message to the reporter",
            ActionKind::PublishSummary => "Public summary",
            ActionKind::ReporterReply => "Reporter replied",
            ActionKind::Redact => "Personal data erased",
            ActionKind::Appeal => "Decision contested (appeal)",
            ActionKind::UpholdAppeal => "Uphold the decision (appeal refused)",
            ActionKind::GrantAppeal => "Reopen on appeal",
            ActionKind::AttachEvidence => "Evidence attached",
        }
    }

    /// Completes "only a lead may …" / "cannot … while".
    pub fn phrase(self) -> &'static str {
        match self {
            ActionKind::Triage => "triage an incident",
            ActionKind::Contain => "record a containment",
            ActionKind::PlanFix => "plan a fix",
            ActionKind::StartRetraining => "start retraining",
            ActionKind::SubmitForVerification => "submit a fix for verification",
            ActionKind::VerifyPass => "verify a fix",
            ActionKind::VerifyFail => "fail a fix at verification",
            ActionKind::Reopen => "reopen an incident",
            ActionKind::Reject => "reject an incident",
            ActionKind::Merge => "merge an incident into another",
            ActionKind::SplitOut => "split a report out of an incident",
            ActionKind::Assign => "assign an incident",
            ActionKind::SetCategory => "change an incident's category",
            ActionKind::SetTitle => "edit an incident's title",
            ActionKind::SetSeverity => "change an incident's severity",
            ActionKind::SetSerious => "mark a serious incident",
            ActionKind::SetEvidenceHold => "place or lift an evidence hold",
            ActionKind::RecordAuthorityReport => "record a report to the authority",
            ActionKind::Comment => "comment on an incident",
            ActionKind::AddCase => "add a regression case",
            ActionKind::EditCase => "edit a regression case",
            ActionKind::RetireCase => "retire a regression case",
            ActionKind::RecordVerification => "record a verification run",
            ActionKind::Open => "open an incident",
            ActionKind::AddReport => "add a report to an incident",
            ActionKind::Absorb => "move a merged incident's reports",
            ActionKind::RecomputeClock => "recompute a deadline",
            ActionKind::MessageReporter => "send a message to a reporter",
            ActionKind::PublishSummary => "publish what was done for the reporters",
            ActionKind::ReporterReply => "record a reporter's reply",
            ActionKind::Redact => "erase a reporter's personal data",
            ActionKind::Appeal => "contest a decision",
            ActionKind::UpholdAppeal => "uphold a contested decision",
            ActionKind::GrantAppeal => "reopen an incident on appeal",
            ActionKind::AttachEvidence => "attach evidence to an incident",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::super::spelling::find(&ActionKind::ALL, ActionKind::as_str, s).ok_or_else(|| {
            UnknownName {
                what: "action",
                value: s.to_owned(),
                expected: "one of the workflow's actions",
            }
        })
    }
}

crate::deserialize_by_spelling!(ActionKind);

/// The incident a merge goes into, as the caller found it when it looked it up.
///
/// `state` is `None` when no such incident exists, which [`super::apply`] refuses; a form only
/// carries the id, so the web layer looks the target up and fills `state` in before applying
/// (or uses [`super::merge`], which does both sides at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeTarget {
    pub id: i64,
    pub state: Option<State>,
}

/// Something done to an incident, with its data. Strings are trimmed and required ones must not
/// be blank; instants are kept to the microsecond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "data", rename_all = "snake_case")]
pub enum Action {
    /// new → triaged: settles the specific risk and how urgent it is.
    Triage {
        category: String,
        severity: Severity,
    },
    /// new / triaged → rejected: `reasons` is the statement of reasons the reporter sees
    /// (DSA Art. 17).
    Reject {
        reasons: String,
    },
    /// new / triaged → duplicate. The target must exist, be open, and not be this incident.
    Merge {
        target: MergeTarget,
    },
    /// triaged → contained: the filter now stopping the content.
    Contain {
        filter_rule: String,
        blocks: String,
    },
    /// contained → fix_planned. Names the desired behaviour the retraining aims at, used for
    /// every regression case without a response of its own: a reference answer or a refusal
    /// (exactly one; events before the retraining loop have neither).
    PlanFix {
        plan: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference_answer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal_style: Option<String>,
    },
    /// fix_planned / retraining → retraining; refused under an evidence hold.
    StartRetraining {
        training_run: String,
    },
    /// retraining → verifying.
    SubmitForVerification {
        model_version: String,
    },
    /// verifying → resolved: which prompts were tried and what came out. `run_id` names the
    /// verification run posted by the pipeline that decided it (none when a lead decided).
    VerifyPass {
        prompts: String,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<String>,
    },
    /// verifying → retraining. A run names the cases that failed.
    VerifyFail {
        prompts: String,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed_cases: Vec<i64>,
    },
    /// resolved → triaged; rejected → triaged (or new if it was never triaged).
    Reopen {
        reason: String,
    },
    SetEvidenceHold {
        on: bool,
    },
    /// `None` withdraws the designation.
    SetSerious {
        kind: Option<SeriousKind>,
    },
    /// Also lifts the evidence hold: the authority now knows.
    RecordAuthorityReport {
        reference: String,
    },
    /// `None` unassigns.
    Assign {
        assignee: Option<i64>,
    },
    /// Internal: never shown to the reporter.
    Comment {
        text: String,
    },
    /// A regression case typed by staff (cases made from reports come with their report's
    /// own event). The texts are in the event, so the chain covers them.
    AddCase {
        case_id: i64,
        prompt: String,
        bad_output: String,
        desired: Option<String>,
    },
    /// A case's texts after an edit (`desired: None`: the incident's desired behaviour).
    EditCase {
        case_id: i64,
        prompt: String,
        bad_output: String,
        desired: Option<String>,
    },
    /// A case no longer used for training or verification.
    RetireCase {
        case_id: i64,
        reason: String,
    },
    /// Machine: a verification run's evidence for an incident it did not move (not in
    /// verification, or not every case covered), and why.
    RecordVerification {
        run_id: String,
        model_version: String,
        cases: i64,
        passed: i64,
        failed: i64,
        reason: String,
    },
    SetCategory {
        category: String,
    },
    /// Staff name the incident in their own words (the first report's output is only a start).
    SetTitle {
        title: String,
    },
    SetSeverity {
        severity: Severity,
    },
    /// A report leaves this incident for `new_incident_id` (which the caller opens first, with
    /// its own `open` event). Refused for the last report.
    SplitOut {
        report_id: i64,
        new_incident_id: i64,
    },
    /// System: the first event of every incident (from none to new). The report that caused
    /// it counts as the incident's first report.
    Open {
        category: String,
        title: String,
        fingerprint: String,
        #[serde(with = "micros")]
        first_reported_at: DateTime<Utc>,
    },
    /// System: one more report of the same content.
    AddReport {
        report_id: i64,
    },
    /// System: a running clock's due instant moved because the calendar it is counted in
    /// changed (an official year loaded in place of the provisional rule, or a correction).
    /// Changes nothing on the row; the clock row follows in the same transaction.
    RecomputeClock {
        clock: String,
        #[serde(with = "micros")]
        old_due: DateTime<Utc>,
        #[serde(with = "micros")]
        new_due: DateTime<Utc>,
        /// The calendar the clock is counted in.
        calendar: String,
        /// What changed in it (the calendar revision's description).
        change: String,
        /// Whether the new due instant still rests on a provisional year.
        provisional: bool,
    },
    /// Staff → reporter: shown on the status page and mailed, in each reporter's language.
    /// `report_id: None` is every reporter of the incident. The text is what reporters read,
    /// so the chain covers it.
    MessageReporter {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_id: Option<i64>,
        text: String,
    },
    /// What was done, in public terms (never internal notes): the status page shows the latest
    /// one at "action taken" and "closed", and reporters are mailed it.
    PublishSummary {
        text: String,
    },
    /// System: a reporter answered on their status page. The text is personal data the
    /// retention policy erases, so the chain covers its SHA-256 and the text lives beside it.
    ReporterReply {
        report_id: i64,
        message_id: i64,
        sha256: String,
        /// The file that came with the reply (re-encoded), and its SHA-256: the chain covers
        /// the file as it covers staff evidence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment_sha256: Option<String>,
    },
    /// System: the retention policy erased a report's personal data (name, email, reply texts).
    /// The chain covers the SHA-256 of what was erased, never the content itself, so it still
    /// verifies and still proves what was there.
    Redact {
        report_id: i64,
        sha256: String,
        fields: Vec<String>,
    },
    /// A reporter contests the decision that closed the incident (DSA Art. 20). The reasons are
    /// the reporter's text, kept beside the event (the chain covers their SHA-256); the event
    /// names the contested decision and who took it, so someone else decides the appeal.
    Appeal {
        report_id: i64,
        message_id: i64,
        sha256: String,
        contested: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contested_by: Option<i64>,
    },
    /// The appeal is refused: the decision stands, with reasons the reporter reads.
    /// `contested_by` is filled in by the caller from the open appeal (like a merge target's
    /// state), so the engine can refuse a self-review.
    UpholdAppeal {
        reasons: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contested_by: Option<i64>,
    },
    /// The appeal succeeds: the incident reopens (as `reopen` does), with reasons.
    GrantAppeal {
        reasons: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contested_by: Option<i64>,
    },
    /// A file staff attached as evidence (evaluation results, the filter rule's proof): the
    /// chain covers its SHA-256, so the file cannot be swapped unnoticed.
    AttachEvidence {
        attachment_id: i64,
        sha256: String,
        filename: String,
        media_type: String,
        size: i64,
    },
    /// System: the other side of a merge: the merged incident's reports, and the instant of its
    /// first report, move here (the earlier first report wins).
    Absorb {
        from_incident: i64,
        reports: i64,
        #[serde(with = "micros")]
        first_reported_at: DateTime<Utc>,
    },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Triage { .. } => ActionKind::Triage,
            Action::Reject { .. } => ActionKind::Reject,
            Action::Merge { .. } => ActionKind::Merge,
            Action::Contain { .. } => ActionKind::Contain,
            Action::PlanFix { .. } => ActionKind::PlanFix,
            Action::StartRetraining { .. } => ActionKind::StartRetraining,
            Action::SubmitForVerification { .. } => ActionKind::SubmitForVerification,
            Action::VerifyPass { .. } => ActionKind::VerifyPass,
            Action::VerifyFail { .. } => ActionKind::VerifyFail,
            Action::Reopen { .. } => ActionKind::Reopen,
            Action::SetEvidenceHold { .. } => ActionKind::SetEvidenceHold,
            Action::SetSerious { .. } => ActionKind::SetSerious,
            Action::RecordAuthorityReport { .. } => ActionKind::RecordAuthorityReport,
            Action::Assign { .. } => ActionKind::Assign,
            Action::Comment { .. } => ActionKind::Comment,
            Action::AddCase { .. } => ActionKind::AddCase,
            Action::EditCase { .. } => ActionKind::EditCase,
            Action::RetireCase { .. } => ActionKind::RetireCase,
            Action::RecordVerification { .. } => ActionKind::RecordVerification,
            Action::SetCategory { .. } => ActionKind::SetCategory,
            Action::SetTitle { .. } => ActionKind::SetTitle,
            Action::SetSeverity { .. } => ActionKind::SetSeverity,
            Action::SplitOut { .. } => ActionKind::SplitOut,
            Action::Open { .. } => ActionKind::Open,
            Action::AddReport { .. } => ActionKind::AddReport,
            Action::Absorb { .. } => ActionKind::Absorb,
            Action::RecomputeClock { .. } => ActionKind::RecomputeClock,
            Action::MessageReporter { .. } => ActionKind::MessageReporter,
            Action::PublishSummary { .. } => ActionKind::PublishSummary,
            Action::ReporterReply { .. } => ActionKind::ReporterReply,
            Action::Redact { .. } => ActionKind::Redact,
            Action::Appeal { .. } => ActionKind::Appeal,
            Action::UpholdAppeal { .. } => ActionKind::UpholdAppeal,
            Action::GrantAppeal { .. } => ActionKind::GrantAppeal,
            Action::AttachEvidence { .. } => ActionKind::AttachEvidence,
        }
    }

    /// The event's `action` string.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The event's `data`: the action's fields as a JSON object (instants as RFC 3339 with
    /// microseconds, enums by their names, absent options as `null`).
    pub fn data(&self) -> Value {
        let mut tagged = serde_json::to_value(self).expect("an action always serialises");
        tagged
            .get_mut("data")
            .map(Value::take)
            .expect("every action has data")
    }

    /// Reads an event's `action` and `data` back into the action. Extra keys are ignored, so
    /// older code can read events written by newer code.
    pub fn from_event(name: &str, data: &Value) -> Result<Action, String> {
        let kind: ActionKind = name.parse().map_err(|e: UnknownName| e.to_string())?;
        let tagged = serde_json::json!({ "action": kind.as_str(), "data": data });
        serde_json::from_value(tagged).map_err(|e| e.to_string())
    }

    /// The same action with strings trimmed and instants truncated to microseconds, or the
    /// first field that will not do. Checks only the data itself; what it means for a given
    /// incident is [`super::apply`]'s business.
    pub fn normalized(&self) -> Result<Action, Refusal> {
        Ok(match self {
            Action::Triage { category, severity } => Action::Triage {
                category: required("category", category)?,
                severity: *severity,
            },
            Action::Reject { reasons } => Action::Reject {
                reasons: required("reasons", reasons)?,
            },
            Action::Merge { target } => Action::Merge {
                target: MergeTarget {
                    id: positive("target", target.id)?,
                    state: target.state,
                },
            },
            Action::Contain {
                filter_rule,
                blocks,
            } => Action::Contain {
                filter_rule: required("filter_rule", filter_rule)?,
                blocks: required("blocks", blocks)?,
            },
            Action::PlanFix {
                plan,
                reference_answer,
                refusal_style,
            } => {
                let reference_answer = optional("reference_answer", reference_answer)?;
                let refusal_style = optional("refusal_style", refusal_style)?;
                match (&reference_answer, &refusal_style) {
                    (None, None) => {
                        return Err(Refusal::Missing {
                            field: "reference_answer",
                        });
                    }
                    (Some(_), Some(_)) => {
                        return Err(Refusal::Invalid {
                            field: "refusal_style",
                            problem: Problem::BothDesired,
                        });
                    }
                    _ => {}
                }
                Action::PlanFix {
                    plan: required("plan", plan)?,
                    reference_answer,
                    refusal_style,
                }
            }
            Action::StartRetraining { training_run } => Action::StartRetraining {
                training_run: required("training_run", training_run)?,
            },
            Action::SubmitForVerification { model_version } => Action::SubmitForVerification {
                model_version: required("model_version", model_version)?,
            },
            Action::VerifyPass {
                prompts,
                outcome,
                run_id,
            } => Action::VerifyPass {
                prompts: required("prompts", prompts)?,
                outcome: required("outcome", outcome)?,
                run_id: optional("run_id", run_id)?,
            },
            Action::VerifyFail {
                prompts,
                outcome,
                run_id,
                failed_cases,
            } => Action::VerifyFail {
                prompts: required("prompts", prompts)?,
                outcome: required("outcome", outcome)?,
                run_id: optional("run_id", run_id)?,
                failed_cases: failed_cases.clone(),
            },
            Action::Reopen { reason } => Action::Reopen {
                reason: required("reason", reason)?,
            },
            Action::SetEvidenceHold { on } => Action::SetEvidenceHold { on: *on },
            Action::SetSerious { kind } => Action::SetSerious { kind: *kind },
            Action::RecordAuthorityReport { reference } => Action::RecordAuthorityReport {
                reference: required("reference", reference)?,
            },
            Action::Assign { assignee } => Action::Assign {
                assignee: assignee.map(|id| positive("assignee", id)).transpose()?,
            },
            Action::Comment { text } => Action::Comment {
                text: required("text", text)?,
            },
            Action::AddCase {
                case_id,
                prompt,
                bad_output,
                desired,
            } => Action::AddCase {
                case_id: positive("case_id", *case_id)?,
                prompt: required("prompt", prompt)?,
                bad_output: required("bad_output", bad_output)?,
                desired: optional("desired", desired)?,
            },
            Action::EditCase {
                case_id,
                prompt,
                bad_output,
                desired,
            } => Action::EditCase {
                case_id: positive("case_id", *case_id)?,
                prompt: required("prompt", prompt)?,
                bad_output: required("bad_output", bad_output)?,
                desired: optional("desired", desired)?,
            },
            Action::RetireCase { case_id, reason } => Action::RetireCase {
                case_id: positive("case_id", *case_id)?,
                reason: required("reason", reason)?,
            },
            Action::RecordVerification {
                run_id,
                model_version,
                cases,
                passed,
                failed,
                reason,
            } => Action::RecordVerification {
                run_id: required("run_id", run_id)?,
                model_version: required("model_version", model_version)?,
                cases: *cases,
                passed: *passed,
                failed: *failed,
                reason: required("reason", reason)?,
            },
            Action::SetCategory { category } => Action::SetCategory {
                category: required("category", category)?,
            },
            Action::SetTitle { title } => {
                let title = required("title", title)?;
                if title.chars().count() > TITLE_MAX {
                    return Err(Refusal::Invalid {
                        field: "title",
                        problem: Problem::TitleTooLong { max: TITLE_MAX },
                    });
                }
                // One line: a line break or a control character would break the board's cards.
                Action::SetTitle {
                    title: title
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect(),
                }
            }
            Action::SetSeverity { severity } => Action::SetSeverity {
                severity: *severity,
            },
            Action::SplitOut {
                report_id,
                new_incident_id,
            } => Action::SplitOut {
                report_id: positive("report_id", *report_id)?,
                new_incident_id: positive("new_incident_id", *new_incident_id)?,
            },
            Action::Open {
                category,
                title,
                fingerprint,
                first_reported_at,
            } => Action::Open {
                category: required("category", category)?,
                title: required("title", title)?,
                fingerprint: required("fingerprint", fingerprint)?,
                first_reported_at: truncate_micros(*first_reported_at),
            },
            Action::RecomputeClock {
                clock,
                old_due,
                new_due,
                calendar,
                change,
                provisional,
            } => Action::RecomputeClock {
                clock: required("clock", clock)?,
                old_due: truncate_micros(*old_due),
                new_due: truncate_micros(*new_due),
                calendar: required("calendar", calendar)?,
                change: required("change", change)?,
                provisional: *provisional,
            },
            Action::AddReport { report_id } => Action::AddReport {
                report_id: positive("report_id", *report_id)?,
            },
            Action::MessageReporter { report_id, text } => Action::MessageReporter {
                report_id: report_id.map(|id| positive("report_id", id)).transpose()?,
                text: required("text", text)?,
            },
            Action::PublishSummary { text } => Action::PublishSummary {
                text: required("text", text)?,
            },
            Action::Appeal {
                report_id,
                message_id,
                sha256,
                contested,
                contested_by,
            } => Action::Appeal {
                report_id: positive("report_id", *report_id)?,
                message_id: positive("message_id", *message_id)?,
                sha256: required("sha256", sha256)?,
                contested: required("contested", contested)?,
                contested_by: *contested_by,
            },
            Action::UpholdAppeal {
                reasons,
                contested_by,
            } => Action::UpholdAppeal {
                reasons: required("reasons", reasons)?,
                contested_by: *contested_by,
            },
            Action::GrantAppeal {
                reasons,
                contested_by,
            } => Action::GrantAppeal {
                reasons: required("reasons", reasons)?,
                contested_by: *contested_by,
            },
            Action::AttachEvidence {
                attachment_id,
                sha256,
                filename,
                media_type,
                size,
            } => Action::AttachEvidence {
                attachment_id: positive("attachment_id", *attachment_id)?,
                sha256: required("sha256", sha256)?,
                filename: required("filename", filename)?,
                media_type: required("media_type", media_type)?,
                size: *size,
            },
            Action::Redact {
                report_id,
                sha256,
                fields,
            } => Action::Redact {
                report_id: positive("report_id", *report_id)?,
                sha256: required("sha256", sha256)?,
                fields: fields.clone(),
            },
            Action::ReporterReply {
                report_id,
                message_id,
                sha256,
                attachment_id,
                attachment_sha256,
            } => Action::ReporterReply {
                report_id: positive("report_id", *report_id)?,
                message_id: positive("message_id", *message_id)?,
                sha256: required("sha256", sha256)?,
                attachment_id: attachment_id
                    .map(|id| positive("attachment_id", id))
                    .transpose()?,
                attachment_sha256: attachment_sha256
                    .as_deref()
                    .map(|h| required("attachment_sha256", h))
                    .transpose()?,
            },
            Action::Absorb {
                from_incident,
                reports,
                first_reported_at,
            } => Action::Absorb {
                from_incident: positive("from_incident", *from_incident)?,
                reports: positive("reports", *reports)?,
                first_reported_at: truncate_micros(*first_reported_at),
            },
        })
    }

    /// Maps a staff form's fields to an action (normalised), or refuses naming the bad field.
    ///
    /// Field names: category, severity, reasons, target, filter_rule, blocks, plan,
    /// training_run, model_version, prompts, outcome, reason, on, kind, reference, assignee,
    /// text, report_id, new_incident_id. Numbers may be written `#12`. Blank `assignee` means
    /// unassign, blank or `none` `kind` withdraws a serious-incident designation, and a
    /// missing `on` is false (an unticked checkbox is not sent).
    ///
    /// Two actions need facts a form does not carry, which the caller adds:
    /// - `merge`: the result's `target.state` is `None` until the caller looks the target up
    ///   (see [`MergeTarget`]).
    /// - `split_out`: `new_incident_id` must be in `fields`; the caller opens the new incident
    ///   first and inserts its id.
    ///
    /// System actions are refused: no form takes them.
    pub fn from_form(kind: &str, fields: &BTreeMap<String, String>) -> Result<Action, Refusal> {
        let kind: ActionKind = kind.parse().map_err(|_| Refusal::UnknownAction {
            name: kind.trim().to_owned(),
        })?;
        let form = Form(fields);
        let action = match kind {
            ActionKind::Open
            | ActionKind::AddReport
            | ActionKind::Absorb
            | ActionKind::RecomputeClock
            | ActionKind::RecordVerification
            | ActionKind::ReporterReply
            | ActionKind::Redact
            | ActionKind::Appeal => {
                return Err(Refusal::NotPermitted {
                    action: kind,
                    role: None,
                });
            }
            ActionKind::Triage => Action::Triage {
                category: form.text("category")?,
                severity: form.severity()?,
            },
            ActionKind::Reject => Action::Reject {
                reasons: form.text("reasons")?,
            },
            ActionKind::Merge => Action::Merge {
                target: MergeTarget {
                    id: form.id("target")?,
                    state: None,
                },
            },
            ActionKind::Contain => Action::Contain {
                filter_rule: form.text("filter_rule")?,
                blocks: form.text("blocks")?,
            },
            ActionKind::PlanFix => Action::PlanFix {
                plan: form.text("plan")?,
                reference_answer: Some(form.raw("reference_answer").to_owned()),
                refusal_style: Some(form.raw("refusal_style").to_owned()),
            },
            ActionKind::StartRetraining => Action::StartRetraining {
                training_run: form.text("training_run")?,
            },
            ActionKind::SubmitForVerification => Action::SubmitForVerification {
                model_version: form.text("model_version")?,
            },
            ActionKind::VerifyPass => Action::VerifyPass {
                prompts: form.text("prompts")?,
                outcome: form.text("outcome")?,
                run_id: None,
            },
            ActionKind::VerifyFail => Action::VerifyFail {
                prompts: form.text("prompts")?,
                outcome: form.text("outcome")?,
                run_id: None,
                failed_cases: Vec::new(),
            },
            ActionKind::Reopen => Action::Reopen {
                reason: form.text("reason")?,
            },
            ActionKind::SetEvidenceHold => Action::SetEvidenceHold {
                on: form.flag("on")?,
            },
            ActionKind::SetSerious => Action::SetSerious {
                kind: form.serious_kind()?,
            },
            ActionKind::RecordAuthorityReport => Action::RecordAuthorityReport {
                reference: form.text("reference")?,
            },
            ActionKind::Assign => Action::Assign {
                assignee: form.optional_id("assignee")?,
            },
            ActionKind::Comment => Action::Comment {
                text: form.text("text")?,
            },
            // Blank or "all": every reporter of the incident.
            ActionKind::MessageReporter => Action::MessageReporter {
                report_id: match form.raw("report_id") {
                    "" | "all" => None,
                    _ => Some(form.id("report_id")?),
                },
                text: form.text("text")?,
            },
            ActionKind::PublishSummary => Action::PublishSummary {
                text: form.text("public_summary")?,
            },
            ActionKind::UpholdAppeal => Action::UpholdAppeal {
                reasons: form.text("reasons")?,
                contested_by: None,
            },
            // Written by the upload, which stores the file first; the form names what it stored.
            ActionKind::AttachEvidence => Action::AttachEvidence {
                attachment_id: form.id("attachment_id")?,
                sha256: form.text("sha256")?,
                filename: form.text("filename")?,
                media_type: form.text("media_type")?,
                size: form.id("size")?,
            },
            ActionKind::GrantAppeal => Action::GrantAppeal {
                reasons: form.text("reasons")?,
                contested_by: None,
            },
            ActionKind::AddCase => Action::AddCase {
                case_id: form.id("case_id")?,
                prompt: form.text("prompt")?,
                bad_output: form.text("bad_output")?,
                desired: Some(form.raw("desired").to_owned()),
            },
            ActionKind::EditCase => Action::EditCase {
                case_id: form.id("case_id")?,
                prompt: form.text("prompt")?,
                bad_output: form.text("bad_output")?,
                desired: Some(form.raw("desired").to_owned()),
            },
            ActionKind::RetireCase => Action::RetireCase {
                case_id: form.id("case_id")?,
                reason: form.text("reason")?,
            },
            ActionKind::SetCategory => Action::SetCategory {
                category: form.text("category")?,
            },
            ActionKind::SetTitle => Action::SetTitle {
                title: form.text("title")?,
            },
            ActionKind::SetSeverity => Action::SetSeverity {
                severity: form.severity()?,
            },
            ActionKind::SplitOut => Action::SplitOut {
                report_id: form.id("report_id")?,
                new_incident_id: form.id("new_incident_id")?,
            },
        };
        action.normalized()
    }
}

/// The longest title staff may give an incident, in characters.
pub const TITLE_MAX: usize = 200;

fn required(field: &'static str, value: &str) -> Result<String, Refusal> {
    optional_text(field, value)?.ok_or(Refusal::Missing { field })
}

/// A trimmed optional text; blank (or only invisible characters) is none.
fn optional(field: &'static str, value: &Option<String>) -> Result<Option<String>, Refusal> {
    value
        .as_deref()
        .map_or(Ok(None), |v| optional_text(field, v))
}

/// The rules every text a person types into an action obeys (the public form's, too): no
/// control characters but line breaks and tabs (a NUL or an ESC would reach the reporter's
/// mail and the status page), at most [`max_chars`] characters, and text made only of
/// invisible characters is no text.
fn optional_text(field: &'static str, value: &str) -> Result<Option<String>, Refusal> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Refusal::Invalid {
            field,
            problem: Problem::ControlCharacters,
        });
    }
    let value = value.trim();
    if value.chars().all(is_invisible) {
        return Ok(None);
    }
    if let Some(max) = max_chars(field)
        && value.chars().count() > max
    {
        return Err(Refusal::Invalid {
            field,
            problem: Problem::TooLong { max },
        });
    }
    Ok(Some(value.to_owned()))
}

pub use crate::domain::text::is_invisible;

/// The longest text each field a person types takes; fields only the system writes have none.
pub fn max_chars(field: &str) -> Option<usize> {
    match field {
        "category" | "filter_rule" | "training_run" | "model_version" | "reference" | "run_id" => {
            Some(500)
        }
        "reasons" | "blocks" | "plan" | "reason" | "text" | "reference_answer"
        | "refusal_style" | "outcome" => Some(10_000),
        "prompts" | "prompt" | "bad_output" | "desired" => Some(20_000),
        _ => None,
    }
}

fn positive(field: &'static str, id: i64) -> Result<i64, Refusal> {
    if id > 0 {
        Ok(id)
    } else {
        Err(Refusal::Invalid {
            field,
            problem: Problem::NotPositive { value: id },
        })
    }
}

struct Form<'a>(&'a BTreeMap<String, String>);

impl Form<'_> {
    fn raw(&self, field: &str) -> &str {
        self.0.get(field).map_or("", |v| v.trim())
    }

    fn text(&self, field: &'static str) -> Result<String, Refusal> {
        required(field, self.raw(field))
    }

    fn id(&self, field: &'static str) -> Result<i64, Refusal> {
        self.optional_id(field)?.ok_or(Refusal::Missing { field })
    }

    fn optional_id(&self, field: &'static str) -> Result<Option<i64>, Refusal> {
        let raw = self.raw(field);
        if raw.is_empty() {
            return Ok(None);
        }
        let digits = raw.strip_prefix('#').unwrap_or(raw).trim();
        match digits.parse::<i64>() {
            Ok(id) => positive(field, id).map(Some),
            Err(_) => Err(Refusal::Invalid {
                field,
                problem: Problem::NotANumber {
                    value: raw.to_owned(),
                },
            }),
        }
    }

    fn flag(&self, field: &'static str) -> Result<bool, Refusal> {
        match self.raw(field).to_ascii_lowercase().as_str() {
            "" | "false" | "off" | "no" | "0" => Ok(false),
            "true" | "on" | "yes" | "1" => Ok(true),
            other => Err(Refusal::Invalid {
                field,
                problem: Problem::NotOnOrOff {
                    value: other.to_owned(),
                },
            }),
        }
    }

    fn severity(&self) -> Result<Severity, Refusal> {
        let raw = self.raw("severity");
        if raw.is_empty() {
            return Err(Refusal::Missing { field: "severity" });
        }
        raw.parse().map_err(|e: UnknownName| Refusal::Invalid {
            field: "severity",
            problem: Problem::UnknownName(e),
        })
    }

    fn serious_kind(&self) -> Result<Option<SeriousKind>, Refusal> {
        let raw = self.raw("kind");
        if raw.is_empty() || raw.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        raw.parse()
            .map(Some)
            .map_err(|e: UnknownName| Refusal::Invalid {
                field: "kind",
                problem: Problem::UnknownName(e),
            })
    }
}
