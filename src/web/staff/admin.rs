//! Admin pages: the outbox, so dead mail is seen and not silently lost.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::auth::Staff;
use crate::db::entities::outbox;
use crate::domain::locale::Locale;
use crate::web::AppState;
use crate::web::error::{Kind, WebError};

#[derive(Template)]
#[template(path = "staff/outbox.html")]
struct OutboxPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    dead: Vec<outbox::Model>,
    pending: Vec<outbox::Model>,
}

pub async fn outbox(State(state): State<AppState>, staff: Staff) -> Response {
    if !staff.is_admin() {
        return WebError::page(Kind::Forbidden, Locale::En)
            .with_detail("Only an admin may see the outbox.")
            .into_response();
    }
    let load = |status: &'static str| crate::db::outbox::list(&state.db, Some(status), 200);
    let (dead, pending) = match (
        load(crate::db::outbox::DEAD).await,
        load(crate::db::outbox::PENDING).await,
    ) {
        (Ok(d), Ok(p)) => (d, p),
        (Err(e), _) | (_, Err(e)) => {
            return WebError::internal(Locale::En, false, e).into_response();
        }
    };
    let page = OutboxPage {
        service: &state.settings.public.service_name,
        staff: &staff,
        dead,
        pending,
    };
    match page.render() {
        Ok(h) => (StatusCode::OK, Html(h)).into_response(),
        Err(e) => WebError::internal(Locale::En, false, e).into_response(),
    }
}
