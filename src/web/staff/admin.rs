//! Admin pages: the outbox, so dead mail is seen and not silently lost, and can be sent again.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::auth::{Staff, checked_form};
use crate::db::outbox::{DEAD, OutboxAdminRow, outbox_admin_rows, requeue_dead};
use crate::domain::locale::Locale;
use crate::web::AppState;
use crate::web::error::{Kind, WebError};

#[derive(Template)]
#[template(path = "staff/outbox.html")]
struct OutboxPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    dead: Vec<OutboxAdminRow>,
    pending: Vec<OutboxAdminRow>,
}

impl OutboxPage<'_> {
    fn kind(&self, kind: &str) -> std::borrow::Cow<'static, str> {
        crate::i18n::staff::mail_kind(kind, self.staff.locale)
    }
}

fn admins_only(locale: Locale) -> Response {
    WebError::page(Kind::Forbidden, locale)
        .with_detail(crate::i18n::staff::staff_texts(locale).outbox_admins_only)
        .into_response()
}

pub async fn outbox(State(state): State<AppState>, staff: Staff) -> Response {
    if !staff.is_admin() {
        return admins_only(staff.locale);
    }
    let rows = match outbox_admin_rows(&state.db).await {
        Ok(r) => r,
        Err(e) => return WebError::internal(staff.locale, false, e).into_response(),
    };
    let (dead, pending) = rows.into_iter().partition(|r| r.status == DEAD);
    let page = OutboxPage {
        service: &state.settings.public.service_name,
        staff: &staff,
        dead,
        pending,
    };
    match page.render() {
        Ok(h) => (StatusCode::OK, Html(h)).into_response(),
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}

/// Puts dead mail back in the queue: one row (`id`) or all of them.
pub async fn retry(State(state): State<AppState>, staff: Staff, req: Request) -> Response {
    if !staff.is_admin() {
        return admins_only(staff.locale);
    }
    let fields = match checked_form(&state, &staff, req, 16 * 1024).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    // No `id` (or an empty one) means every dead mail; an id that is not a number is a
    // mistake, and must not be read as "all".
    let ids: Vec<i64> = match fields.get("id").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Vec::new(),
        Some(v) => match v.parse::<i64>() {
            Ok(id) if id > 0 => vec![id],
            _ => {
                return WebError::page(Kind::BadRequest, staff.locale)
                    .with_detail(staff.t().outbox_bad_id)
                    .into_response();
            }
        },
    };
    match requeue_dead(&state.db, &ids, chrono::Utc::now()).await {
        Ok(n) => {
            tracing::info!(requeued = n, by = %staff.user.email, "dead mail requeued");
            state.mail_ready.notify_one();
            Redirect::to("/admin/outbox").into_response()
        }
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}
