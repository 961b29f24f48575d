//! The web layer's one error type. It renders itself as a page in the reader's language, or as
//! JSON for the API, and never shows internals: those go to the log.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::db::DbError;
use crate::db::error::Failure;
use crate::db::intake::IntakeError;
use crate::domain::locale::Locale;
use crate::i18n::{Texts, texts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    BadRequest,
    TooLarge,
    TooMany,
    Unsupported,
    Forbidden,
    /// The input breaks a rule the database keeps (unknown user, duplicate): 422.
    Unprocessable,
    /// Storage busy or failing: 503 with Retry-After; nothing was stored.
    Unavailable,
    Internal,
}

#[derive(Debug)]
pub struct WebError {
    pub kind: Kind,
    pub locale: Locale,
    pub json: bool,
    /// A specific sentence for the reader, instead of the kind's general one.
    pub detail: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'a Texts,
    title: &'a str,
    message: &'a str,
}

impl WebError {
    pub fn page(kind: Kind, locale: Locale) -> Self {
        WebError {
            kind,
            locale,
            json: false,
            detail: None,
        }
    }

    pub fn json(kind: Kind, locale: Locale) -> Self {
        WebError {
            kind,
            locale,
            json: true,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Log the cause where staff can see it; the reader gets a general sentence. A database
    /// that is busy or failing is not a fault of ours to hide behind a 500: it answers 503 with
    /// Retry-After, and a constraint the input broke answers 422 (the one place that maps them).
    pub fn internal(locale: Locale, json: bool, cause: impl std::fmt::Display + 'static) -> Self {
        let kind = match failure_of(&cause) {
            Some(Failure::Busy) => {
                tracing::warn!(error = %cause, "database busy: answered 503");
                Kind::Unavailable
            }
            Some(Failure::Storage) => {
                tracing::error!(error = %cause, "storage failing: answered 503");
                Kind::Unavailable
            }
            Some(Failure::Constraint) => {
                tracing::info!(error = %cause, "constraint violated: answered 422");
                Kind::Unprocessable
            }
            _ => {
                tracing::error!(error = %cause, "request failed");
                Kind::Internal
            }
        };
        WebError {
            kind,
            locale,
            json,
            detail: None,
        }
    }

    fn status(&self) -> StatusCode {
        match self.kind {
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self.kind {
            Kind::NotFound => "not_found",
            Kind::BadRequest => "bad_request",
            Kind::TooLarge => "too_large",
            Kind::TooMany => "too_many_requests",
            Kind::Unsupported => "unsupported_media_type",
            Kind::Forbidden => "forbidden",
            Kind::Unprocessable => "unprocessable",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let t = texts(self.locale);
        let general = match self.kind {
            Kind::NotFound => t.not_found_text,
            Kind::BadRequest => t.bad_request,
            Kind::TooLarge => t.too_large,
            Kind::TooMany => t.too_many,
            Kind::Unsupported => t.unsupported,
            Kind::Forbidden => t.forbidden,
            Kind::Unprocessable => crate::i18n::hardening::unprocessable(self.locale),
            Kind::Unavailable => crate::i18n::hardening::unavailable(self.locale),
            Kind::Internal => t.server_error,
        };
        let message = self.detail.as_deref().unwrap_or(general);
        let status = self.status();
        let mut resp = if self.json {
            (
                status,
                Json(serde_json::json!({ "error": self.code(), "message": message })),
            )
                .into_response()
        } else {
            let title = if self.kind == Kind::NotFound {
                t.not_found_title
            } else {
                t.error_title
            };
            let page = ErrorPage { t, title, message };
            match page.render() {
                Ok(html) => (status, Html(html)).into_response(),
                Err(_) => (status, message.to_string()).into_response(),
            }
        };
        let retry_after = match self.kind {
            Kind::TooMany => Some("60"),
            Kind::Unavailable => Some(RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(secs),
            );
        }
        resp
    }
}

/// How long a 503 asks the client to wait: a lock held by another writer is usually gone in
/// moments.
pub const RETRY_AFTER_SECS: &str = "2";

/// What a failure is, when it is one the database layer can classify: a `DbError` or a
/// sea-orm error as they are, or inside an `anyhow::Error` or an intake error.
fn failure_of(cause: &dyn std::any::Any) -> Option<Failure> {
    if let Some(e) = cause.downcast_ref::<DbError>() {
        return Some(e.failure());
    }
    if let Some(e) = cause.downcast_ref::<sea_orm::DbErr>() {
        return Some(DbError::Db(e.clone()).failure());
    }
    if let Some(e) = cause.downcast_ref::<IntakeError>() {
        return Some(e.failure());
    }
    if let Some(e) = cause.downcast_ref::<crate::db::workflow::ActError>()
        && let crate::db::workflow::ActError::Db(e) = e
    {
        return Some(e.failure());
    }
    if let Some(e) = cause.downcast_ref::<anyhow::Error>() {
        for c in e.chain() {
            if let Some(d) = c.downcast_ref::<DbError>() {
                return Some(d.failure());
            }
            if let Some(d) = c.downcast_ref::<IntakeError>() {
                return Some(d.failure());
            }
            if let Some(d) = c.downcast_ref::<sea_orm::DbErr>() {
                return Some(DbError::Db(d.clone()).failure());
            }
        }
    }
    None
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        WebError::internal(Locale::En, false, e)
    }
}

impl From<sea_orm::DbErr> for WebError {
    fn from(e: sea_orm::DbErr) -> Self {
        WebError::internal(Locale::En, false, e)
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::internal(Locale::En, false, e)
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> Self {
        WebError::internal(Locale::En, false, e)
    }
}
