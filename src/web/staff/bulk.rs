//! `POST /incidents/bulk`: one action on several incidents from the list view. Each is applied
//! through the workflow engine on its own (each an event, each checked), and the answer says
//! what was done and what was refused, and why.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;

use super::auth::{Staff, check_csrf};
use crate::db::workflow::{ActError, act as db_act};
use crate::domain::workflow::{Action, ActionKind, Actor, Refusal};
use crate::i18n::refusal::{self as say, sentence};
use crate::i18n::words;
use crate::web::AppState;
use crate::web::error::WebError;

/// The actions the list view offers for several incidents at once.
pub const KINDS: [ActionKind; 6] = [
    ActionKind::Assign,
    ActionKind::SetSeverity,
    ActionKind::SetCategory,
    ActionKind::Comment,
    ActionKind::Reject,
    ActionKind::Merge,
];

/// At most this many incidents in one bulk action.
pub const MAX: usize = 500;

#[derive(Template)]
#[template(path = "staff/bulk_result.html")]
struct ResultPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    action: &'static str,
    error: Option<String>,
    done: Vec<(i64, String)>,
    refused: Vec<(i64, String)>,
    back: String,
}

/// A reload of the result lands on the list.
pub async fn bulk_get() -> Response {
    Redirect::to("/incidents").into_response()
}

pub async fn bulk(State(state): State<AppState>, staff: Staff, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.settings.limits.max_body_bytes).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, say::too_large(staff.locale)).into_response();
    };
    // `ids` repeats, so the pairs are kept as a list, not a map.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Err(f) = check_csrf(&state, &staff, &parts.headers, get("csrf").as_deref()) {
        return f.into_response();
    }
    let mut ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.trim().parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let back = parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| u.path() == "/incidents")
        .map(|u| match u.query() {
            Some(q) => format!("/incidents?{q}"),
            None => "/incidents".into(),
        })
        .unwrap_or_else(|| "/incidents".into());
    let l = staff.locale;
    let t = staff.t();
    let kind = get("bulk_action")
        .and_then(|k| k.parse::<ActionKind>().ok())
        .filter(|k| KINDS.contains(k));
    let render = |status: StatusCode, page: ResultPage<'_>| match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::internal(l, false, e).into_response(),
    };
    let page = |action, error: Option<String>, done, refused| ResultPage {
        service: &state.settings.public.service_name,
        staff: &staff,
        action,
        error,
        done,
        refused,
        back: back.clone(),
    };
    let Some(kind) = kind else {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            page("", Some(say::unknown_bulk_action(l).into()), vec![], vec![]),
        );
    };
    let caption = words::action(kind, l);
    if ids.is_empty() || ids.len() > MAX {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            page(caption, Some(t.bulk_none.into()), vec![], vec![]),
        );
    }
    if !staff.may(kind) {
        let r = Refusal::NotPermitted {
            action: kind,
            role: Some(staff.role),
        };
        return render(
            StatusCode::FORBIDDEN,
            page(caption, Some(sentence(&r, l)), vec![], vec![]),
        );
    }
    // The same fields for every incident; only the ones the action reads matter.
    let fields: BTreeMap<String, String> = [
        "assignee", "severity", "category", "text", "reasons", "target",
    ]
    .into_iter()
    .filter_map(|k| get(k).map(|v| (k.to_string(), v)))
    .collect();
    let mut action = match Action::from_form(kind.as_str(), &fields) {
        Ok(a) => a,
        Err(r) => {
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(caption, Some(sentence(&r, l)), vec![], vec![]),
            );
        }
    };
    if let Action::SetCategory { category } = &mut action {
        match state.settings.taxonomy.parse(category) {
            Some(c) => *category = c.as_str().to_owned(),
            None => {
                let r = Refusal::Invalid {
                    field: "category",
                    problem: crate::domain::workflow::Problem::NotInTaxonomy {
                        value: category.clone(),
                    },
                };
                return render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    page(caption, Some(sentence(&r, l)), vec![], vec![]),
                );
            }
        }
    }
    let actor = Actor::user(staff.user.id, &staff.user.email, staff.role);
    let mails = super::incident::outcome_mails(&state, kind, None);
    let tell = match super::notify::assignee_to_tell(&state, &staff, &action).await {
        Ok(t) => t,
        Err(e) => return WebError::internal(l, false, e).into_response(),
    };
    let mut assigned = Vec::new();
    let (mut done, mut refused) = (Vec::new(), Vec::new());
    for id in ids {
        if let Action::Merge { target } = &action
            && target.id == id
        {
            // The incident everything is merged into is left as it is.
            continue;
        }
        match db_act(
            &state.db,
            &state.settings.deadlines,
            id,
            None,
            &action,
            &actor,
            Utc::now(),
            &mails,
        )
        .await
        {
            Ok(inc) => {
                done.push((id, words::state(inc.state, l).to_string()));
                assigned.push((inc.id, inc.title));
            }
            Err(ActError::Refused(r)) => refused.push((id, sentence(&r, l))),
            Err(ActError::Conflict) => refused.push((id, say::conflict_in_bulk(l).into())),
            Err(ActError::NotFound) => refused.push((id, t.not_found_title.to_string())),
            Err(ActError::Db(e)) => return WebError::internal(l, false, e).into_response(),
        }
    }
    if !done.is_empty() {
        state.mail_ready.notify_one();
    }
    // Several incidents assigned together are one mail.
    if let Some(to) = &tell
        && let Err(e) = super::notify::tell_grouped(&state, &staff, to, &assigned).await
    {
        return WebError::internal(l, false, e).into_response();
    }
    let status = if done.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(status, page(caption, None, done, refused))
}
