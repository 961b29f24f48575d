//! The two tables the workflow is made of: who may take which action, and from which state an
//! action may be taken and where it leads. Everything else (apply, the incident page's buttons,
//! refusal messages) reads these, so a rule is changed here and only here.

use super::action::ActionKind;
use super::state::{Role, State};
use crate::domain::token::{Scope, Scopes};

/// Whether a member of staff with `role` may take `action` at all (the state is a separate
/// question: [`next_state`]). System actions are never a role's: only the system (an actor
/// without a role) takes them.
pub fn may(role: Role, action: ActionKind) -> bool {
    use ActionKind::*;
    if action.is_system() {
        return false;
    }
    match role {
        // Regression cases are the people's who read the reports and who build the fix.
        Role::Triager => matches!(
            action,
            AttachEvidence
                | MessageReporter
                | Triage
                | Reject
                | Merge
                | Assign
                | Comment
                | SetCategory
                | SetSeverity
                | SetTitle
                | SplitOut
                | AddCase
                | EditCase
                | RetireCase
        ),
        Role::Engineer => matches!(
            action,
            AttachEvidence
                | PublishSummary
                | Contain
                | PlanFix
                | StartRetraining
                | SubmitForVerification
                | Assign
                | Comment
                | AddCase
                | EditCase
                | RetireCase
        ),
        // Verification is a lead's (or admin's) and deliberately not an engineer's: the person
        // who built the fix does not also sign it off (separation of duties).
        Role::Lead => {
            may(Role::Triager, action)
                || may(Role::Engineer, action)
                || matches!(
                    action,
                    VerifyPass
                        | VerifyFail
                        | Reopen
                        | SetEvidenceHold
                        | SetSerious
                        | UpholdAppeal
                        | GrantAppeal
                )
        }
        // Compliance handles the reporter-facing and authority-facing side: rejections and
        // their appeals (reopen), serious-incident designation and the authority report.
        Role::Compliance => matches!(
            action,
            Reject
                | SetEvidenceHold
                | SetSerious
                | RecordAuthorityReport
                | Comment
                | Reopen
                | MessageReporter
                | PublishSummary
                | AttachEvidence
        ),
        Role::Admin => true,
    }
}

/// Whether a machine token with `scopes` may take `action`. A run posted with `verify` may
/// decide verification (the pipeline measured it; a lead may still decide by hand) and
/// record its evidence; `cases` may change regression cases. Nothing else is a machine's.
pub fn token_may(scopes: &Scopes, action: ActionKind) -> bool {
    use ActionKind::*;
    match action {
        VerifyPass | VerifyFail | RecordVerification => scopes.contains(Scope::Verify),
        AddCase | EditCase | RetireCase => scopes.contains(Scope::Cases),
        _ => false,
    }
}

/// The state `action` leads to when taken in `state`, or `None` if it cannot be taken there.
/// Actions that are not transitions lead back to `state`.
///
/// `ever_triaged` only matters for reopening a rejection (see below).
pub fn next_state(action: ActionKind, state: State, ever_triaged: bool) -> Option<State> {
    use ActionKind::*;
    use State::*;
    let next = match (action, state) {
        (Triage, New) => Triaged,
        // Reject from triaged too: a triager may decide only after a closer look that the
        // complaint is unfounded.
        (Reject, New | Triaged) => Rejected,
        // Merging is possible until work starts on the incident; after containment its own
        // filter and fix records would be orphaned by the merge.
        (Merge, New | Triaged) => Duplicate,
        (Contain, Triaged) => Contained,
        (PlanFix, Contained) => FixPlanned,
        // From retraining as well, to record the next training run after a failed
        // verification (verify_fail leads back to retraining).
        (StartRetraining, FixPlanned | Retraining) => Retraining,
        (SubmitForVerification, Retraining) => Verifying,
        (VerifyPass, Verifying) => Resolved,
        (VerifyFail, Verifying) => Retraining,
        (Reopen, Resolved) => Triaged,
        // Reopening a rejection is how an appeal against it succeeds (DSA Art. 20). It goes
        // back to where it was rejected from: an incident that was never triaged is triaged
        // afresh rather than skipping triage.
        (Reopen, Rejected) => {
            if ever_triaged {
                Triaged
            } else {
                New
            }
        }

        // Non-transitions.
        // A comment is always possible, including on closed incidents and duplicates: it is
        // how staff explain after the fact.
        (Comment, s) => s,
        // A better title helps find a closed incident too (a duplicate is found through the
        // incident it was merged into).
        (SetTitle, s) if s != Duplicate => s,
        // Talking with reporters goes on after the decision (questions about it, an appeal);
        // a duplicate's reporters are the target's now.
        (MessageReporter, s) if s != Duplicate => s,
        // A reporter's reply lands on the incident that now carries the report, whatever its state.
        (ReporterReply, s) => s,
        // Erasure under the retention policy happens to closed incidents (and whatever the
        // state: it is the law's, not the workflow's).
        (Redact, s) => s,
        // Evidence is kept whatever the state (a duplicate has no life of its own).
        (AttachEvidence, s) if s != Duplicate => s,
        // An appeal contests the decision that closed the incident; a lead decides it.
        (Appeal | UpholdAppeal, s @ (Rejected | Resolved)) => s,
        (GrantAppeal, Resolved) => Triaged,
        (GrantAppeal, Rejected) => {
            if ever_triaged {
                Triaged
            } else {
                New
            }
        }
        // What was done, once something was: from containment on.
        (PublishSummary, Contained | FixPlanned | Retraining | Verifying | Resolved) => state,
        // A deadline moved by a calendar change is recorded whatever the state.
        (RecomputeClock, s) => s,
        // Changing what is being worked on only makes sense while it is being worked on;
        // a closed incident is a record (reopen it first).
        (Assign | SetCategory | SetSeverity | SplitOut, s) if s.is_open() => s,
        // Only an open incident can take in a merged one's reports, as a merge target must be.
        (Absorb, s) if s.is_open() => s,
        // Cases stay editable once the fix is verified (they are the next training run's
        // data too); a rejected or merged incident's cases are never used.
        (AddCase | EditCase | RetireCase, s) if !matches!(s, Rejected | Duplicate) => s,
        // A run's evidence is kept whatever the state (a duplicate has no life of its own).
        (RecordVerification, s) if s != Duplicate => s,
        // The legal side continues after an incident is closed: a serious incident may come to
        // light, or be reported, after the fix. A duplicate has no life of its own left.
        (SetEvidenceHold | SetSerious | RecordAuthorityReport | AddReport, s) if s != Duplicate => {
            s
        }
        _ => return None,
    };
    Some(next)
}

/// The states `action` can be taken from, for explaining a refusal.
pub fn states_allowing(action: ActionKind) -> Vec<State> {
    State::ALL
        .into_iter()
        .filter(|&s| next_state(action, s, true).is_some())
        .collect()
}

/// The roles that may take `action`, for explaining a refusal.
pub fn roles_allowed(action: ActionKind) -> Vec<Role> {
    Role::ALL.into_iter().filter(|&r| may(r, action)).collect()
}
