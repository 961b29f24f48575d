//! HTTP: routers by audience (public pages, JSON API), one error type, and the extractors and
//! middleware they share.

pub mod api;
pub mod error;
pub mod form;
pub mod machine;
pub mod proxy;
pub mod public;
pub mod ratelimit;
pub mod reply;
pub mod request_log;
pub mod retraining;
pub mod security;
pub mod server;
pub mod staff;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::Settings;
use crate::db::Db;
use crate::db::intake::IntakeWriter;
use crate::domain::locale::Locale;
use error::{Kind, WebError};
use ratelimit::RateLimiter;

/// What every handler shares. Axum clones the state for each extractor and layer that asks for
/// it, several times per request; behind one `Arc` that is one atomic increment instead of one
/// per field (measured: about 2% of intake's CPU went to cloning and dropping the fields).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub intake: IntakeWriter,
    pub limiter: Arc<RateLimiter>,
    /// Failed sign-ins per account and per client address.
    pub signins: Arc<staff::signin_limits::SigninLimits>,
    /// Whose X-Forwarded-For entries are believed (`server.trusted_proxies`).
    pub proxies: proxy::TrustedProxies,
    /// `/readyz`'s write probe and its last answer.
    pub ready: Arc<crate::db::storage::ReadyProbe>,
    /// Wakes the outbox worker when a transaction wrote mail, so it need not wait for its tick.
    pub mail_ready: Arc<tokio::sync::Notify>,
}

/// The reader's language: `?lang=`, else the `lang` cookie a previous `?lang=` set, else
/// Accept-Language, else the configured default. `explicit` says whether links should carry
/// `?lang=` on.
#[derive(Debug, Clone, Copy)]
pub struct Lang {
    pub locale: Locale,
    pub explicit: bool,
}

impl Lang {
    /// The query suffix that keeps an explicit choice on links.
    pub fn q(&self) -> String {
        if self.explicit {
            format!("?lang={}", self.locale.as_str())
        } else {
            String::new()
        }
    }
}

fn query_lang(query: Option<&str>) -> Option<Locale> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang="))
        .and_then(Locale::parse)
}

fn cookie_lang(parts: &axum::http::HeaderMap) -> Option<Locale> {
    parts
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("lang="))
        .and_then(Locale::parse)
}

pub fn lang_of(parts: &Parts, default: Locale) -> Lang {
    if let Some(locale) = query_lang(parts.uri.query()) {
        return Lang {
            locale,
            explicit: true,
        };
    }
    let locale = cookie_lang(&parts.headers)
        .or_else(|| {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Locale::negotiate)
        })
        .unwrap_or(default);
    Lang {
        locale,
        explicit: false,
    }
}

impl FromRequestParts<AppState> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let default = Locale::parse(&state.settings.public.default_locale).unwrap_or_default();
        Ok(lang_of(parts, default))
    }
}

/// Remembers an explicit `?lang=` in a cookie, so the pages after a form post keep it.
async fn remember_lang(req: Request, next: Next) -> Response {
    let chosen = query_lang(req.uri().query());
    let mut resp = next.run(req).await;
    if let Some(l) = chosen
        && let Ok(v) = HeaderValue::from_str(&format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            l.as_str()
        ))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Refuses a flood of reports from one address with 429; other addresses are unaffected.
async fn limit_intake(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // A reporter's reply is rate-limited like a report: both are the public writing to us.
    let reply =
        path.starts_with("/status/") && (path.ends_with("/reply") || path.ends_with("/appeal"));
    if req.method() == Method::POST && (path == "/report" || path == api::REPORTS_PATH || reply) {
        let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>();
        let ip = security::client_ip(req.headers(), peer, &state.proxies);
        if !state.limiter.allow(ip, Instant::now()) {
            let (parts, _) = req.into_parts();
            let default = Locale::parse(&state.settings.public.default_locale).unwrap_or_default();
            let json = parts.uri.path().starts_with("/api/");
            let lang = lang_of(&parts, default);
            return if json {
                WebError::json(Kind::TooMany, lang.locale).into_response()
            } else {
                WebError::page(Kind::TooMany, lang.locale).into_response()
            };
        }
    }
    next.run(req).await
}

/// Refuses a body whose declared length is over the limit before reading any of it; bodies
/// without a length are cut off by the extractors' limit as they stream in.
async fn limit_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The report form: its route lifts the extractors' default limit, so the limit is set
    // here on the body itself; a multipart form (screenshots) may carry every allowed file at
    // its largest, any other body only the usual limit.
    let report_form = req.method() == Method::POST && req.uri().path() == "/report";
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    // A reply on the status page may carry one image.
    let reply_form = req.method() == Method::POST
        && req.uri().path().starts_with("/status/")
        && req.uri().path().ends_with("/reply");
    let with_files = (report_form || reply_form) && multipart;
    let evidence = req.method() == Method::POST
        && req.uri().path().starts_with("/incidents/")
        && req.uri().path().ends_with("/evidence");
    let limit = if retraining::takes_large_bodies(req.uri().path()) {
        state.settings.discovery.max_body_bytes
    } else if with_files && reply_form {
        (state.settings.limits.max_body_bytes + state.settings.attachments.max_image_bytes) as u64
    } else if with_files {
        report_body_limit(&state.settings) as u64
    } else if evidence {
        (state.settings.attachments.max_evidence_bytes + 64 * 1024) as u64
    } else {
        state.settings.limits.max_body_bytes as u64
    };
    if declared.is_some_and(|n| n > limit) {
        let (parts, _) = req.into_parts();
        let default = Locale::parse(&state.settings.public.default_locale).unwrap_or_default();
        let lang = lang_of(&parts, default);
        let mut err = WebError::page(Kind::TooLarge, lang.locale);
        err.json = parts.uri.path().starts_with("/api/");
        let mut resp = err.into_response();
        // The unread body is left behind; the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    if report_form || reply_form || evidence {
        // A body without a declared length is cut here as it streams in.
        let (parts, body) = req.into_parts();
        let limited = http_body_util::Limited::new(body, limit as usize);
        return next
            .run(Request::from_parts(parts, axum::body::Body::new(limited)))
            .await;
    }
    next.run(req).await
}

/// The largest report form: the text limit plus every allowed screenshot at its largest.
pub fn report_body_limit(s: &Settings) -> usize {
    s.limits.max_body_bytes + s.attachments.max_images * s.attachments.max_image_bytes
}

async fn not_found(lang: Lang) -> WebError {
    WebError::page(Kind::NotFound, lang.locale)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(public::router())
        .merge(api::router())
        .merge(retraining::router())
        .merge(staff::retraining::router())
        .merge(staff::router())
        .layer(middleware::from_fn_with_state(state.clone(), limit_intake))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.settings.limits.max_body_bytes,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(middleware::from_fn(remember_lang))
        .layer(middleware::from_fn(security::headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_log::trace,
        ))
        .with_state(state)
}

/// Ready when the database takes a write (a real committed one, at most once a second) and the
/// intake writer runs; 503 otherwise, so a load balancer stops sending reports here.
async fn readyz(State(state): State<AppState>) -> Response {
    let unready = |why: String| {
        tracing::warn!(reason = %why, "not ready");
        let mut r = (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}"),
        )
            .into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(error::RETRY_AFTER_SECS),
        );
        r
    };
    if !state.intake.is_running() {
        return unready("the intake writer is not running".into());
    }
    match state.ready.check(&state.db).await {
        Ok(()) => "ready".into_response(),
        Err(e) => unready(format!("the database cannot be written: {e}")),
    }
}
