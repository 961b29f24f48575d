//! The staff side: sign-in, the triage board, incident pages and the admin pages.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod board;
pub mod bulk;
pub mod deadlines;
pub mod export;
pub mod incident;
pub mod incident_view;
pub mod list;
pub mod notify;
pub mod reporter;
pub mod retraining;
pub mod signin_limits;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account/locale", post(auth::set_locale))
        .route("/board", get(board::board))
        .route("/incidents", get(list::list))
        .route("/incidents/bulk", post(bulk::bulk).get(bulk::bulk_get))
        .route("/incidents/{id}", get(incident::page))
        .route(
            "/incidents/{id}/act",
            post(incident::act).get(incident::act_get),
        )
        .route("/admin/outbox", get(admin::outbox))
        .route("/admin/outbox/retry", post(admin::retry))
        .route("/attachments/{id}", get(attachments::download))
        .route(
            "/incidents/{id}/evidence",
            post(attachments::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

/// "INC-42": how staff refer to an incident.
pub fn reference(id: i64) -> String {
    format!("INC-{id}")
}

/// How urgent a deadline is, for colour and for the text beside it.
pub fn urgency(
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    locale: crate::domain::locale::Locale,
) -> (&'static str, String) {
    use crate::i18n::staff::{countdown, no_deadline};
    let Some(due) = due else {
        return ("none", no_deadline(locale).into());
    };
    let left = due - now;
    let key = if left < chrono::Duration::zero() {
        "overdue"
    } else if left <= chrono::Duration::days(7) {
        "week"
    } else if left <= chrono::Duration::days(14) {
        "fortnight"
    } else {
        "on-track"
    };
    (key, countdown(left, locale))
}
