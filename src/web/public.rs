//! The public channel: the landing page, the report form, and the status pages.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{Kind, WebError};
use super::form::{FormError, read_report};
use super::{AppState, Lang, security};
use crate::config::Settings;
use crate::db::intake::Submission;
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, FieldError, Limits, ReportForm, validate};
use crate::domain::stage::Stage;
use crate::domain::tracking_code::TrackingCode;
use crate::i18n::dates::{reader_day, reader_deadline, reader_time};
use crate::i18n::reporter::{ReporterTexts, reporter_texts};
use crate::i18n::{Texts, problem_message, stage_name, texts};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route(
            "/report",
            get(report_form)
                .post(submit_report)
                // Screenshots: every allowed file at its largest, beside the text fields.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/status", get(status_lookup))
        .route("/status/{code}", get(status_page))
        .route(
            "/status/{code}/reply",
            axum::routing::post(super::reply::reply)
                // One image beside the text: the limit is set on the body (`limit_body`).
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/status/{code}/appeal",
            axum::routing::post(super::reply::appeal),
        )
        .route("/static/app.css", get(stylesheet))
        .route("/static/staff.js", get(script))
}

fn html(status: StatusCode, page: impl Template, locale: Locale) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => WebError::internal(locale, false, e).into_response(),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

pub fn limits(s: &Settings) -> Limits {
    Limits {
        output: s.limits.output_chars,
        prompt: s.limits.prompt_chars,
        description: s.limits.description_chars,
        short: s.limits.short_field_chars,
    }
}

fn limit_text(t: &Texts, s: &Settings) -> String {
    t.limit_text
        .replace("{n}", &s.public.feedback_working_days.to_string())
}

/// When a reporter is owed feedback: the `acknowledge` clock from the report's arrival.
pub fn feedback_due(s: &Settings, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rule = s.deadlines.rule("acknowledge")?;
    Some(s.deadlines.due_for(rule, received_at, rule.count).due)
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/staff.js"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    t: &'a Texts,
    q: String,
    service: &'a str,
    /// The operator's name and contact (footer of every public page).
    footer: String,
    groups: Vec<(String, String)>,
    limit_text: String,
}

async fn index(State(state): State<AppState>, lang: Lang) -> Response {
    let s = &state.settings;
    let zh = lang.locale.is_zh();
    let sep = if zh { "、" } else { ", " };
    let groups = s
        .taxonomy
        .groups
        .iter()
        .map(|g| {
            let name = if zh { g.zh.clone() } else { g.en.clone() };
            let risks: Vec<&str> = g
                .risks
                .iter()
                .map(|r| if zh { r.zh.as_str() } else { r.en.as_str() })
                .collect();
            (name, risks.join(sep))
        })
        .collect();
    let t = texts(lang.locale);
    html(
        StatusCode::OK,
        IndexPage {
            t,
            q: lang.q(),
            service: &s.public.service_name,
            footer: crate::mail::render::operator_line(s, lang.locale),
            groups,
            limit_text: limit_text(t, s),
        },
        lang.locale,
    )
}

#[derive(Template)]
#[template(path = "report_form.html")]
struct FormPage<'a> {
    t: &'a Texts,
    q: String,
    service: &'a str,
    /// The operator's name and contact (footer of every public page).
    footer: String,
    form: ReportForm,
    errors: Vec<(&'static str, String)>,
    categories: Vec<(String, String, bool)>,
    limits: Limits,
    /// How long contact details are kept (`retention.reporter_days`).
    privacy: String,
    rt: &'a ReporterTexts,
    screenshots_help: String,
}

impl FormPage<'_> {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

fn form_page(state: &AppState, lang: Lang, form: ReportForm, errors: &[FieldError]) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    form_page_with(state, lang, form, errors, None, status)
}

/// The form with its errors, and a screenshots error (files cannot be sent back to a browser:
/// the message asks for them again).
fn form_page_with(
    state: &AppState,
    lang: Lang,
    form: ReportForm,
    errors: &[FieldError],
    file_error: Option<String>,
    status: StatusCode,
) -> Response {
    let s = &state.settings;
    let mut errors: Vec<(&'static str, String)> = errors
        .iter()
        .map(|e| (e.field, problem_message(lang.locale, &e.problem)))
        .collect();
    if let Some(m) = file_error {
        errors.push(("screenshots", m));
    }
    html(
        status,
        FormPage {
            t: texts(lang.locale),
            q: lang.q(),
            service: &s.public.service_name,
            footer: crate::mail::render::operator_line(s, lang.locale),
            form,
            errors,
            screenshots_help: reporter_texts(lang.locale)
                .f_screenshots_help
                .replace("{n}", &s.attachments.max_images.to_string())
                .replace(
                    "{mib}",
                    &(s.attachments.max_image_bytes / (1024 * 1024)).to_string(),
                ),
            rt: reporter_texts(lang.locale),
            categories: s.taxonomy.options(lang.locale.is_zh()),
            limits: limits(s),
            privacy: reporter_texts(lang.locale)
                .privacy_notice
                .replace("{n}", &s.retention.reporter_days.to_string()),
        },
        lang.locale,
    )
}

async fn report_form(State(state): State<AppState>, lang: Lang) -> Response {
    form_page(&state, lang, ReportForm::default(), &[])
}

fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

pub fn public_origin(s: &Settings) -> String {
    s.server.public_url.origin().ascii_serialization()
}

async fn submit_report(State(state): State<AppState>, lang: Lang, req: Request) -> Response {
    let s = state.settings.clone();
    if security::is_cross_site(req.headers(), &public_origin(&s), host_of(req.headers())) {
        return WebError::page(Kind::Forbidden, lang.locale).into_response();
    }
    let file_limits = super::form::FileLimits {
        max_files: s.attachments.max_images,
        max_bytes: s.attachments.max_image_bytes,
    };
    let mut posted = match read_report(req, file_limits).await {
        Ok(p) => p,
        Err(FormError::Unsupported) => {
            return WebError::page(Kind::Unsupported, lang.locale).into_response();
        }
        Err(FormError::TooLarge) => {
            return WebError::page(Kind::TooLarge, lang.locale).into_response();
        }
        Err(FormError::Malformed(why)) => {
            tracing::info!(why, "malformed report form");
            return WebError::page(Kind::BadRequest, lang.locale).into_response();
        }
    };
    // The page the form was filled in on decides the report's language.
    let lang = match posted.lang.as_deref().and_then(Locale::parse) {
        Some(locale) => Lang {
            locale,
            explicit: lang.explicit,
        },
        None => lang,
    };
    if posted.honeypot {
        // A bot filled the field people cannot see: accept quietly, store nothing.
        tracing::info!("honeypot submission dropped");
        return Redirect::to("/").into_response();
    }
    // Screenshots: each within the limit, at most the allowed number, each an image by its
    // content; decoded and re-encoded off the async threads.
    let rt = reporter_texts(lang.locale);
    let mib = s.attachments.max_image_bytes / (1024 * 1024);
    let file_error = match posted.file_problem {
        Some(super::form::FileProblem::TooLarge) => Some((
            StatusCode::PAYLOAD_TOO_LARGE,
            rt.screenshot_too_large.replace("{n}", &mib.to_string()),
        )),
        Some(super::form::FileProblem::TooMany) => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            rt.screenshot_too_many
                .replace("{n}", &s.attachments.max_images.to_string()),
        )),
        None => None,
    };
    let files = std::mem::take(&mut posted.files);
    let images = match file_error {
        Some(e) => Err(e),
        // Nearly every report: handing it to a blocking thread and back cost two thread
        // wake-ups per report; without them intake rose from 0.27-0.29 of healthz to
        // 0.34-0.35 (twenty-second session; README, "What was tried").
        None if files.is_empty() => Ok(Vec::new()),
        None => tokio::task::spawn_blocking(move || {
            files
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    crate::media::reencode(&f.bytes).map(|png| crate::db::attachments::NewFile {
                        filename: format!("screenshot-{}.png", i + 1),
                        media_type: "image/png".into(),
                        bytes: png,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap_or(Err(crate::media::ImageError::Undecodable))
        .map_err(|_| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.screenshot_not_image.to_owned(),
            )
        }),
    };
    let validated = validate(&posted.form, &s.taxonomy, limits(&s));
    let (valid, images) = match (validated, images) {
        (Ok(v), Ok(images)) => (v, images),
        (validated, images) => {
            let errors = validated.err().unwrap_or_default();
            let (status, file_error) = match images {
                Err((status, m)) => (status, Some(m)),
                Ok(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            };
            return form_page_with(&state, lang, posted.form, &errors, file_error, status);
        }
    };
    match accept_with(&state, valid, lang.locale, Channel::WebForm, images).await {
        // The status page opens once with the "received" confirmation: a short-lived cookie
        // naming the code says so, leaving the status address itself as it always was.
        Ok(code) => (
            [(
                header::SET_COOKIE,
                format!(
                    "{RECEIVED_COOKIE}={code}; Path=/status/; Max-Age=600; SameSite=Lax; HttpOnly"
                ),
            )],
            Redirect::to(&format!("/status/{code}")),
        )
            .into_response(),
        Err(e) => WebError::internal(lang.locale, false, e).into_response(),
    }
}

/// Stores a valid report with its screenshots (already re-encoded) and its acknowledgement
/// mail, and answers once it is committed. The files are written
/// under their hash first; their rows commit in the report's own transaction (see
/// [`crate::db::attachments::write_files`] for why a file left over by a crash is harmless).
pub async fn accept_with(
    state: &AppState,
    report: crate::domain::report::ValidReport,
    locale: Locale,
    channel: Channel,
    images: Vec<crate::db::attachments::NewFile>,
) -> Result<TrackingCode, anyhow::Error> {
    // Reports without screenshots (nearly all) go straight to intake.
    let files = if images.is_empty() {
        Vec::new()
    } else {
        let dir = state.settings.attachments.dir.clone();
        tokio::task::spawn_blocking(move || crate::db::attachments::write_files(&dir, &images))
            .await??
    };
    // Stored instants keep microseconds (what both databases hold), so truncate once here.
    let now = crate::domain::audit::truncate_micros(Utc::now());
    let code = TrackingCode::from_bytes(rand::random());
    let ack = match &report.email {
        Some(email) => Some(crate::mail::render::acknowledgement(
            &state.settings,
            locale,
            email.as_str(),
            &code,
            feedback_due(&state.settings, now),
        )?),
        None => None,
    };
    let has_mail = ack.is_some();
    let stored = state
        .intake
        .submit_within(
            Submission::new(report, locale, channel, code, now, ack).with_files(files),
            state.db.write_timeout(),
        )
        .await?;
    if has_mail {
        state.mail_ready.notify_one();
    }
    Ok(stored.code)
}

#[derive(Template)]
#[template(path = "status_lookup.html")]
struct LookupPage<'a> {
    t: &'a Texts,
    q: String,
    service: &'a str,
    /// The operator's name and contact (footer of every public page).
    footer: String,
    code: String,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct LookupQuery {
    code: Option<String>,
}

async fn status_lookup(
    State(state): State<AppState>,
    lang: Lang,
    Query(query): Query<LookupQuery>,
) -> Response {
    let t = texts(lang.locale);
    let typed = query.code.unwrap_or_default();
    if typed.trim().is_empty() {
        return html(
            StatusCode::OK,
            LookupPage {
                t,
                q: lang.q(),
                service: &state.settings.public.service_name,
                footer: crate::mail::render::operator_line(&state.settings, lang.locale),
                code: String::new(),
                error: None,
            },
            lang.locale,
        );
    }
    match TrackingCode::parse(&typed) {
        Ok(code) => Redirect::to(&format!("/status/{code}{}", lang.q())).into_response(),
        Err(_) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            LookupPage {
                t,
                q: lang.q(),
                service: &state.settings.public.service_name,
                footer: crate::mail::render::operator_line(&state.settings, lang.locale),
                code: typed,
                error: Some(t.bad_code),
            },
            lang.locale,
        ),
    }
}

#[derive(Template)]
#[template(path = "status.html")]
pub struct StatusPage<'a> {
    t: &'a Texts,
    q: String,
    service: &'a str,
    /// The operator's name and contact (footer of every public page).
    footer: String,
    rt: &'a ReporterTexts,
    code: String,
    /// Just submitted: the "received" confirmation.
    received: bool,
    /// A reply was just sent.
    reply_sent: bool,
    /// The reply's image: its kinds and limit.
    reply_file_help: String,
    stage_key: &'static str,
    stage_name: &'static str,
    /// The path this report takes, each step with "done", "current" or "".
    stages: Vec<(&'static str, &'static str)>,
    /// What the current stage means.
    stage_text: &'static str,
    rejection: Option<String>,
    resolved: bool,
    closed: bool,
    /// What was done, in public terms (at "action taken" and after).
    summary: Option<String>,
    received_at: String,
    updated: String,
    feedback_due: String,
    /// The feedback clock's state, in the same words as the staff pages, with the provisional
    /// mark when its due instant rests on a provisional calendar year.
    feedback_state: String,
    limit_text: String,
    messages: Vec<ThreadEntry>,
    reply: String,
    reply_error: Option<String>,
    reply_max: usize,
    /// The latest appeal: open (with its due instant) or decided.
    appeal: Option<PublicAppeal>,
    /// The appeal form, with the last day to use it, while the decision may be contested.
    appeal_until: Option<String>,
    /// The period for contesting has ended (a decision with no appeal).
    appeal_closed: bool,
    appeal_typed: String,
    appeal_error: Option<String>,
    appeal_sent: bool,
}

/// An appeal as the reporter sees it.
pub struct PublicAppeal {
    /// "You contested this decision… we will answer by …" while open.
    pub open_text: Option<String>,
    /// (granted, reasons) once decided.
    pub decision: Option<(bool, String)>,
}

/// One message on the status page.
pub struct ThreadEntry {
    pub from_us: bool,
    pub at: String,
    pub body: String,
    /// The reporter sent an image with it (staff see it; the public site never serves it).
    pub with_image: bool,
}

/// "met", "running · provisional deadline", "stopped (incident rejected)"…
async fn feedback_state(
    state: &AppState,
    view: &crate::db::status::StatusView,
    locale: Locale,
) -> String {
    use crate::i18n::words;
    let Ok(Some(c)) =
        crate::db::deadlines::clock_row(&state.db.conn, view.incident_id, "acknowledge").await
    else {
        return String::new();
    };
    let (word, why) = words::clock_state(
        &c.status,
        c.stop_reason.as_deref(),
        c.due_at < Utc::now(),
        locale,
    );
    let mut out = word.to_owned();
    if let Some(why) = why {
        out.push_str(&format!(" ({why})"));
    }
    if c.status == "running" && c.provisional {
        out.push_str(" · ");
        out.push_str(words::provisional_deadline(locale));
    }
    out
}

/// What the reply form brings back to the page: the confirmation, or the typed text with
/// what is wrong with it.
#[derive(Default)]
pub struct ReplyState {
    pub sent: bool,
    pub typed: String,
    pub error: Option<String>,
    pub appeal_sent: bool,
    pub appeal_typed: String,
    pub appeal_error: Option<String>,
}

#[derive(Deserialize)]
struct StatusQuery {
    received: Option<String>,
    sent: Option<String>,
    appealed: Option<String>,
}

const RECEIVED_COOKIE: &str = "rectify_received";

/// Whether the request carries the "just received" cookie for this code.
fn just_received(headers: &HeaderMap, code: &TrackingCode) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(RECEIVED_COOKIE)?.strip_prefix('='))
        .any(|v| TrackingCode::parse(v).is_ok_and(|v| v == *code))
}

async fn status_page(
    State(state): State<AppState>,
    lang: Lang,
    Path(code): Path<String>,
    Query(query): Query<StatusQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(code) = TrackingCode::parse(&code) else {
        return WebError::page(Kind::NotFound, lang.locale).into_response();
    };
    let reply = ReplyState {
        sent: query.sent.is_some(),
        appeal_sent: query.appealed.is_some(),
        ..Default::default()
    };
    let received = query.received.is_some() || just_received(&headers, &code);
    let mut resp = render_status(&state, lang, &code, received, reply, StatusCode::OK).await;
    if received
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!(
            "{RECEIVED_COOKIE}=; Path=/status/; Max-Age=0; SameSite=Lax; HttpOnly"
        ))
    {
        // Shown once: a reload is the ordinary status page.
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The status page of `code`: stage, what it means, the decision or what was done, the
/// feedback promise while one is owed, and the messages with a reply form.
pub async fn render_status(
    state: &AppState,
    lang: Lang,
    code: &TrackingCode,
    received: bool,
    reply: ReplyState,
    status: StatusCode,
) -> Response {
    let view = match crate::db::status::lookup(&state.db, code).await {
        Ok(Some(v)) => v,
        Ok(None) => return WebError::page(Kind::NotFound, lang.locale).into_response(),
        Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
    };
    let s = &state.settings;
    let t = texts(lang.locale);
    let rt = reporter_texts(lang.locale);
    let stage = Stage::of(view.state);
    let zone = s.public.time_zone;
    let feedback_state = feedback_state(state, &view, lang.locale).await;
    let rejected = view.rejection_reasons.is_some();
    let closed = stage == Stage::Closed;
    let stages: Vec<(&'static str, &'static str)> = if rejected {
        rt.rejected_stages
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, if i == 2 { "current" } else { "done" }))
            .collect()
    } else {
        t.stages
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let class = match i.cmp(&stage.index()) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => "current",
                    std::cmp::Ordering::Greater => "",
                };
                (*n, class)
            })
            .collect()
    };
    let summary = if matches!(stage, Stage::ActionTaken | Stage::Closed) && !rejected {
        match crate::db::messages::public_summary(&state.db, view.incident_id).await {
            Ok(s) => s,
            Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
        }
    } else {
        None
    };
    let with_files =
        match crate::db::attachments::replies_with_files(&state.db, view.report_id).await {
            Ok(ids) => ids,
            Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
        };
    let messages = match crate::db::messages::for_report(&state.db, view.report_id).await {
        Ok(rows) => rows
            .into_iter()
            .map(|m| ThreadEntry {
                with_image: with_files.contains(&m.id),
                from_us: m.direction == crate::db::messages::FROM_STAFF,
                at: reader_time(m.created_at, zone, lang.locale),
                body: if m.redacted_at.is_some() {
                    rt.reply_redacted.to_owned()
                } else {
                    m.body
                },
            })
            .collect(),
        Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
    };
    let (appeal, appeal_until, appeal_closed) =
        match appeal_parts(state, code, &view, lang.locale).await {
            Ok(v) => v,
            Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
        };
    html(
        status,
        StatusPage {
            t,
            q: lang.q(),
            service: &s.public.service_name,
            footer: crate::mail::render::operator_line(s, lang.locale),
            rt,
            appeal,
            appeal_until,
            appeal_closed,
            appeal_typed: reply.appeal_typed,
            appeal_error: reply.appeal_error,
            appeal_sent: reply.appeal_sent,
            code: code.to_string(),
            received,
            reply_sent: reply.sent,
            reply_file_help: rt.reply_file_help.replace(
                "{n}",
                &(s.attachments.max_image_bytes / (1024 * 1024)).to_string(),
            ),
            stage_key: if rejected { "rejected" } else { stage.as_str() },
            stage_name: if rejected {
                rt.rejected_stages[2]
            } else {
                stage_name(lang.locale, stage)
            },
            stages,
            stage_text: if rejected {
                rt.stage_texts[4]
            } else {
                rt.stage_texts[stage.index()]
            },
            rejection: view.rejection_reasons.clone(),
            resolved: view.state == crate::domain::workflow::State::Resolved,
            closed,
            summary,
            received_at: reader_time(view.received_at, zone, lang.locale),
            updated: reader_time(view.updated_at, zone, lang.locale),
            feedback_due: feedback_due(s, view.received_at)
                .map(|d| reader_deadline(d, zone, lang.locale))
                .unwrap_or_default(),
            feedback_state,
            limit_text: limit_text(t, s),
            messages,
            reply: reply.typed,
            reply_error: reply.error,
            reply_max: s.public.reply_chars,
        },
        lang.locale,
    )
}

/// The status page's appeal parts: the latest appeal, the form's last day while the decision
/// may be contested, and whether the period has ended.
async fn appeal_parts(
    state: &AppState,
    code: &TrackingCode,
    view: &crate::db::status::StatusView,
    locale: Locale,
) -> Result<(Option<PublicAppeal>, Option<String>, bool), crate::db::DbError> {
    use crate::db::appeals;
    let s = &state.settings;
    let zone = s.public.time_zone;
    let rt = reporter_texts(locale);
    let conn = &state.db.conn;
    let appeal = appeals::latest(conn, view.incident_id)
        .await?
        .map(|a| PublicAppeal {
            open_text: a.decision.is_none().then(|| {
                rt.appeal_open.replace(
                    "{due}",
                    &a.due_at
                        .map(|d| reader_deadline(d, zone, locale))
                        .unwrap_or_default(),
                )
            }),
            decision: a
                .decision
                .map(|(action, reasons, _)| (action == "grant_appeal", reasons)),
        });
    let now = Utc::now();
    let days = s.public.appeal_days;
    let (until, closed) = match appeals::may_appeal(conn, code, now, days).await? {
        Ok((_, _, d)) => (
            Some(reader_day(
                d.at + chrono::Duration::days(i64::from(days)),
                zone,
                locale,
            )),
            false,
        ),
        Err(appeals::NotNow::TooLate) => (None, true),
        Err(_) => (None, false),
    };
    Ok((appeal, until, closed))
}
