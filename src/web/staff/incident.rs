//! `GET /incidents/{id}`: every report, every clock, the timeline, and forms for exactly the
//! actions the viewer's role may take now; `POST /incidents/{id}/act` takes one of them.

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::auth::{Staff, checked_form};
use super::incident_view::{self, PageModel, Refused};
use super::reference;
use crate::db::workflow::{ActError, Reporter, act as db_act};
use crate::db::{incident_page, incidents};
use crate::domain::locale::Locale;
use crate::domain::workflow::{Action, ActionKind, Actor, Incident, Refusal};
use crate::i18n::refusal::{self as say, sentence};
use crate::mail::Mail;
use crate::web::AppState;
use crate::web::error::WebError;

#[derive(Template)]
#[template(path = "staff/incident.html")]
struct IncidentPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    /// The page's view model (`incident_view`).
    p: PageModel,
    /// The retraining panel (its own partial and view model).
    retraining: super::retraining::RetrainingView,
    /// The clocks partial reads `deadlines` by that name.
    deadlines: super::deadlines::DeadlinesView,
    /// Messages with the reporters and the public summary (its own partial and view model).
    reporter: super::reporter::ReporterView,
}

#[derive(Template)]
#[template(path = "staff/not_found.html")]
struct NotFoundPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    wanted: String,
}

/// A staff 404 is a staff page: the staff header, search box and words.
pub fn not_found(state: &AppState, staff: &Staff, wanted: &str) -> Response {
    let page = NotFoundPage {
        service: &state.settings.public.service_name,
        staff,
        wanted: wanted.to_string(),
    };
    match page.render() {
        Ok(html) => (StatusCode::NOT_FOUND, Html(html)).into_response(),
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}

async fn load_page(
    state: &AppState,
    staff: &Staff,
    id: i64,
    refused: Option<Refused<'_>>,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let internal =
        |e: &dyn std::fmt::Display| WebError::internal(staff.locale, false, e.to_string());
    let Some(rec) = incident_page::load(&state.db, id)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Ok(not_found(state, staff, &reference(id)));
    };
    let domain = incidents::to_domain(&rec.incident).map_err(|e| internal(&e))?;
    let retraining = super::retraining::view(state, staff, &domain)
        .await
        .map_err(|e| internal(&e))?;
    let now = Utc::now();
    let reporter = super::reporter::view(state, id, &rec.reports, now, staff.locale)
        .await
        .map_err(|e| internal(&e))?;
    let (p, deadlines) =
        incident_view::build(state, staff, rec, &domain, refused, done, &reporter, now);
    let status = if p.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = IncidentPage {
        service: &state.settings.public.service_name,
        staff,
        p,
        retraining,
        deadlines,
        reporter,
    };
    let html = page.render().map_err(|e| internal(&e))?;
    Ok((status, Html(html)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// The action just taken (post/redirect/get): shown as a confirmation when it is the
    /// incident's latest event and the viewer's own.
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some(id) = parse_reference(&id) else {
        return not_found(&state, &staff, &id);
    };
    load_page(&state, &staff, id, None, q.done.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// "42", "INC-42", "inc-42", "#42".
fn parse_reference(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('#');
    let s = s
        .strip_prefix("INC-")
        .or_else(|| s.strip_prefix("inc-"))
        .unwrap_or(s);
    s.parse::<i64>().ok().filter(|n| *n > 0)
}

/// `GET /incidents/{id}/act`: where a reload after a refused post lands; back to the page.
pub async fn act_get(Path(id): Path<String>) -> Response {
    match parse_reference(&id) {
        Some(id) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        None => Redirect::to("/board").into_response(),
    }
}

/// The reporter mail an outcome causes: a decision with reasons, or the fix verified.
pub(super) fn outcome_mails(
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
            (ActionKind::PublishSummary, Some(s))
                if inc.state == crate::domain::workflow::State::Resolved =>
            {
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
    let seen_version = fields
        .get("version")
        .and_then(|v| v.trim().parse::<i64>().ok());
    let typed = fields.clone();
    let l = staff.locale;
    let refuse = |status: StatusCode, message: String, field: Option<&'static str>| {
        let state = state.clone();
        let staff = staff.clone();
        let typed = typed.clone();
        let kind_name = kind_name.clone();
        async move {
            let refused = Refused {
                kind: kind_name.as_str(),
                values: &typed,
                message,
                field,
            };
            match load_page(&state, &staff, id, Some(refused), None).await {
                Ok(mut r) => {
                    if r.status() != StatusCode::NOT_FOUND {
                        *r.status_mut() = status;
                    }
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
                sentence(
                    &Refusal::UnknownAction {
                        name: kind_name.clone(),
                    },
                    l,
                ),
                None,
            )
            .await;
        }
    };
    // Without the version the page was drawn at, a stale page could undo someone else's
    // change unseen: every action form carries it.
    let Some(seen_version) = seen_version else {
        return refuse(StatusCode::BAD_REQUEST, say::no_version(l).into(), None).await;
    };
    // The role table decides; the engine checks again, so no path around it exists.
    if !staff.may(kind) {
        let r = Refusal::NotPermitted {
            action: kind,
            role: Some(staff.role),
        };
        return refuse(StatusCode::FORBIDDEN, sentence(&r, l), None).await;
    }
    if kind == ActionKind::SplitOut {
        // The new incident's number is only known when it is created.
        fields
            .entry("new_incident_id".into())
            .or_insert_with(|| "1".into());
    }
    let mut action = match Action::from_form(kind.as_str(), &fields) {
        Ok(a) => a,
        Err(r) => {
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, sentence(&r, l), r.field()).await;
        }
    };
    // The workflow knows nothing of the configured taxonomy; the category must be one of it,
    // and is kept as the taxonomy's canonical key whatever its spelling.
    if let Action::Triage { category, .. } | Action::SetCategory { category } = &mut action {
        match state.settings.taxonomy.parse(category) {
            Some(c) => *category = c.as_str().to_owned(),
            None => {
                let r = Refusal::Invalid {
                    field: "category",
                    problem: crate::domain::workflow::Problem::NotInTaxonomy {
                        value: category.clone(),
                    },
                };
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    sentence(&r, l),
                    Some("category"),
                )
                .await;
            }
        }
    }
    if let Action::Assign {
        assignee: Some(user_id),
    } = &action
    {
        match crate::db::users::list(&state.db).await {
            Ok(all) if all.iter().any(|u| u.id == *user_id && !u.disabled) => {}
            Ok(_) => {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    say::no_staff_account(*user_id, l),
                    Some("assignee"),
                )
                .await;
            }
            Err(e) => return WebError::internal(l, false, e).into_response(),
        }
    }
    let actor = Actor::user(staff.user.id, &staff.user.email, staff.role);
    let tell = match super::notify::assignee_to_tell(&state, &staff, &action).await {
        Ok(t) => t,
        Err(e) => return WebError::internal(staff.locale, false, e).into_response(),
    };
    let summary = fields
        .get("public_summary")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let now = Utc::now();
    let policy = &state.settings.deadlines;
    let seen = Some(seen_version);
    let done: Result<(), ActError> = match (&action, summary) {
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
                &state.db, policy, id, seen, *report_id, text, &actor, now, &render,
            )
            .await
            .map(|_| ())
        }
        (Action::Contain { .. } | Action::VerifyPass { .. }, Some(summary)) => {
            let mails = outcome_mails(&state, ActionKind::PublishSummary, Some(summary.clone()));
            crate::db::messages::act_with_summary(
                &state.db, policy, id, seen, &action, &summary, &actor, now, &mails,
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
            crate::db::appeals::decide(&state.db, policy, id, seen, &action, &actor, now, &mails)
                .await
        }
        _ => {
            let text = match &action {
                Action::PublishSummary { text } => Some(text.clone()),
                _ => None,
            };
            let outcome = outcome_mails(&state, kind, text);
            // The assignee's mail is written by the same transaction as the event.
            let mails = |inc: &Incident, reporters: &[Reporter]| {
                let mut all = outcome(inc, reporters);
                if let Some(to) = &tell {
                    all.extend(super::notify::mail(
                        &state,
                        &staff,
                        to,
                        &[(inc.id, inc.title.clone())],
                    ));
                }
                all
            };
            db_act(&state.db, policy, id, seen, &action, &actor, now, &mails)
                .await
                .map(|_| ())
        }
    };
    match done {
        Ok(_) => {
            state.mail_ready.notify_one();
            // Post/redirect/get: a reload cannot post twice, and the page confirms the action.
            Redirect::to(&format!("/incidents/{id}?done={}", kind.as_str())).into_response()
        }
        Err(ActError::Refused(r)) => {
            let status = if matches!(r, Refusal::NotPermitted { .. }) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let field = r.field();
            refuse(status, sentence(&r, l), field).await
        }
        Err(ActError::Conflict) => {
            refuse(StatusCode::CONFLICT, say::conflict(l).into(), None).await
        }
        Err(ActError::NotFound) => not_found(&state, &staff, &reference(id)),
        Err(ActError::Db(e)) => match e.failure() {
            // A row the action refers to vanished meanwhile, or would be duplicated.
            crate::db::error::Failure::Constraint => {
                tracing::info!(error = %e, "an action broke a constraint");
                refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    say::constraint(l).into(),
                    None,
                )
                .await
            }
            _ => WebError::internal(staff.locale, false, e).into_response(),
        },
    }
}
