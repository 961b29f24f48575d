//! The incident page's retraining panel: the desired behaviour, the regression cases (with
//! forms to add, edit and retire them), and each verification run posted by the pipeline, per
//! case the bad output beside the new one. A partial of its own (`staff/retraining.html`,
//! included by the incident page) with its view model here, and the case forms' handlers.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::post;
use chrono::Utc;

use super::auth::{Staff, checked_form};
use super::reference;
use crate::db::DbError;
use crate::db::cases::{self, CaseError};
use crate::db::verification::runs_for;
use crate::db::workflow::ActError;
use crate::domain::cases::CaseText;
use crate::domain::locale::Locale;
use crate::domain::workflow::{self, ActionKind, Actor, Incident, Refusal};
use crate::i18n::panels::{self, RetrainingTexts};
use crate::i18n::refusal::{self as say, sentence};
use crate::web::AppState;
use crate::web::error::{Kind, WebError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents/{id}/cases", post(add))
        .route("/incidents/{id}/cases/{case}/edit", post(edit))
        .route("/incidents/{id}/cases/{case}/retire", post(retire))
}

pub struct CaseView {
    pub id: i64,
    pub source: &'static str,
    pub prompt: String,
    pub bad_output: String,
    /// The case's own desired response ("" when it uses the incident's).
    pub desired: String,
    /// What training will prefer: its own, else the incident's ("" when neither).
    pub effective: String,
    pub retired: bool,
    pub model: String,
}

pub struct ResultView {
    pub case_id: i64,
    pub prompt: String,
    pub bad_output: String,
    pub new_output: String,
    pub passed: bool,
    pub score: String,
    pub detector: String,
}

pub struct RunView {
    pub run_id: String,
    pub model_version: String,
    pub received: String,
    pub actor: String,
    pub passed: usize,
    pub total: usize,
    /// "3 of 4 passed", in the viewer's language.
    pub passed_text: String,
    /// "75%".
    pub rate: String,
    pub results: Vec<ResultView>,
}

/// What the incident page's retraining panel shows.
pub struct RetrainingView {
    /// The panel's words, in the viewer's language.
    pub t: &'static RetrainingTexts,
    pub incident_id: i64,
    /// "Reference answer" / "Refusal", and its text.
    pub desired: Option<(&'static str, String)>,
    pub cases: Vec<CaseView>,
    pub active: usize,
    /// "3 active of 4", in the viewer's language.
    pub active_text: String,
    pub runs: Vec<RunView>,
    /// A sentence on the automated evidence (a run covering every case), or its absence.
    pub evidence: String,
    /// Whether automated evidence passed every case (for the colour of the sentence).
    pub evidence_passes: bool,
    pub can_edit: bool,
}

pub async fn view(
    state: &AppState,
    staff: &Staff,
    inc: &Incident,
) -> Result<RetrainingView, DbError> {
    let db = &state.db;
    let l = staff.locale;
    let list = cases::list(db, inc.id).await?;
    let desired_text = inc.desired.as_ref().map(|d| d.text.clone());
    let runs = runs_for(db, inc.id).await?;
    let active: Vec<i64> = list.iter().filter(|c| !c.retired).map(|c| c.id).collect();
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let run_views: Vec<RunView> = runs
        .iter()
        .map(|r| {
            let passed = r.results.iter().filter(|(_, res)| res.passed).count();
            let total = r.results.len();
            RunView {
                run_id: r.run_id.clone(),
                model_version: r.model_version.clone(),
                received: fmt(r.received_at),
                actor: r.actor.clone(),
                passed,
                total,
                passed_text: (panels::retraining_texts(l).passed_of)(passed, total),
                rate: format!("{}%", (passed * 100).checked_div(total).unwrap_or(0)),
                results: r
                    .results
                    .iter()
                    .map(|(c, res)| ResultView {
                        case_id: c.id,
                        prompt: c.prompt.clone(),
                        bad_output: c.bad_output.clone(),
                        new_output: res.output.clone(),
                        passed: res.passed,
                        score: res.score.map(|s| format!("{s:.2}")).unwrap_or_default(),
                        detector: res.detector.clone().unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();
    // The newest run that covers every active case is the automated evidence.
    let covering = runs.iter().find(|r| {
        let ids: Vec<i64> = r.results.iter().map(|(c, _)| c.id).collect();
        !active.is_empty() && active.iter().all(|a| ids.contains(a))
    });
    let (evidence, evidence_passes) = match covering {
        Some(r) => {
            let failed: Vec<i64> = r
                .results
                .iter()
                .filter(|(c, res)| !res.passed && active.contains(&c.id))
                .map(|(c, _)| c.id)
                .collect();
            if failed.is_empty() {
                (
                    panels::evidence_passed(&r.run_id, &r.model_version, active.len(), l),
                    true,
                )
            } else {
                (
                    panels::evidence_failed(
                        &r.run_id,
                        &r.model_version,
                        failed.len(),
                        active.len(),
                        &crate::domain::cases::case_list(&failed),
                        l,
                    ),
                    false,
                )
            }
        }
        None => (panels::no_evidence(l).into(), false),
    };
    Ok(RetrainingView {
        t: panels::retraining_texts(l),
        incident_id: inc.id,
        desired: inc
            .desired
            .as_ref()
            .map(|d| (panels::desired_kind(d.kind, l), d.text.clone())),
        active: active.len(),
        active_text: (panels::retraining_texts(l).active_of)(active.len(), list.len()),
        cases: list
            .into_iter()
            .map(|c| CaseView {
                id: c.id,
                source: panels::case_source(&c.source, l),
                effective: c
                    .desired
                    .clone()
                    .or_else(|| desired_text.clone())
                    .unwrap_or_default(),
                desired: c.desired.unwrap_or_default(),
                prompt: c.prompt,
                bad_output: c.bad_output,
                retired: c.retired,
                model: [
                    c.model.unwrap_or_default(),
                    c.model_version.unwrap_or_default(),
                ]
                .join(" ")
                .trim()
                .to_owned(),
            })
            .collect(),
        runs: run_views,
        evidence,
        evidence_passes,
        can_edit: workflow::check_allowed(inc, ActionKind::AddCase, Some(staff.role)).is_ok(),
    })
}

/// A case form that came back with a mistake: the form again, every value as typed.
#[derive(Template)]
#[template(path = "staff/case_form.html")]
struct CaseFormPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    reference: String,
    incident_id: i64,
    /// The form's action path and its heading.
    action: String,
    heading: &'static str,
    retire: bool,
    values: BTreeMap<String, String>,
    error: String,
    rt: &'static RetrainingTexts,
}

impl CaseFormPage<'_> {
    fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }
}

#[allow(clippy::too_many_arguments)]
fn form_again(
    state: &AppState,
    staff: &Staff,
    id: i64,
    action: String,
    heading: &'static str,
    retire: bool,
    values: BTreeMap<String, String>,
    status: StatusCode,
    error: String,
) -> Response {
    let page = CaseFormPage {
        service: &state.settings.public.service_name,
        staff,
        reference: reference(id),
        incident_id: id,
        action,
        heading,
        retire,
        values,
        error,
        rt: panels::retraining_texts(staff.locale),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}

fn failure(e: CaseError, l: Locale) -> (StatusCode, String) {
    match e {
        CaseError::NotFound | CaseError::Act(ActError::NotFound) => {
            (StatusCode::NOT_FOUND, say::no_such_case(l).into())
        }
        CaseError::Act(ActError::Refused(r)) => (
            if matches!(r, Refusal::NotPermitted { .. }) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            sentence(&r, l),
        ),
        CaseError::Act(ActError::Conflict) => (StatusCode::CONFLICT, say::conflict(l).into()),
        CaseError::Act(ActError::Db(e)) => {
            tracing::error!(error = %e, "a case change failed");
            (StatusCode::INTERNAL_SERVER_ERROR, say::not_stored(l).into())
        }
    }
}

async fn case_on(state: &AppState, staff: &Staff, id: i64, case: i64) -> Result<(), Response> {
    match cases::get(&state.db, case).await {
        Ok(Some(c)) if c.incident_id == id => Ok(()),
        Ok(_) => Err(WebError::page(Kind::NotFound, staff.locale)
            .with_detail(say::no_such_case(staff.locale))
            .into_response()),
        Err(e) => Err(WebError::internal(staff.locale, false, e).into_response()),
    }
}

fn text_of(state: &AppState, f: &BTreeMap<String, String>, l: Locale) -> Result<CaseText, String> {
    let get = |k: &str| f.get(k).map_or("", String::as_str);
    CaseText::parse(
        get("prompt"),
        get("bad_output"),
        get("desired"),
        state.settings.limits.output_chars,
    )
    .map_err(|ps| {
        ps.iter()
            .map(|p| say::about_field(p.field, &crate::i18n::problem_message(l, &p.problem), l))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn actor(staff: &Staff) -> Actor {
    Actor::user(staff.user.id, &staff.user.email, staff.role)
}

async fn add(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    req: Request,
) -> Response {
    let f = match checked_form(&state, &staff, req, state.settings.limits.max_body_bytes).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let again = |status, error| {
        form_again(
            &state,
            &staff,
            id,
            format!("/incidents/{id}/cases"),
            panels::retraining_texts(staff.locale).add_heading,
            false,
            f.clone(),
            status,
            error,
        )
    };
    if !staff.may(ActionKind::AddCase) {
        let r = Refusal::NotPermitted {
            action: ActionKind::AddCase,
            role: Some(staff.role),
        };
        return again(StatusCode::FORBIDDEN, sentence(&r, staff.locale));
    }
    let text = match text_of(&state, &f, staff.locale) {
        Ok(t) => t,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    match cases::add(
        &state.db,
        &state.settings.deadlines,
        id,
        &text,
        &actor(&staff),
        Utc::now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/incidents/{id}#cases")).into_response(),
        Err(e) => {
            let (status, message) = failure(e, staff.locale);
            again(status, message)
        }
    }
}

async fn edit(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, case)): Path<(i64, i64)>,
    req: Request,
) -> Response {
    let f = match checked_form(&state, &staff, req, state.settings.limits.max_body_bytes).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(r) = case_on(&state, &staff, id, case).await {
        return r;
    }
    let again = |status, error| {
        form_again(
            &state,
            &staff,
            id,
            format!("/incidents/{id}/cases/{case}/edit"),
            panels::retraining_texts(staff.locale).edit_heading,
            false,
            f.clone(),
            status,
            error,
        )
    };
    if !staff.may(ActionKind::EditCase) {
        let r = Refusal::NotPermitted {
            action: ActionKind::EditCase,
            role: Some(staff.role),
        };
        return again(StatusCode::FORBIDDEN, sentence(&r, staff.locale));
    }
    let text = match text_of(&state, &f, staff.locale) {
        Ok(t) => t,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    match cases::edit(
        &state.db,
        &state.settings.deadlines,
        case,
        &text,
        &actor(&staff),
        Utc::now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/incidents/{id}#case-{case}")).into_response(),
        Err(e) => {
            let (status, message) = failure(e, staff.locale);
            again(status, message)
        }
    }
}

async fn retire(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, case)): Path<(i64, i64)>,
    req: Request,
) -> Response {
    let f = match checked_form(&state, &staff, req, state.settings.limits.max_body_bytes).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(r) = case_on(&state, &staff, id, case).await {
        return r;
    }
    let again = |status, error| {
        form_again(
            &state,
            &staff,
            id,
            format!("/incidents/{id}/cases/{case}/retire"),
            panels::retraining_texts(staff.locale).retire_heading,
            true,
            f.clone(),
            status,
            error,
        )
    };
    if !staff.may(ActionKind::RetireCase) {
        let r = Refusal::NotPermitted {
            action: ActionKind::RetireCase,
            role: Some(staff.role),
        };
        return again(StatusCode::FORBIDDEN, sentence(&r, staff.locale));
    }
    let reason = f.get("reason").map(|r| r.trim()).unwrap_or("");
    if reason.is_empty() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            say::retire_needs_reason(staff.locale).into(),
        );
    }
    match cases::retire(
        &state.db,
        &state.settings.deadlines,
        case,
        reason,
        &actor(&staff),
        Utc::now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/incidents/{id}#case-{case}")).into_response(),
        Err(e) => {
            let (status, message) = failure(e, staff.locale);
            again(status, message)
        }
    }
}
