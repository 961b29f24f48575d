//! `GET /incidents/{id}`: every report, every clock, the timeline, and forms for exactly the
//! actions the viewer's role may take now; `POST /incidents/{id}/act` takes one of them.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::auth::{Staff, checked_form};
use super::reference;
use crate::db::entities::{incident, incident_clock, incident_event, report};
use crate::db::workflow::{ActError, Reporter, act as db_act};
use crate::db::{incidents, users};
use crate::domain::locale::Locale;
use crate::domain::severity::{SeriousKind, Severity};
use crate::domain::workflow::{self, Action, ActionKind, Actor, Incident, Refusal};
use crate::mail::Mail;
use crate::web::AppState;
use crate::web::error::{Kind, WebError};

pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// text, textarea, number or select
    pub input: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
}

pub struct ActionForm {
    pub kind: &'static str,
    pub label: &'static str,
    pub fields: Vec<FieldView>,
    pub error: Option<String>,
}

pub struct ReportView {
    pub id: i64,
    pub code: String,
    pub received: String,
    pub channel: String,
    pub locale: String,
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
}

#[derive(Template)]
#[template(path = "staff/incident.html")]
struct IncidentPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    reference: String,
    inc: incident::Model,
    category: String,
    assignee: String,
    reports: Vec<ReportView>,
    deadlines: super::deadlines::DeadlinesView,
    events: Vec<EventView>,
    forms: Vec<ActionForm>,
    can_split: bool,
    error: Option<String>,
    /// The retraining panel (its own partial and view model).
    retraining: super::retraining::RetrainingView,
    /// Messages with the reporters and the public summary (its own partial and view model).
    reporter: super::reporter::ReporterView,
}

fn opts(values: &[(&str, &str)], selected: &str) -> (Vec<(String, String)>, String) {
    (
        values
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect(),
        selected.to_string(),
    )
}

/// The fields each action's form asks for, named as `Action::from_form` reads them.
fn fields_for(
    kind: ActionKind,
    state: &AppState,
    inc: &Incident,
    users: &[(String, String)],
    reporter_opts: &[(String, String)],
) -> Vec<FieldView> {
    let text = |name, label| FieldView {
        name,
        label,
        input: "text",
        value: String::new(),
        options: vec![],
    };
    let area = |name, label| FieldView {
        name,
        label,
        input: "textarea",
        value: String::new(),
        options: vec![],
    };
    let select = |name, label, (options, value): (Vec<(String, String)>, String)| FieldView {
        name,
        label,
        input: "select",
        value,
        options,
    };
    let categories = || {
        (
            state
                .settings
                .taxonomy
                .options(false)
                .into_iter()
                .map(|(v, l, group)| (v, if group { l } else { format!("  — {l}") }))
                .collect::<Vec<_>>(),
            inc.category.clone(),
        )
    };
    let severities = || {
        let mut v: Vec<(String, String)> = Severity::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
            .collect();
        v.insert(0, (String::new(), "choose…".into()));
        (
            v,
            inc.severity
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        )
    };
    match kind {
        ActionKind::Triage => vec![
            select("category", "Specific risk", categories()),
            select("severity", "Severity", severities()),
        ],
        ActionKind::Reject => vec![area(
            "reasons",
            "Statement of reasons (the reporter sees this)",
        )],
        ActionKind::Merge => vec![FieldView {
            name: "target",
            label: "Merge into incident number",
            input: "number",
            value: String::new(),
            options: vec![],
        }],
        ActionKind::Contain => vec![
            text("filter_rule", "Filter rule reference"),
            area("blocks", "What it blocks"),
            area("public_summary", PUBLIC_SUMMARY_LABEL),
        ],
        ActionKind::PlanFix => vec![
            area("plan", "The plan"),
            area(
                "reference_answer",
                "Desired behaviour: a reference answer (what the model should say), or …",
            ),
            area(
                "refusal_style",
                "… a refusal style (the refusal the model should give). Used for every regression case without its own response",
            ),
        ],
        ActionKind::StartRetraining => vec![text("training_run", "Training run reference")],
        ActionKind::SubmitForVerification => vec![text("model_version", "Candidate model version")],
        ActionKind::VerifyPass => vec![
            area("prompts", "Regression prompts re-run"),
            area("outcome", "Outcome"),
            area("public_summary", PUBLIC_SUMMARY_LABEL),
        ],
        ActionKind::VerifyFail => vec![
            area("prompts", "Regression prompts re-run"),
            area("outcome", "Outcome"),
        ],
        ActionKind::MessageReporter => vec![
            select("report_id", "To", (reporter_opts.to_vec(), String::new())),
            area(
                "text",
                "Message (the reporter reads this on their status page and by mail, in their language as you write it)",
            ),
        ],
        ActionKind::PublishSummary => vec![area("public_summary", PUBLIC_SUMMARY_LABEL)],
        ActionKind::Reopen => vec![area("reason", "Reason")],
        ActionKind::Assign => {
            let mut o = users.to_vec();
            o.insert(0, (String::new(), "nobody".into()));
            vec![select(
                "assignee",
                "Assignee",
                (o, inc.assignee.map(|a| a.to_string()).unwrap_or_default()),
            )]
        }
        ActionKind::SetCategory => vec![select("category", "Category", categories())],
        ActionKind::SetSeverity => vec![select("severity", "Severity", severities())],
        ActionKind::SetSerious => {
            let mut o: Vec<(String, String)> = SeriousKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), k.label().to_string()))
                .collect();
            o.insert(0, (String::new(), "not serious".into()));
            vec![select(
                "kind",
                "Serious-incident kind (EU AI Act Art. 73)",
                (
                    o,
                    inc.serious
                        .map(|k| k.as_str().to_string())
                        .unwrap_or_default(),
                ),
            )]
        }
        ActionKind::SetEvidenceHold => vec![select(
            "on",
            "Evidence hold (no change to the system before the authority is informed)",
            opts(
                &[("on", "on"), ("off", "off")],
                if inc.evidence_hold { "off" } else { "on" },
            ),
        )],
        ActionKind::RecordAuthorityReport => vec![text("reference", "Authority report reference")],
        ActionKind::Comment => vec![area("text", "Internal comment")],
        ActionKind::SplitOut
        | ActionKind::Open
        | ActionKind::AddReport
        | ActionKind::Absorb
        | ActionKind::RecomputeClock
        | ActionKind::AddCase
        | ActionKind::EditCase
        | ActionKind::RetireCase
        | ActionKind::RecordVerification
        | ActionKind::ReporterReply
        | ActionKind::Redact
        | ActionKind::Appeal
        | ActionKind::AttachEvidence => vec![],
        ActionKind::UpholdAppeal => vec![area(
            "reasons",
            "Why the decision stands (the reporter reads this)",
        )],
        ActionKind::GrantAppeal => vec![area(
            "reasons",
            "Why the incident reopens (the reporter reads this)",
        )],
    }
}

const PUBLIC_SUMMARY_LABEL: &str = "Public summary for the reporters: what was done, in public terms, never internal notes (shown on the status page and mailed; meets the feedback clock)";

async fn load_page(
    state: &AppState,
    staff: &Staff,
    id: i64,
    typed: Option<(&str, &BTreeMap<String, String>, String)>,
) -> Result<Response, WebError> {
    let internal = |e: &dyn std::fmt::Display| WebError::internal(Locale::En, false, e);
    let db = &state.db;
    let Some(inc) = incident::Entity::find_by_id(id)
        .one(&db.conn)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Err(WebError::page(Kind::NotFound, Locale::En));
    };
    let domain = incidents::to_domain(&inc).map_err(|e| internal(&e))?;
    let all_users = users::list(db).await.map_err(|e| internal(&e))?;
    let user_opts: Vec<(String, String)> = all_users
        .iter()
        .filter(|u| !u.disabled)
        .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.role)))
        .collect();
    let reports = report::Entity::find()
        .filter(report::Column::IncidentId.eq(id))
        .order_by_asc(report::Column::Id)
        .all(&db.conn)
        .await
        .map_err(|e| internal(&e))?;
    let clocks = incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(id))
        .order_by_asc(incident_clock::Column::DueAt)
        .all(&db.conn)
        .await
        .map_err(|e| internal(&e))?;
    let events = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(id))
        .order_by_desc(incident_event::Column::Seq)
        .all(&db.conn)
        .await
        .map_err(|e| internal(&e))?;
    let now = Utc::now();
    let reporter = super::reporter::view(state, id, &reports, now)
        .await
        .map_err(|e| internal(&e))?;
    let tax = &state.settings.taxonomy;
    let fmt_utc = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut forms: Vec<ActionForm> = workflow::available_actions(&domain, staff.role)
        .into_iter()
        // Evidence is uploaded from the reporter panel's file form, not an action form.
        .filter(|k| *k != ActionKind::SplitOut && *k != ActionKind::AttachEvidence && !k.is_case())
        // An appeal's decision is offered only while one is open.
        .filter(|k| {
            reporter.appeal_open || !matches!(k, ActionKind::UpholdAppeal | ActionKind::GrantAppeal)
        })
        .map(|k| ActionForm {
            kind: k.as_str(),
            label: k.label(),
            fields: fields_for(k, state, &domain, &user_opts, &reporter.recipients),
            error: None,
        })
        .collect();
    let mut page_error = None;
    if let Some((kind, values, message)) = typed {
        match forms.iter_mut().find(|f| f.kind == kind) {
            Some(f) => {
                for field in &mut f.fields {
                    if let Some(v) = values.get(field.name) {
                        field.value = v.clone();
                    }
                }
                f.error = Some(message);
            }
            None => page_error = Some(message),
        }
    }
    let retraining = super::retraining::view(state, staff, &domain)
        .await
        .map_err(|e| internal(&e))?;
    let page = IncidentPage {
        retraining,
        reporter,
        service: &state.settings.public.service_name,
        staff,
        reference: reference(id),
        category: tax.label(&inc.category, false),
        assignee: inc
            .assignee_id
            .and_then(|a| all_users.iter().find(|u| u.id == a))
            .map(|u| u.name.clone())
            .unwrap_or_else(|| "nobody".into()),
        can_split: workflow::check_allowed(&domain, ActionKind::SplitOut, Some(staff.role)).is_ok(),
        reports: reports
            .into_iter()
            .map(|r| ReportView {
                id: r.id,
                code: r.tracking_code,
                received: fmt_utc(r.received_at),
                channel: r.channel,
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
                category: tax.label(&r.category, false),
                description: r.description,
                contact: match (r.reporter_name, r.reporter_email) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (None, Some(e)) => e,
                    (Some(n), None) => n,
                    (None, None) => String::new(),
                },
            })
            .collect(),
        deadlines: super::deadlines::view(
            &state.settings.deadlines,
            clocks,
            inc.duplicate_of,
            now,
            Locale::En,
        ),
        events: events
            .into_iter()
            .map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
                let data = match data {
                    serde_json::Value::Object(m) => m
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    _ => vec![],
                };
                EventView {
                    seq: e.seq,
                    at: fmt_utc(e.at),
                    actor: e.actor,
                    action: e
                        .action
                        .parse::<ActionKind>()
                        .map(|k| k.label().to_string())
                        .unwrap_or(e.action),
                    transition: match e.from_state {
                        Some(f) if f != e.to_state => format!("{f} → {}", e.to_state),
                        _ => String::new(),
                    },
                    data,
                }
            })
            .collect(),
        forms,
        inc,
        error: page_error,
    };
    let status = if page.error.is_some() || page.forms.iter().any(|f| f.error.is_some()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let html = page.render().map_err(|e| internal(&e))?;
    Ok((status, Html(html)).into_response())
}

pub async fn page(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> Response {
    let Ok(id) = id.trim_start_matches("INC-").parse::<i64>() else {
        return WebError::page(Kind::NotFound, Locale::En).into_response();
    };
    load_page(&state, &staff, id, None)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The reporter mail an outcome causes: a decision with reasons, what was done (a public
/// summary), or the fix verified (with the summary written with it, if any).
fn outcome_mails(
    state: &AppState,
    kind: ActionKind,
    summary: Option<String>,
) -> impl Fn(&Incident, &[Reporter]) -> Vec<Mail> + Sync + '_ {
    use crate::mail::render::Outcome;
    move |inc, reporters| {
        let outcome = match (kind, &summary) {
            (ActionKind::Reject, _) => {
                Outcome::Rejected(inc.rejection_reasons.clone().unwrap_or_default())
            }
            (ActionKind::VerifyPass, s) => Outcome::Resolved(s.clone()),
            (ActionKind::PublishSummary, Some(s)) if inc.state == workflow::State::Resolved => {
                Outcome::Resolved(Some(s.clone()))
            }
            (ActionKind::PublishSummary, Some(s)) => Outcome::ActionTaken(s.clone()),
            _ => return Vec::new(),
        };
        reporters
            .iter()
            .filter_map(|r| {
                let locale = Locale::parse(&r.locale).unwrap_or_default();
                crate::mail::render::outcome(&state.settings, locale, r, &outcome)
                    .map_err(|e| tracing::error!(error = %e, "rendering an outcome mail failed"))
                    .ok()
            })
            .collect()
    }
}

pub async fn act(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    req: Request,
) -> Response {
    let mut fields =
        match checked_form(&state, &staff, req, state.settings.limits.max_body_bytes).await {
            Ok(f) => f,
            Err(r) => return r,
        };
    let kind_name = fields.get("action").cloned().unwrap_or_default();
    let seen_version = fields.get("version").and_then(|v| v.parse::<i64>().ok());
    let typed = fields.clone();
    let refuse = |status: StatusCode, message: String| {
        let state = state.clone();
        let staff = staff.clone();
        let typed = typed.clone();
        let kind_name = kind_name.clone();
        async move {
            match load_page(
                &state,
                &staff,
                id,
                Some((kind_name.as_str(), &typed, message)),
            )
            .await
            {
                Ok(mut r) => {
                    *r.status_mut() = status;
                    r
                }
                Err(e) => e.into_response(),
            }
        }
    };
    let kind: ActionKind = match kind_name.parse() {
        Ok(k) => k,
        Err(_) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Unknown action {kind_name:?}."),
            )
            .await;
        }
    };
    // The role table decides; the engine checks again, so no path around it exists.
    if !staff.may(kind) {
        let r = Refusal::NotPermitted {
            action: kind,
            role: Some(staff.role),
        };
        return refuse(StatusCode::FORBIDDEN, r.reason()).await;
    }
    if kind == ActionKind::SplitOut {
        // The new incident's number is only known when it is created.
        fields
            .entry("new_incident_id".into())
            .or_insert_with(|| "1".into());
    }
    let mut action = match Action::from_form(kind.as_str(), &fields) {
        Ok(a) => a,
        Err(r) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, r.reason()).await,
    };
    // The workflow knows nothing of the configured taxonomy; the category must be one of it,
    // and is kept as the taxonomy's canonical key whatever its spelling.
    if let Action::Triage { category, .. } | Action::SetCategory { category } = &mut action {
        match state.settings.taxonomy.parse(category) {
            Some(c) => *category = c.as_str().to_owned(),
            None => {
                let r = Refusal::Invalid {
                    field: "category",
                    reason: format!("{category:?} is not a category of the taxonomy"),
                };
                return refuse(StatusCode::UNPROCESSABLE_ENTITY, r.reason()).await;
            }
        }
    }
    let actor = Actor::user(staff.user.id, &staff.user.email, staff.role);
    let summary = fields
        .get("public_summary")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let now = Utc::now();
    let policy = &state.settings.deadlines;
    let done = match (&action, summary) {
        (Action::MessageReporter { report_id, text }, _) => {
            let render = |to: &crate::db::messages::Recipient, text: &str| {
                let locale = Locale::parse(&to.locale).unwrap_or_default();
                crate::mail::render::message(
                    &state.settings,
                    locale,
                    to.email.as_deref()?,
                    &to.tracking_code,
                    text,
                )
                .map_err(|e| tracing::error!(error = %e, "rendering a message mail failed"))
                .ok()
            };
            crate::db::messages::send(
                &state.db,
                policy,
                id,
                seen_version,
                *report_id,
                text,
                &actor,
                now,
                &render,
            )
            .await
            .map(|_| ())
        }
        (Action::Contain { .. } | Action::VerifyPass { .. }, Some(summary)) => {
            let mails = outcome_mails(&state, ActionKind::PublishSummary, Some(summary.clone()));
            crate::db::messages::act_with_summary(
                &state.db,
                policy,
                id,
                seen_version,
                &action,
                &summary,
                &actor,
                now,
                &mails,
            )
            .await
            .map(|_| ())
        }
        (Action::UpholdAppeal { reasons, .. } | Action::GrantAppeal { reasons, .. }, _) => {
            let granted = kind == ActionKind::GrantAppeal;
            let reasons = reasons.clone();
            let settings = state.settings.clone();
            let mails = move |_: &Incident, reporters: &[Reporter]| -> Vec<Mail> {
                reporters
                    .iter()
                    .filter_map(|r| {
                        let locale = Locale::parse(&r.locale).unwrap_or_default();
                        crate::mail::render::appeal_outcome(&settings, locale, r, granted, &reasons)
                            .map_err(
                                |e| tracing::error!(error = %e, "rendering an appeal mail failed"),
                            )
                            .ok()
                    })
                    .collect()
            };
            crate::db::appeals::decide(
                &state.db,
                policy,
                id,
                seen_version,
                &action,
                &actor,
                now,
                &mails,
            )
            .await
        }
        (Action::PublishSummary { text }, _) => {
            let mails = outcome_mails(&state, kind, Some(text.clone()));
            db_act(
                &state.db,
                policy,
                id,
                seen_version,
                &action,
                &actor,
                now,
                &mails,
            )
            .await
            .map(|_| ())
        }
        _ => {
            let mails = outcome_mails(&state, kind, None);
            db_act(
                &state.db,
                policy,
                id,
                seen_version,
                &action,
                &actor,
                now,
                &mails,
            )
            .await
            .map(|_| ())
        }
    };
    match done {
        Ok(()) => {
            state.mail_ready.notify_one();
            Redirect::to(&format!("/incidents/{id}")).into_response()
        }
        Err(ActError::Refused(r)) => {
            let status = if matches!(r, Refusal::NotPermitted { .. }) { StatusCode::FORBIDDEN } else { StatusCode::UNPROCESSABLE_ENTITY };
            refuse(status, r.reason()).await
        }
        Err(ActError::Conflict) => {
            refuse(StatusCode::CONFLICT, "Someone else changed this incident while you were looking at it. Check the timeline below and try again.".into()).await
        }
        Err(ActError::NotFound) => WebError::page(Kind::NotFound, Locale::En).into_response(),
        Err(ActError::Db(e)) => WebError::internal(Locale::En, false, e).into_response(),
    }
}
