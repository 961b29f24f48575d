//! The incident workflow (DESIGN.md §2): states, actions, who may take them, and the incident
//! row as a fold of its events.
//!
//! How the pieces fit, for the code that stores things:
//!
//! 1. A new incident: [`open`] gives the row (version 1) and its first event.
//! 2. Any later change: [`apply`] checks the actor, the state and the data and gives one
//!    [`NewEvent`] (or a [`Refusal`] to show); [`project`] folds it into the row (version + 1).
//!    Store both in one transaction, updating the row only where its version is still the one
//!    `apply` saw, so two people acting at once cannot both win.
//! 3. [`NewEvent::seal`] turns the event into the hash-chained row of [`super::audit`], with
//!    `seq` = the row's new version and `prev_hash` = the previous event's hash.
//! 4. [`replay`] (or [`replay_stored`]) rebuilds the row from its events: the same fold, so it
//!    gives exactly the row that `apply` + `project` kept.
//!
//! A merge touches two incidents: [`merge`] returns the duplicate's `merge` event and the
//! target's `absorb` event, to be stored together. A split is `open` of the new incident (with
//! the split report's category, title, fingerprint and received instant) followed by
//! `split_out` on the old one.

mod action;
mod refusal;
mod rules;
mod state;
#[cfg(test)]
mod tests;

pub use action::{Action, ActionKind, MergeTarget, is_invisible, max_chars};
pub use refusal::{Problem, Refusal, ReplayError, Unchanged};
pub use rules::{may, next_state, token_may};
pub use rules::{roles_allowed, states_allowing};
pub use state::{Role, State};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::{self, StoredEvent, truncate_micros};
use super::cases::{DesiredBehaviour, DesiredKind};
use super::severity::{SeriousKind, Severity};
use super::token::Scopes;

/// The incident row: a projection of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub state: State,
    /// The number of events; the `seq` of the latest one.
    pub version: i64,
    pub category: String,
    /// `None` until triage.
    pub severity: Option<Severity>,
    pub assignee: Option<i64>,
    pub title: String,
    pub fingerprint: String,
    /// Starts the remediation clock. Moves earlier when a merge brings in an earlier report;
    /// never moves later (a split does not touch it), so no staff action lengthens a clock.
    pub first_reported_at: DateTime<Utc>,
    /// 0 only for a duplicate, whose reports moved to the incident it was merged into.
    pub report_count: i64,
    pub evidence_hold: bool,
    pub serious: Option<SeriousKind>,
    /// When it was first marked serious (changing the kind keeps it: awareness dates from then).
    pub serious_at: Option<DateTime<Utc>>,
    /// The first authority report; follow-up reports keep it.
    pub authority_reported_at: Option<DateTime<Utc>>,
    /// The first triage; a reopen keeps it.
    pub triaged_at: Option<DateTime<Utc>>,
    pub duplicate_of: Option<i64>,
    /// The current rejection's statement of reasons; cleared by a reopen.
    pub rejection_reasons: Option<String>,
    pub filter_rule: Option<String>,
    pub fix_plan: Option<String>,
    pub training_run: Option<String>,
    /// The model version under (or past) verification; cleared when verification fails.
    pub candidate_model_version: Option<String>,
    /// Set on verify_pass, cleared by a reopen.
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_event_at: DateTime<Utc>,
    /// What the fix aims at, from the latest `plan_fix` (none before one, or from an older
    /// plan that named none).
    #[serde(default)]
    pub desired: Option<DesiredBehaviour>,
}

/// Who is acting. `role: None` is the system (intake, merges, sweeps), unless `token` is set:
/// then a machine token with those scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// "system", the user's email, or `token:NAME`: what the event log shows.
    pub label: String,
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    /// A machine token's scopes ([`token_may`] decides what they allow).
    #[serde(default)]
    pub token: Option<Scopes>,
}

impl Actor {
    pub const SYSTEM_LABEL: &'static str = "system";

    pub fn system() -> Actor {
        Actor {
            label: Actor::SYSTEM_LABEL.to_owned(),
            user_id: None,
            role: None,
            token: None,
        }
    }

    pub fn user(user_id: i64, email: &str, role: Role) -> Actor {
        Actor {
            label: email.to_owned(),
            user_id: Some(user_id),
            role: Some(role),
            token: None,
        }
    }

    /// A machine token, by its name, with its scopes.
    pub fn token(name: &super::token::TokenName, scopes: Scopes) -> Actor {
        Actor {
            label: name.actor_label(),
            user_id: None,
            role: None,
            token: Some(scopes),
        }
    }
}

/// An accepted action, as an event not yet stored (no seq or hashes: see [`NewEvent::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// [`ActionKind::as_str`].
    pub action: String,
    /// [`Actor::label`].
    pub actor: String,
    /// `None` only for `open`.
    pub from: Option<State>,
    pub to: State,
    /// Truncated to microseconds, as the database will keep it.
    pub at: DateTime<Utc>,
    /// [`Action::data`].
    pub data: Value,
}

impl NewEvent {
    /// The stored, hash-chained form. `seq` is the incident's version after this event;
    /// `prev_hash` the previous event's hash, or [`audit::GENESIS`] for `open`.
    pub fn seal(&self, incident_id: i64, seq: i64, prev_hash: &str) -> StoredEvent {
        let mut stored = StoredEvent {
            incident_id,
            seq,
            at: self.at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            from: self.from.map(|s| s.as_str().to_owned()),
            to: self.to.as_str().to_owned(),
            data: self.data.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        stored.hash = stored.compute_hash();
        stored
    }

    /// Reads a stored event back (for [`replay`]). Does not check the hashes: that is
    /// [`audit::verify_chain`]'s job.
    pub fn from_stored(event: &StoredEvent) -> Result<NewEvent, ReplayError> {
        let state = |name: &str| {
            name.parse::<State>()
                .map_err(|_| ReplayError::UnknownState {
                    incident_id: event.incident_id,
                    version: event.seq,
                    state: name.to_owned(),
                })
        };
        Ok(NewEvent {
            action: event.action.clone(),
            actor: event.actor.clone(),
            from: event.from.as_deref().map(state).transpose()?,
            to: state(&event.to)?,
            at: event.at,
            data: event.data.clone(),
        })
    }
}

/// Opens incident `id` with an [`Action::Open`] taken by the system: the new row (state new,
/// version 1, one report) and its first event.
///
/// This stands in for [`apply`] on the first event, which has no incident to apply to.
pub fn open(
    id: i64,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Incident, NewEvent), Refusal> {
    if action.kind() != ActionKind::Open {
        return Err(Refusal::NotOpen {
            action: action.kind(),
        });
    }
    if actor.role.is_some() {
        return Err(Refusal::NotPermitted {
            action: ActionKind::Open,
            role: actor.role,
        });
    }
    let action = action.normalized()?;
    let event = NewEvent {
        action: action.name().to_owned(),
        actor: actor.label.clone(),
        from: None,
        to: State::New,
        at: truncate_micros(now),
        data: action.data(),
    };
    let incident = fold(None, id, &action, &event);
    Ok((incident, event))
}

/// Checks `action` by `actor` against `incident` and, if it may be taken, returns its event.
/// Nothing is changed: fold the event in with [`project`].
///
/// Checked in this order, so the refusal names the most basic problem: the actor's role, the
/// incident's state, the incident's guards (evidence hold, last report), the data, and what the
/// data means for this incident (merge target, changes that change nothing).
pub fn apply(
    incident: &Incident,
    action: &Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewEvent, Refusal> {
    if action.kind() == ActionKind::Open {
        return Err(Refusal::AlreadyOpen {
            incident_id: incident.id,
        });
    }
    let to = match &actor.token {
        Some(scopes) => {
            if !token_may(scopes, action.kind()) {
                return Err(Refusal::NotPermitted {
                    action: action.kind(),
                    role: None,
                });
            }
            allowed_state(incident, action.kind())?
        }
        None => allowed(incident, action.kind(), actor.role)?,
    };
    let action = action.normalized()?;
    check_against(incident, &action)?;
    // Separation of duties (DSA Art. 20): an appeal is decided by someone other than the
    // person who took the contested decision.
    if let Action::UpholdAppeal { contested_by, .. } | Action::GrantAppeal { contested_by, .. } =
        &action
        && contested_by.is_some()
        && *contested_by == actor.user_id
    {
        return Err(Refusal::Invalid {
            field: "appeal",
            problem: Problem::OwnDecision,
        });
    }
    Ok(NewEvent {
        action: action.name().to_owned(),
        actor: actor.label.clone(),
        from: Some(incident.state),
        to,
        at: truncate_micros(now),
        data: action.data(),
    })
}

/// Whether an actor with `role` (`None` = the system) could take an action of this kind on
/// `incident`, data aside: the reason a button is missing, for a page that wants to say why.
pub fn check_allowed(
    incident: &Incident,
    action: ActionKind,
    role: Option<Role>,
) -> Result<(), Refusal> {
    if action == ActionKind::Open {
        return Err(Refusal::AlreadyOpen {
            incident_id: incident.id,
        });
    }
    allowed(incident, action, role).map(|_| ())
}

/// What the incident page should offer a viewer with `role`: allowed by the role table, the
/// state and the incident's guards (so no "start retraining" under an evidence hold), in
/// [`ActionKind::ALL`] order. Data is not considered.
pub fn available_actions(incident: &Incident, role: Role) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|&kind| check_allowed(incident, kind, Some(role)).is_ok())
        .collect()
}

/// Both sides of merging `duplicate` into `target`, checked with the target as it is: the
/// duplicate's `merge` event (by `actor`) and the target's `absorb` event (by the system), to
/// be stored in one transaction together with moving the reports.
pub fn merge(
    duplicate: &Incident,
    target: &Incident,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(NewEvent, NewEvent), Refusal> {
    let merge = Action::Merge {
        target: MergeTarget {
            id: target.id,
            state: Some(target.state),
        },
    };
    let merged = apply(duplicate, &merge, actor, now)?;
    let absorb = Action::Absorb {
        from_incident: duplicate.id,
        reports: duplicate.report_count,
        first_reported_at: duplicate.first_reported_at,
    };
    let absorbed = apply(target, &absorb, &Actor::system(), now)?;
    Ok((merged, absorbed))
}

/// The row after `event`: `incident` is the row before it (`None` for `open`), `id` the
/// incident's id.
///
/// Trusts the event's decision (no permission or guard is re-checked, so changing a rule
/// later never makes history unreadable) but not its bookkeeping: the event must start from
/// the row's state and belong to this incident.
pub fn project(
    incident: Option<&Incident>,
    id: i64,
    event: &NewEvent,
) -> Result<Incident, ReplayError> {
    let version = incident.map_or(audit::FIRST_SEQ, |i| i.version + 1);
    let action =
        Action::from_event(&event.action, &event.data).map_err(|reason| ReplayError::BadData {
            incident_id: id,
            version,
            action: event.action.clone(),
            reason,
        })?;
    match (incident, &action) {
        (None, Action::Open { .. }) => {
            if let Some(from) = event.from {
                return Err(ReplayError::StateMismatch {
                    incident_id: id,
                    version,
                    action: event.action.clone(),
                    expected: "nothing (not yet opened)".to_owned(),
                    found: from.as_str().to_owned(),
                });
            }
        }
        (None, _) => {
            return Err(ReplayError::NotOpened {
                incident_id: id,
                action: event.action.clone(),
            });
        }
        (Some(_), Action::Open { .. }) => {
            return Err(ReplayError::OpenedTwice {
                incident_id: id,
                version,
            });
        }
        (Some(before), _) => {
            if before.id != id {
                return Err(ReplayError::WrongIncident {
                    expected: before.id,
                    found: id,
                });
            }
            if event.from != Some(before.state) {
                return Err(ReplayError::StateMismatch {
                    incident_id: id,
                    version,
                    action: event.action.clone(),
                    expected: before.state.as_str().to_owned(),
                    found: event.from.map_or("nothing", State::as_str).to_owned(),
                });
            }
        }
    }
    Ok(fold(incident, id, &action, event))
}

/// The row of incident `id` from all its events in order; `None` for no events.
pub fn replay(id: i64, events: &[NewEvent]) -> Result<Option<Incident>, ReplayError> {
    let mut incident: Option<Incident> = None;
    for event in events {
        incident = Some(project(incident.as_ref(), id, event)?);
    }
    Ok(incident)
}

/// [`replay`] straight from the event log's rows (sorted by seq). Hashes are not checked here.
pub fn replay_stored(id: i64, events: &[StoredEvent]) -> Result<Option<Incident>, ReplayError> {
    let events = events
        .iter()
        .map(|e| {
            if e.incident_id == id {
                NewEvent::from_stored(e)
            } else {
                Err(ReplayError::WrongIncident {
                    expected: id,
                    found: e.incident_id,
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    replay(id, &events)
}

/// The state `kind` leads to from `incident`, if `role` may take it there now.
fn allowed(incident: &Incident, kind: ActionKind, role: Option<Role>) -> Result<State, Refusal> {
    let permitted = match role {
        None => kind.is_system(),
        Some(role) => may(role, kind),
    };
    if !permitted {
        return Err(Refusal::NotPermitted { action: kind, role });
    }
    allowed_state(incident, kind)
}

/// The state `kind` leads to from `incident`, whoever acts: the state table and the guards.
fn allowed_state(incident: &Incident, kind: ActionKind) -> Result<State, Refusal> {
    let to = next_state(kind, incident.state, incident.triaged_at.is_some()).ok_or(
        Refusal::WrongState {
            action: kind,
            state: incident.state,
        },
    )?;
    match kind {
        ActionKind::StartRetraining if incident.evidence_hold => Err(Refusal::EvidenceHold),
        ActionKind::SplitOut if incident.report_count <= 1 => Err(Refusal::LastReport),
        _ => Ok(to),
    }
}

/// What a (normalised) action's data means for this incident.
fn check_against(incident: &Incident, action: &Action) -> Result<(), Refusal> {
    let unchanged = |what: Unchanged| Err(Refusal::NothingToChange { what });
    match action {
        Action::Merge { target } => {
            let invalid = |problem: Problem| {
                Err(Refusal::Invalid {
                    field: "target",
                    problem,
                })
            };
            let id = target.id;
            match target.state {
                _ if id == incident.id => invalid(Problem::MergeIntoItself),
                None => invalid(Problem::NoSuchIncident { id }),
                Some(State::Duplicate) => invalid(Problem::MergeIntoDuplicate { id }),
                Some(state) if !state.is_open() => invalid(Problem::MergeIntoClosed { id, state }),
                Some(_) => Ok(()),
            }
        }
        Action::Absorb { from_incident, .. } if *from_incident == incident.id => {
            Err(Refusal::Invalid {
                field: "from_incident",
                problem: Problem::AbsorbItself,
            })
        }
        Action::SplitOut {
            new_incident_id, ..
        } if *new_incident_id == incident.id => Err(Refusal::Invalid {
            field: "new_incident_id",
            problem: Problem::SplitIntoItself,
        }),
        Action::SetEvidenceHold { on } if *on == incident.evidence_hold => {
            unchanged(Unchanged::EvidenceHold { on: *on })
        }
        Action::SetSerious { kind } if *kind == incident.serious => {
            unchanged(Unchanged::Serious { kind: *kind })
        }
        Action::Assign { assignee } if *assignee == incident.assignee => {
            unchanged(Unchanged::Assignee {
                assigned: assignee.is_some(),
            })
        }
        Action::SetTitle { title } if *title == incident.title => unchanged(Unchanged::Title),
        Action::SetCategory { category } if *category == incident.category => {
            unchanged(Unchanged::Category {
                category: category.clone(),
            })
        }
        Action::SetSeverity { severity } if Some(*severity) == incident.severity => {
            unchanged(Unchanged::Severity {
                severity: *severity,
            })
        }
        _ => Ok(()),
    }
}

/// The one place an event's effect on the row is defined; [`open`], [`project`] and so
/// [`replay`] all come through here.
fn fold(before: Option<&Incident>, id: i64, action: &Action, event: &NewEvent) -> Incident {
    let at = event.at;
    let mut next = match (before, action) {
        (
            _,
            Action::Open {
                category,
                title,
                fingerprint,
                first_reported_at,
            },
        ) => Incident {
            id,
            state: State::New,
            version: audit::FIRST_SEQ - 1,
            category: category.clone(),
            severity: None,
            assignee: None,
            title: title.clone(),
            fingerprint: fingerprint.clone(),
            first_reported_at: *first_reported_at,
            report_count: 1,
            evidence_hold: false,
            serious: None,
            serious_at: None,
            authority_reported_at: None,
            triaged_at: None,
            duplicate_of: None,
            rejection_reasons: None,
            filter_rule: None,
            fix_plan: None,
            training_run: None,
            candidate_model_version: None,
            resolved_at: None,
            last_event_at: at,
            desired: None,
        },
        (Some(before), _) => before.clone(),
        (None, _) => unreachable!("project refuses a first event that is not open"),
    };
    match action {
        Action::Open { .. }
        | Action::Comment { .. }
        | Action::RecomputeClock { .. }
        | Action::AddCase { .. }
        | Action::EditCase { .. }
        | Action::RetireCase { .. }
        | Action::RecordVerification { .. }
        | Action::MessageReporter { .. }
        | Action::PublishSummary { .. }
        | Action::ReporterReply { .. }
        | Action::Redact { .. }
        | Action::Appeal { .. }
        | Action::UpholdAppeal { .. }
        | Action::AttachEvidence { .. } => {}
        Action::AddReport { .. } => next.report_count += 1,
        Action::Absorb {
            reports,
            first_reported_at,
            ..
        } => {
            next.report_count += reports;
            next.first_reported_at = next.first_reported_at.min(*first_reported_at);
        }
        Action::Triage { category, severity } => {
            next.category = category.clone();
            next.severity = Some(*severity);
            next.triaged_at.get_or_insert(at);
        }
        Action::Reject { reasons } => next.rejection_reasons = Some(reasons.clone()),
        Action::Merge { target } => {
            next.duplicate_of = Some(target.id);
            next.report_count = 0;
        }
        Action::Contain { filter_rule, .. } => next.filter_rule = Some(filter_rule.clone()),
        Action::PlanFix {
            plan,
            reference_answer,
            refusal_style,
        } => {
            next.fix_plan = Some(plan.clone());
            next.desired = match (reference_answer, refusal_style) {
                (Some(text), _) => Some(DesiredBehaviour {
                    kind: DesiredKind::Reference,
                    text: text.clone(),
                }),
                (None, Some(text)) => Some(DesiredBehaviour {
                    kind: DesiredKind::Refusal,
                    text: text.clone(),
                }),
                (None, None) => None,
            };
        }
        Action::StartRetraining { training_run } => {
            next.training_run = Some(training_run.clone());
        }
        Action::SubmitForVerification { model_version } => {
            next.candidate_model_version = Some(model_version.clone());
        }
        Action::VerifyPass { .. } => next.resolved_at = Some(at),
        Action::VerifyFail { .. } => next.candidate_model_version = None,
        Action::Reopen { .. } | Action::GrantAppeal { .. } => {
            next.resolved_at = None;
            next.rejection_reasons = None;
        }
        Action::SetEvidenceHold { on } => next.evidence_hold = *on,
        Action::SetSerious { kind: Some(kind) } => {
            next.serious = Some(*kind);
            next.serious_at.get_or_insert(at);
            // The hold is what "serious and not yet reported" means (DESIGN.md §2), so marking
            // an unreported incident serious places it; a lead or compliance may still lift it.
            if next.authority_reported_at.is_none() {
                next.evidence_hold = true;
            }
        }
        Action::SetSerious { kind: None } => {
            // The hold stays: whoever withdrew the designation decides separately whether the
            // evidence may now change.
            next.serious = None;
            next.serious_at = None;
        }
        Action::RecordAuthorityReport { .. } => {
            next.authority_reported_at.get_or_insert(at);
            next.evidence_hold = false;
        }
        Action::Assign { assignee } => next.assignee = *assignee,
        Action::SetCategory { category } => next.category = category.clone(),
        Action::SetTitle { title } => next.title = title.clone(),
        Action::SetSeverity { severity } => next.severity = Some(*severity),
        Action::SplitOut { .. } => next.report_count -= 1,
    }
    next.state = event.to;
    next.version += 1;
    next.last_event_at = at;
    next
}
