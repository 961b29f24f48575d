//! The staff side: sign-in, the triage board, incident pages and the admin pages.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod board;
pub mod deadlines;
pub mod incident;
pub mod reporter;
pub mod retraining;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/board", get(board::board))
        .route("/incidents/{id}", get(incident::page))
        .route("/incidents/{id}/act", post(incident::act))
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
pub fn urgency(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (&'static str, String) {
    let Some(due) = due else {
        return ("none", "no running deadline".into());
    };
    let left = due - now;
    let text = |d: chrono::Duration| {
        let (days, hours) = (d.num_days(), d.num_hours() % 24);
        if days > 0 {
            format!("{days} d {hours} h")
        } else if d.num_hours() > 0 {
            format!("{} h {} min", d.num_hours(), d.num_minutes() % 60)
        } else {
            format!("{} min", d.num_minutes().max(0))
        }
    };
    if left < chrono::Duration::zero() {
        ("overdue", format!("overdue by {}", text(-left)))
    } else if left <= chrono::Duration::days(7) {
        ("week", format!("due in {}", text(left)))
    } else if left <= chrono::Duration::days(14) {
        ("fortnight", format!("due in {}", text(left)))
    } else {
        ("on-track", format!("due in {}", text(left)))
    }
}
