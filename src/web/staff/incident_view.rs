//! The incident page's view model, from what `db::incident_page` read: words instead of
//! identifiers, the next step for the viewer's role as one primary action, the other actions
//! grouped, a fix summary, and a timeline that names people and links related incidents.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::auth::Staff;
use super::reference;
use crate::db::entities::{incident, incident_event};
use crate::db::incident_page::IncidentRecord;
use crate::domain::locale::Locale;
use crate::domain::severity::{SeriousKind, Severity};
use crate::domain::workflow::{self, ActionKind, Incident, Role, State};
use crate::i18n::staff::{self as st, StaffTexts};
use crate::i18n::words;
use crate::web::AppState;

pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// text, textarea, number or select
    pub input: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    /// The refusal named this field: `aria-invalid` and the message tied to it.
    pub invalid: bool,
}

pub struct ActionForm {
    pub kind: &'static str,
    pub label: &'static str,
    pub fields: Vec<FieldView>,
    pub error: Option<String>,
    /// Ends or merges the incident: styled as such.
    pub danger: bool,
}

pub struct ActionGroup {
    pub label: &'static str,
    pub danger: bool,
    /// Open when one of its forms came back refused.
    pub open: bool,
    pub forms: Vec<ActionForm>,
}

pub struct ReportView {
    pub id: i64,
    pub code: String,
    pub received: String,
    pub channel: String,
    pub locale: String,
    /// The `lang` of the reporter's text, when known.
    pub lang: String,
    pub output: String,
    pub prompt: String,
    pub model: String,
    pub url: String,
    pub category: String,
    pub description: String,
    pub contact: String,
}

pub struct EventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub transition: String,
    pub data: Vec<(String, String)>,
    /// Links to other incidents this event names: (id, caption).
    pub links: Vec<(i64, String)>,
    /// Hashes and fingerprints, shown on demand.
    pub technical: Vec<(String, String)>,
}

/// One line of the fix summary: what, and who recorded it when.
pub struct FixItem {
    pub label: &'static str,
    pub value: String,
    pub extra: String,
    pub who: String,
}

/// A refused post coming back to the page with what was typed.
pub struct Refused<'a> {
    pub kind: &'a str,
    pub values: &'a BTreeMap<String, String>,
    pub message: String,
    pub field: Option<&'static str>,
}

pub struct ErrorSummary {
    pub message: String,
    /// The form's id, to link to and move focus to.
    pub target: String,
    pub field: Option<(String, &'static str)>,
}

pub struct PageModel {
    pub t: &'static StaffTexts,
    pub reference: String,
    pub inc: incident::Model,
    pub state_word: &'static str,
    pub category: String,
    pub severity: String,
    pub assignee: String,
    pub badges: Vec<(&'static str, String)>,
    pub reports: Vec<ReportView>,
    pub events: Vec<EventView>,
    pub primary: Option<ActionForm>,
    pub waiting: Option<String>,
    pub groups: Vec<ActionGroup>,
    pub fix: Vec<FixItem>,
    pub can_split: bool,
    pub error: Option<ErrorSummary>,
    pub flash: Option<String>,
    pub split_from: Option<i64>,
    pub merged_from: Vec<i64>,
}

fn fmt_utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The step that moves the incident on, whoever may take it: the authority report of a
/// serious incident first (its clock is the shortest), then the state's forward action.
pub fn next_step(inc: &Incident) -> Option<ActionKind> {
    if inc.serious.is_some()
        && inc.authority_reported_at.is_none()
        && workflow::check_allowed(inc, ActionKind::RecordAuthorityReport, None).is_ok()
    {
        return Some(ActionKind::RecordAuthorityReport);
    }
    match inc.state {
        State::New => Some(ActionKind::Triage),
        State::Triaged => Some(ActionKind::Contain),
        State::Contained => Some(ActionKind::PlanFix),
        State::FixPlanned => Some(ActionKind::StartRetraining),
        State::Retraining => Some(ActionKind::SubmitForVerification),
        State::Verifying => Some(ActionKind::VerifyPass),
        State::Resolved | State::Rejected | State::Duplicate => None,
    }
}

fn group_of(kind: ActionKind) -> usize {
    use ActionKind::*;
    match kind {
        Reject | Merge => 2,
        VerifyPass
        | VerifyFail
        | Reopen
        | Triage
        | Contain
        | PlanFix
        | StartRetraining
        | SubmitForVerification => 1,
        _ => 0,
    }
}

/// The fields each action's form asks for, named as `Action::from_form` reads them.
fn fields_for(
    kind: ActionKind,
    state: &AppState,
    inc: &Incident,
    users: &[(String, String)],
    recipients: &[(String, String)],
    l: Locale,
) -> Vec<FieldView> {
    let t = st::staff_texts(l);
    let field = |name: &'static str, input: &'static str| FieldView {
        name,
        label: st::field_label(kind, name, l),
        input,
        value: String::new(),
        options: vec![],
        invalid: false,
    };
    let select = |name: &'static str, options: Vec<(String, String)>, value: String| FieldView {
        options,
        value,
        ..field(name, "select")
    };
    let categories = || {
        state
            .settings
            .taxonomy
            .options(l.is_zh())
            .into_iter()
            .map(|(v, label, group)| {
                (
                    v,
                    if group {
                        label
                    } else {
                        format!("  — {label}")
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let severities = || {
        let mut v: Vec<(String, String)> = Severity::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), words::severity(*s, l).to_string()))
            .collect();
        v.insert(0, (String::new(), t.choose.into()));
        v
    };
    let severity = || {
        inc.severity
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    };
    use ActionKind::*;
    match kind {
        Triage => vec![
            select("category", categories(), inc.category.clone()),
            select("severity", severities(), severity()),
        ],
        Reject => vec![field("reasons", "textarea")],
        Merge => vec![field("target", "number")],
        Contain => vec![
            field("filter_rule", "text"),
            field("blocks", "textarea"),
            field("public_summary", "textarea"),
        ],
        PlanFix => vec![
            field("plan", "textarea"),
            field("reference_answer", "textarea"),
            field("refusal_style", "textarea"),
        ],
        StartRetraining => vec![field("training_run", "text")],
        SubmitForVerification => vec![field("model_version", "text")],
        VerifyPass => vec![
            field("prompts", "textarea"),
            field("outcome", "textarea"),
            field("public_summary", "textarea"),
        ],
        VerifyFail => vec![field("prompts", "textarea"), field("outcome", "textarea")],
        MessageReporter => vec![
            select("report_id", recipients.to_vec(), String::new()),
            field("text", "textarea"),
        ],
        PublishSummary => vec![field("public_summary", "textarea")],
        UpholdAppeal | GrantAppeal => vec![field("reasons", "textarea")],
        Reopen => vec![field("reason", "textarea")],
        Assign => {
            let mut o = users.to_vec();
            o.insert(0, (String::new(), t.nobody.into()));
            vec![select(
                "assignee",
                o,
                inc.assignee.map(|a| a.to_string()).unwrap_or_default(),
            )]
        }
        SetCategory => vec![select("category", categories(), inc.category.clone())],
        SetTitle => vec![FieldView {
            value: inc.title.clone(),
            ..field("title", "text")
        }],
        SetSeverity => vec![select("severity", severities(), severity())],
        SetSerious => {
            let mut o: Vec<(String, String)> = SeriousKind::ALL
                .iter()
                .map(|k| {
                    (
                        k.as_str().to_string(),
                        words::serious_kind(*k, l).to_string(),
                    )
                })
                .collect();
            o.insert(0, (String::new(), t.not_serious.into()));
            let v = inc
                .serious
                .map(|k| k.as_str().to_string())
                .unwrap_or_default();
            vec![select("kind", o, v)]
        }
        SetEvidenceHold => vec![select(
            "on",
            vec![("on".into(), t.on.into()), ("off".into(), t.off.into())],
            if inc.evidence_hold { "off" } else { "on" }.into(),
        )],
        RecordAuthorityReport => vec![field("reference", "text")],
        Comment => vec![field("text", "textarea")],
        SplitOut | Open | AddReport | Absorb | RecomputeClock | AddCase | EditCase | RetireCase
        | RecordVerification | ReporterReply | Redact | Appeal | AttachEvidence => vec![],
    }
}

/// "Triage (triager, lead or admin)": who may take a step the viewer may not.
fn waiting_for(kind: ActionKind, t: &StaffTexts, l: Locale) -> String {
    let roles: Vec<&str> = Role::ALL
        .iter()
        .filter(|r| workflow::may(**r, kind) && **r != Role::Admin)
        .map(|r| words::role(*r, l))
        .collect();
    let sep = if l.is_zh() { "、" } else { ", " };
    format!(
        "{}: {} ({})",
        t.waiting_for,
        words::action(kind, l),
        roles.join(sep)
    )
}

fn event_data(e: &incident_event::Model) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(&e.data) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Default::default(),
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

// Each argument is one source the page is drawn from; a struct for them would only rename this.
#[allow(clippy::too_many_arguments)]
pub fn build(
    state: &AppState,
    staff: &Staff,
    rec: IncidentRecord,
    domain: &Incident,
    refused: Option<Refused<'_>>,
    done: Option<&str>,
    reporter: &super::reporter::ReporterView,
    now: DateTime<Utc>,
) -> (PageModel, super::deadlines::DeadlinesView) {
    let l = staff.locale;
    let t = st::staff_texts(l);
    let zh = l.is_zh();
    let tax = &state.settings.taxonomy;
    let names: HashMap<i64, &str> = rec.users.iter().map(|u| (u.id, u.name.as_str())).collect();
    let by_email: HashMap<&str, &str> = rec
        .users
        .iter()
        .map(|u| (u.email.as_str(), u.name.as_str()))
        .collect();
    let person = |label: &str| -> String {
        if label == workflow::Actor::SYSTEM_LABEL {
            t.system.to_string()
        } else {
            by_email
                .get(label)
                .map(|n| n.to_string())
                .unwrap_or_else(|| label.to_string())
        }
    };
    let user_opts: Vec<(String, String)> = rec
        .users
        .iter()
        .filter(|u| !u.disabled)
        .map(|u| {
            let role = u
                .role
                .parse::<Role>()
                .map(|r| words::role(r, l).to_string())
                .unwrap_or_default();
            (u.id.to_string(), format!("{} ({role})", u.name))
        })
        .collect();
    let inc = rec.incident;

    // Actions: the next step as the primary one, the rest grouped.
    let mut forms: Vec<ActionForm> = workflow::available_actions(domain, staff.role)
        .into_iter()
        // Evidence is uploaded from the reporter panel's file form, not an action form.
        .filter(|k| *k != ActionKind::SplitOut && *k != ActionKind::AttachEvidence && !k.is_case())
        // An appeal's decision is offered only while one is open.
        .filter(|k| {
            reporter.appeal_open || !matches!(k, ActionKind::UpholdAppeal | ActionKind::GrantAppeal)
        })
        .map(|k| ActionForm {
            kind: k.as_str(),
            label: words::action(k, l),
            fields: fields_for(k, state, domain, &user_opts, &reporter.recipients, l),
            error: None,
            danger: matches!(
                k,
                ActionKind::Reject | ActionKind::Merge | ActionKind::VerifyFail
            ),
        })
        .collect();
    let mut error = None;
    if let Some(r) = refused {
        let form = forms.iter_mut().find(|f| f.kind == r.kind);
        let mut field_link = None;
        if let Some(f) = form {
            for field in &mut f.fields {
                if let Some(v) = r.values.get(field.name) {
                    field.value = v.clone();
                }
                if r.field == Some(field.name) {
                    field.invalid = true;
                    field_link = Some((format!("{}-{}", f.kind, field.name), field.label));
                }
            }
            f.error = Some(r.message.clone());
            error = Some(ErrorSummary {
                message: r.message,
                target: format!("act-{}", f.kind),
                field: field_link,
            });
        } else {
            error = Some(ErrorSummary {
                message: r.message,
                target: "actions".into(),
                field: None,
            });
        }
    }
    let step = next_step(domain);
    let primary = step.and_then(|k| {
        let i = forms.iter().position(|f| f.kind == k.as_str())?;
        Some(forms.remove(i))
    });
    let waiting = match (step, &primary) {
        (Some(k), None) => Some(waiting_for(k, t, l)),
        _ => None,
    };
    let mut groups: Vec<ActionGroup> = [
        (t.group_details, false),
        (t.group_outcomes, false),
        (t.group_close, true),
    ]
    .into_iter()
    .map(|(label, danger)| ActionGroup {
        label,
        danger,
        open: false,
        forms: vec![],
    })
    .collect();
    for f in forms {
        let g = f.kind.parse().map(group_of).unwrap_or(0);
        groups[g].open |= f.error.is_some();
        groups[g].forms.push(f);
    }
    groups.retain(|g| !g.forms.is_empty());

    // The fix summary: each part with who recorded it and when (the latest such event).
    let latest = |kinds: &[&str]| {
        rec.events
            .iter()
            .find(|e| kinds.contains(&e.action.as_str()))
    };
    let who = |e: Option<&incident_event::Model>| {
        e.map(|e| format!("{} {} · {}", t.by, person(&e.actor), fmt_utc(e.at)))
            .unwrap_or_default()
    };
    let mut fix = Vec::new();
    let contain = latest(&["contain"]);
    fix.push(FixItem {
        label: t.containment,
        value: inc.filter_rule.clone().unwrap_or_default(),
        extra: contain
            .and_then(|e| event_data(e).get("blocks").map(value_text))
            .map(|b| format!("{}: {b}", t.blocks))
            .unwrap_or_default(),
        who: who(contain),
    });
    let plan = latest(&["plan_fix"]);
    fix.push(FixItem {
        label: t.plan,
        value: inc.fix_plan.clone().unwrap_or_default(),
        extra: inc
            .desired_response
            .clone()
            .map(|d| format!("{}: {d}", t.desired))
            .unwrap_or_default(),
        who: who(plan),
    });
    let run = latest(&["start_retraining"]);
    fix.push(FixItem {
        label: t.training_run,
        value: inc.training_run.clone().unwrap_or_default(),
        extra: String::new(),
        who: who(run),
    });
    let submit = latest(&["submit_for_verification"]);
    fix.push(FixItem {
        label: t.candidate,
        value: inc.candidate_model_version.clone().unwrap_or_default(),
        extra: String::new(),
        who: who(submit),
    });
    let verified = latest(&["verify_pass", "verify_fail"]);
    fix.push(FixItem {
        label: t.verification,
        value: verified
            .map(|e| {
                e.action
                    .parse()
                    .map(|k| words::action(k, l).to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_default(),
        extra: verified
            .map(|e| {
                let d = event_data(e);
                [d.get("prompts"), d.get("outcome")]
                    .into_iter()
                    .flatten()
                    .map(value_text)
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default(),
        who: who(verified),
    });

    // The flash: the action the viewer just took, if it is indeed the latest event and theirs.
    let flash = done.and_then(|kind| {
        let e = rec.events.first()?;
        (e.action == kind && e.actor_id == Some(staff.user.id)).then(|| {
            let what = kind
                .parse()
                .map(|k: ActionKind| words::action(k, l))
                .unwrap_or("");
            let mut s = st::done_by_you(what, l);
            if kind == "split_out"
                && let Some(n) = event_data(e)
                    .get("new_incident_id")
                    .and_then(|v| v.as_i64())
            {
                s.push_str(&format!(" → {}", reference(n)));
            }
            s
        })
    });

    let events = rec
        .events
        .iter()
        .map(|e| {
            let kind = e.action.parse::<ActionKind>().ok();
            let mut data = Vec::new();
            let mut links = Vec::new();
            let mut technical = vec![("hash".to_string(), e.hash.clone())];
            for (k, v) in event_data(e) {
                if st::is_technical(&k) {
                    technical.push((k, value_text(&v)));
                    continue;
                }
                let label = st::data_label(&k, l)
                    .map(str::to_string)
                    .unwrap_or_else(|| k.replace('_', " "));
                let text = match (k.as_str(), &v) {
                    ("new_incident_id" | "from_incident", v) if v.as_i64().is_some() => {
                        links.push((v.as_i64().unwrap_or_default(), label));
                        continue;
                    }
                    ("target", serde_json::Value::Object(m)) => {
                        if let Some(id) = m.get("id").and_then(|v| v.as_i64()) {
                            links.push((id, label));
                        }
                        continue;
                    }
                    ("assignee", serde_json::Value::Null) => t.nobody.to_string(),
                    ("assignee", v) => v
                        .as_i64()
                        .and_then(|id| names.get(&id).map(|n| n.to_string()))
                        .unwrap_or_else(|| value_text(v)),
                    ("category", v) => tax.label(&value_text(v), zh),
                    ("severity", v) => value_text(v)
                        .parse::<Severity>()
                        .map(|s| words::severity(s, l).to_string())
                        .unwrap_or_else(|_| value_text(v)),
                    ("kind", serde_json::Value::Null) => t.not_serious.to_string(),
                    ("kind", v) => value_text(v)
                        .parse::<SeriousKind>()
                        .map(|s| words::serious_kind(s, l).to_string())
                        .unwrap_or_else(|_| value_text(v)),
                    ("on", serde_json::Value::Bool(b)) => if *b { t.on } else { t.off }.to_string(),
                    ("clock", v) => words::clock(&value_text(v), l).into_owned(),
                    ("report_id", v) => format!("#{}", value_text(v)),
                    (_, serde_json::Value::Null) => continue,
                    (_, v) => value_text(v),
                };
                if !text.is_empty() {
                    data.push((label, text));
                }
            }
            let parse_state = |s: &str| {
                s.parse::<State>()
                    .map(|s| words::state(s, l).to_string())
                    .unwrap_or_else(|_| s.to_string())
            };
            EventView {
                seq: e.seq,
                at: fmt_utc(e.at),
                actor: person(&e.actor),
                action: kind
                    .map(|k| words::action(k, l).to_string())
                    .unwrap_or_else(|| e.action.clone()),
                transition: match &e.from_state {
                    Some(f) if *f != e.to_state => {
                        format!("{} → {}", parse_state(f), parse_state(&e.to_state))
                    }
                    _ => String::new(),
                },
                data,
                links,
                technical,
            }
        })
        .collect();

    let state_word = inc
        .state
        .parse::<State>()
        .map(|s| words::state(s, l))
        .unwrap_or("");
    let mut badges = Vec::new();
    if let Some(k) = domain.serious {
        badges.push((
            "serious",
            format!("{}: {}", t.serious, words::serious_kind(k, l)),
        ));
    }
    if inc.evidence_hold {
        badges.push(("hold", t.evidence_hold.to_string()));
    }
    if rec
        .clocks
        .iter()
        .any(|c| c.status == "running" && c.provisional)
    {
        badges.push(("provisional", words::provisional_deadline(l).to_string()));
    }
    if inc.next_due_at.is_some_and(|d| d < now) && domain.state.is_open() {
        badges.push(("overdue", t.overdue_badge.to_string()));
    }

    let deadlines = super::deadlines::view(
        &state.settings.deadlines,
        rec.clocks,
        inc.duplicate_of,
        now,
        l,
    );
    let page = PageModel {
        t,
        reference: reference(inc.id),
        state_word,
        category: tax.label(&inc.category, zh),
        severity: domain
            .severity
            .map(|s| words::severity(s, l).to_string())
            .unwrap_or_default(),
        assignee: inc
            .assignee_id
            .and_then(|a| names.get(&a).map(|n| n.to_string()))
            .unwrap_or_else(|| t.nobody.into()),
        badges,
        can_split: workflow::check_allowed(domain, ActionKind::SplitOut, Some(staff.role)).is_ok(),
        reports: rec
            .reports
            .into_iter()
            .map(|r| ReportView {
                id: r.id,
                code: r.tracking_code,
                received: fmt_utc(r.received_at),
                channel: r.channel,
                lang: Locale::parse(&r.locale)
                    .map(|l| l.as_str().to_string())
                    .unwrap_or_default(),
                locale: r.locale,
                output: r.output,
                prompt: r.prompt.unwrap_or_default(),
                model: [
                    r.model.unwrap_or_default(),
                    r.model_version.unwrap_or_default(),
                ]
                .join(" ")
                .trim()
                .to_string(),
                url: r.url.unwrap_or_default(),
                category: tax.label(&r.category, zh),
                description: r.description,
                contact: match (r.reporter_name, r.reporter_email) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (None, Some(e)) => e,
                    (Some(n), None) => n,
                    (None, None) => String::new(),
                },
            })
            .collect(),
        events,
        primary,
        waiting,
        groups,
        fix,
        error,
        flash,
        split_from: rec.split_from,
        merged_from: rec.merged_from,
        inc,
    };
    (page, deadlines)
}
