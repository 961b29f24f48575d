//! Staff authentication: argon2id passwords, server-side sessions, the `Staff` extractor, and
//! the one place that decides what a role may do.

use std::time::Instant;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use askama::Template;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::db::entities::user;
use crate::db::users;
use crate::domain::locale::Locale;
use crate::domain::workflow::{ActionKind, Role, may};
use crate::i18n::refusal as say;
use crate::i18n::staff::{LoginTexts, StaffTexts, login_texts, staff_texts};
use crate::web::form::parse_pairs;
use crate::web::public::public_origin;
use crate::web::staff::signin_limits::Gate;
use crate::web::{AppState, Lang, security};

pub const SESSION_COOKIE: &str = "rectify_session";

/// At most one argon2 computation per core at a time: a burst of sign-ins (an office at
/// 9:00, or someone flooding `/login`) then queues here instead of taking every core from the
/// rest of the server, whose writes would miss their write timeout.
static ARGON2_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Hashes off the async threads: argon2id is deliberately slow.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    let _slot = ARGON2_SLOTS.acquire().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// A real hash to check against when there is no account, so that both answers take as long.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Argon2::default()
        .hash_password(&rand::random::<[u8; 16]>())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// `hash` None checks against a dummy and fails, in the same time.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    let Ok(_slot) = ARGON2_SLOTS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (DUMMY_HASH.clone(), false),
        };
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
            && real
    })
    .await
    .unwrap_or(false)
}

/// A signed-in member of staff, from the session cookie.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user: user::Model,
    pub role: Role,
    pub csrf: String,
    pub token: String,
    /// The language of the staff member's pages and mail (the account's `locale`).
    pub locale: crate::domain::locale::Locale,
}

impl Staff {
    /// The role in the staff member's language, for the page header.
    pub fn role_word(&self) -> &'static str {
        crate::i18n::words::role(self.role, self.locale)
    }

    /// The role table, asked in one place for every state-changing request.
    pub fn may(&self, action: ActionKind) -> bool {
        may(self.role, action)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The staff workspace's words in this person's language.
    pub fn t(&self) -> &'static crate::i18n::staff::StaffTexts {
        crate::i18n::staff::staff_texts(self.locale)
    }
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/board".into());
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &next)
                .finish();
            Redirect::to(&format!("/login?{q}")).into_response()
        };
        let Some(token) = session_token(&parts.headers) else {
            return Err(to_login());
        };
        match users::session_user(&state.db, &token, Utc::now()).await {
            Ok(Some((session, user))) => {
                let Ok(role) = user.role.parse::<Role>() else {
                    return Err((StatusCode::FORBIDDEN, "unknown role").into_response());
                };
                Ok(Staff {
                    locale: crate::domain::locale::Locale::parse(&user.locale).unwrap_or_default(),
                    user,
                    role,
                    csrf: session.csrf_token,
                    token,
                })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(
                crate::web::error::WebError::internal(Default::default(), false, e).into_response(),
            ),
        }
    }
}

/// A state-changing request refused for coming from elsewhere (403), said in the staff
/// member's language.
#[derive(Debug)]
pub struct Forged(&'static str, crate::domain::locale::Locale);

impl IntoResponse for Forged {
    fn into_response(self) -> Response {
        crate::web::error::WebError::page(crate::web::error::Kind::Forbidden, self.1)
            .with_detail(self.0)
            .into_response()
    }
}

/// Refuses a state-changing request that comes from another site or lacks the session's
/// CSRF token (SameSite=Lax cookies already keep most cross-site posts out; this is the rest).
pub fn check_csrf(
    state: &AppState,
    staff: &Staff,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<(), Forged> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if security::is_cross_site(headers, &public_origin(&state.settings), host) {
        return Err(Forged(
            crate::i18n::refusal::cross_site(staff.locale),
            staff.locale,
        ));
    }
    // Compared in constant time: the token is a secret.
    let ok = token.is_some_and(|t| {
        t.len() == staff.csrf.len()
            && t.bytes()
                .zip(staff.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok {
        return Err(Forged(
            crate::i18n::refusal::stale_form(staff.locale),
            staff.locale,
        ));
    }
    Ok(())
}

/// The fields of a staff form post, once it has passed [`check_csrf`]; otherwise the answer
/// to give (403 for a forgery, 413 or 400 for a body that cannot be read).
pub async fn checked_form(
    state: &AppState,
    staff: &Staff,
    req: Request,
    limit: usize,
) -> Result<std::collections::BTreeMap<String, String>, Response> {
    let (parts, body) = req.into_parts();
    let l = staff.locale;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::i18n::refusal::too_large(l),
        )
            .into_response());
    };
    let Ok(fields) = parse_pairs(&bytes) else {
        return Err((
            StatusCode::BAD_REQUEST,
            crate::i18n::refusal::malformed_form(l),
        )
            .into_response());
    };
    check_csrf(
        state,
        staff,
        &parts.headers,
        fields.get("csrf").map(String::as_str),
    )
    .map_err(IntoResponse::into_response)?;
    Ok(fields)
}

#[derive(Template)]
#[template(path = "staff/login.html")]
struct LoginPage<'a> {
    service: &'a str,
    s: &'static StaffTexts,
    t: &'static LoginTexts,
    /// The language switch: this page in the other language, `next` kept.
    switch: String,
    email: String,
    next: String,
    error: Option<&'a str>,
}

impl LoginPage<'_> {
    fn new(service: &str, locale: Locale, email: String, next: String) -> LoginPage<'_> {
        let s = staff_texts(locale);
        let switch = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("lang", s.other_lang)
            .append_pair("next", &next)
            .finish();
        LoginPage {
            service,
            s,
            t: login_texts(locale),
            switch: format!("/login?{switch}"),
            email,
            next,
            error: None,
        }
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site: an open redirect after login would be a phishing aid. No control
/// character (`/\t/evil.example` is `//evil.example` to a browser, and a newline would break
/// the header), no backslash (`/\evil.example` is another host to some browsers), no `//`.
/// Anything else gives the board.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2000
                && !n
                    .chars()
                    .any(|c| c.is_control() || c == '\\' || c.is_whitespace()) =>
        {
            // Non-ASCII stays readable in the form but goes out percent-encoded in Location.
            percent_encoding::utf8_percent_encode(n, percent_encoding::CONTROLS).to_string()
        }
        _ => "/board".into(),
    }
}

fn render(status: StatusCode, page: LoginPage<'_>, locale: Locale) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => crate::web::error::WebError::internal(locale, false, e).into_response(),
    }
}

/// `GET /login`, in the language the browser asks for (or `?lang=`, remembered in a cookie,
/// so the answer to the post is in it too).
pub async fn login_form(
    State(state): State<AppState>,
    lang: Lang,
    Query(q): Query<NextQuery>,
) -> Response {
    let l = lang.locale;
    let page = LoginPage::new(
        &state.settings.public.service_name,
        l,
        String::new(),
        safe_next(q.next.as_deref()),
    );
    render(StatusCode::OK, page, l)
}

pub async fn login(State(state): State<AppState>, lang: Lang, req: Request) -> Response {
    let l = lang.locale;
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if security::is_cross_site(&parts.headers, &public_origin(&state.settings), host) {
        return (StatusCode::FORBIDDEN, say::cross_site(l)).into_response();
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    let ip = security::client_ip(&parts.headers, peer, &state.proxies);
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, say::too_large(l)).into_response();
    };
    let Ok(fields) = parse_pairs(&bytes) else {
        return (StatusCode::BAD_REQUEST, say::malformed_form(l)).into_response();
    };
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let email = get("email").trim().to_lowercase();
    let next = safe_next(fields.get("next").map(String::as_str));
    let service = state.settings.public.service_name.clone();
    let t = login_texts(l);
    let page = |error: &'static str| LoginPage {
        error: Some(error),
        ..LoginPage::new(&service, l, email.clone(), next.clone())
    };
    let now = Instant::now();
    match state.signins.gate(&email, ip, now) {
        Gate::Go => {}
        Gate::Delay(wait) => tokio::time::sleep(wait).await,
        Gate::Refuse(wait) => {
            tracing::info!(%ip, "sign-in refused: too many failures");
            let mut resp = render(StatusCode::TOO_MANY_REQUESTS, page(t.too_many), l);
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    }
    let user = match users::by_email(&state.db, &email).await {
        Ok(u) => u,
        Err(e) => {
            return crate::web::error::WebError::internal(l, false, e).into_response();
        }
    };
    // Hash even for an unknown or disabled account, so the timing does not tell which exist.
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map(|u| u.password_hash.clone());
    let verified = verify_password(get("password"), hash).await;
    let Some(user) = user.filter(|_| verified) else {
        state.signins.failed(&email, ip, Instant::now());
        tracing::info!(%ip, "failed sign-in");
        return render(StatusCode::UNAUTHORIZED, page(t.wrong), l);
    };
    state.signins.succeeded(&email, ip);
    let now = Utc::now();
    let csrf = hex::encode(rand::random::<[u8; 32]>());
    let expires = now + Duration::hours(state.settings.auth.session_hours);
    let token = match users::start_session(&state.db, user.id, &csrf, now, expires).await {
        Ok(t) => t,
        Err(e) => {
            return crate::web::error::WebError::internal(l, false, e).into_response();
        }
    };
    let secure = if state.settings.server.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        state.settings.auth.session_hours * 3600
    );
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn logout(State(state): State<AppState>, staff: Staff, req: Request) -> Response {
    if let Err(r) = checked_form(&state, &staff, req, 16 * 1024).await {
        return r;
    }
    if let Err(e) = users::end_session(&state.db, &staff.token).await {
        return crate::web::error::WebError::internal(staff.locale, false, e).into_response();
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("rectify_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    resp
}

/// `POST /account/locale`: the language of this person's pages and mail, kept on the account.
pub async fn set_locale(State(state): State<AppState>, staff: Staff, req: Request) -> Response {
    // Back to the page the switch was pressed on (same site only: `safe_next` checks the path).
    let back = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        });
    let fields = match checked_form(&state, &staff, req, 16 * 1024).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let locale = fields
        .get("locale")
        .and_then(|l| crate::domain::locale::Locale::parse(l))
        .unwrap_or(staff.locale);
    if let Err(e) = users::set_locale(&state.db, staff.user.id, locale.as_str()).await {
        return crate::web::error::WebError::internal(staff.locale, false, e).into_response();
    }
    let next = fields
        .get("next")
        .filter(|n| !n.is_empty())
        .cloned()
        .or(back);
    Redirect::to(&safe_next(next.as_deref())).into_response()
}
