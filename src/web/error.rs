//! The web layer's one error type. It renders itself as a page in the reader's language, or as
//! JSON for the API, and never shows internals: those go to the log.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

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

    /// Log the cause where staff can see it; the reader gets a general sentence.
    pub fn internal(locale: Locale, json: bool, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        WebError {
            kind: Kind::Internal,
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
        if self.kind == Kind::TooMany {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
        }
        resp
    }
}
