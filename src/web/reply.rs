//! `POST /status/{code}/reply`: a reporter answers on their status page, authenticated by the
//! tracking code alone (no account). Rate-limited with intake; refused from other sites.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::error::{Kind, WebError};
use super::form::{
    FileLimits, FileProblem, FormError, PostedFile, PostedParts, decode_pairs, read_multipart,
};
use super::public::{ReplyState, public_origin, render_status};
use super::{AppState, Lang, security};
use crate::db::attachments::NewFile;
use crate::db::workflow::ActError;
use crate::domain::locale::Locale;
use crate::domain::tracking_code::TrackingCode;
use crate::i18n::reporter::reporter_texts;

/// A status-page form: its text field, the page's language, and at most one file.
#[derive(Debug, Default)]
struct Posted {
    text: String,
    lang: Option<String>,
    file: Option<PostedFile>,
    file_problem: Option<FileProblem>,
}

/// The form's `field` from an urlencoded or multipart body, and with `files` one file (any
/// other file is left out unread past `files.max_bytes`).
async fn read_form(req: Request, field: &str, files: FileLimits) -> Result<Posted, FormError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (pairs, mut files) = if ctype.starts_with("application/x-www-form-urlencoded") {
        let body = Bytes::from_request(req, &()).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormError::TooLarge
            } else {
                FormError::Malformed("the body could not be read")
            }
        })?;
        (decode_pairs(&body)?, PostedParts::default())
    } else if ctype.starts_with("multipart/form-data") {
        let mp = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|_| FormError::Malformed("malformed multipart body"))?;
        let mut parts = read_multipart(mp, files).await?;
        (std::mem::take(&mut parts.fields), parts)
    } else {
        return Err(FormError::Unsupported);
    };
    let mut posted = Posted {
        file: files.files.pop(),
        file_problem: files.file_problem,
        ..Default::default()
    };
    for (name, value) in pairs {
        if name == field {
            posted.text = value;
        } else if name == "lang" {
            posted.lang = Some(value);
        }
    }
    Ok(posted)
}

/// The attachment of a reply, re-encoded (PNG, metadata dropped), or what the reporter reads
/// when it is refused, with the status to answer.
async fn reply_file(
    posted: &mut Posted,
    max_bytes: usize,
    rt: &crate::i18n::reporter::ReporterTexts,
) -> Result<Option<NewFile>, (StatusCode, String)> {
    match posted.file_problem {
        Some(FileProblem::TooLarge) => {
            let mib = (max_bytes / (1024 * 1024)).to_string();
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                rt.reply_file_too_large.replace("{n}", &mib),
            ));
        }
        Some(FileProblem::TooMany) => {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.reply_file_too_many.to_owned(),
            ));
        }
        None => {}
    }
    let Some(file) = posted.file.take() else {
        return Ok(None);
    };
    // Images only: a reporter's file is shown to staff, and an image re-encoded from its
    // pixels is the one kind that carries nothing but what it shows.
    tokio::task::spawn_blocking(move || crate::media::reencode(&file.bytes))
        .await
        .unwrap_or(Err(crate::media::ImageError::Undecodable))
        .map(|png| {
            Some(NewFile {
                filename: "reply.png".into(),
                media_type: "image/png".into(),
                bytes: png,
            })
        })
        .map_err(|_| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.reply_file_not_image.to_owned(),
            )
        })
}

pub async fn reply(
    State(state): State<AppState>,
    lang: Lang,
    Path(code): Path<String>,
    req: Request,
) -> Response {
    let s = state.settings.clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if security::is_cross_site(req.headers(), &public_origin(&s), host.as_deref()) {
        return WebError::page(Kind::Forbidden, lang.locale).into_response();
    }
    let Ok(code) = TrackingCode::parse(&code) else {
        return WebError::page(Kind::NotFound, lang.locale).into_response();
    };
    let files = FileLimits {
        max_files: 1,
        max_bytes: s.attachments.max_image_bytes,
    };
    let mut posted = match read_form(req, "message", files).await {
        Ok(v) => v,
        Err(FormError::Unsupported) => {
            return WebError::page(Kind::Unsupported, lang.locale).into_response();
        }
        Err(FormError::TooLarge) => {
            return WebError::page(Kind::TooLarge, lang.locale).into_response();
        }
        Err(FormError::Malformed(why)) => {
            tracing::info!(why, "malformed reply form");
            return WebError::page(Kind::BadRequest, lang.locale).into_response();
        }
    };
    let lang = match posted.lang.as_deref().and_then(Locale::parse) {
        Some(locale) => Lang {
            locale,
            explicit: lang.explicit,
        },
        None => lang,
    };
    let rt = reporter_texts(lang.locale);
    let file = reply_file(&mut posted, s.attachments.max_image_bytes, rt).await;
    let message = posted.text;
    let text = message.trim();
    let problem = if text.is_empty() {
        Some(rt.reply_required.to_owned())
    } else if text.chars().count() > s.public.reply_chars {
        Some(
            rt.reply_too_long
                .replace("{n}", &s.public.reply_chars.to_string()),
        )
    } else if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(crate::i18n::problem_message(
            lang.locale,
            &crate::domain::report::Problem::ControlCharacters,
        ))
    } else {
        None
    };
    // Every problem at once, the text's first; a file over the limit answers 413.
    let (status, errors) = match (problem, &file) {
        (None, Ok(_)) => (StatusCode::OK, Vec::new()),
        (Some(p), Ok(_)) => (StatusCode::UNPROCESSABLE_ENTITY, vec![p]),
        (p, Err((status, m))) => (*status, p.into_iter().chain([m.clone()]).collect()),
    };
    let file = match file {
        Ok(file) if errors.is_empty() => file,
        _ => {
            let typed = ReplyState {
                sent: false,
                typed: message,
                error: Some(errors.join(" ")),
                ..Default::default()
            };
            return render_status(&state, lang, &code, false, typed, status).await;
        }
    };
    // The bytes go to disk by their hash before the reply's transaction (an orphan file left
    // by a crash is harmless: nothing points to it and nothing serves it).
    let written = match file {
        None => None,
        Some(f) => {
            let dir = s.attachments.dir.clone();
            match tokio::task::spawn_blocking(move || {
                crate::db::attachments::write_files(&dir, std::slice::from_ref(&f))
            })
            .await
            {
                Ok(Ok(mut w)) => w.pop(),
                Ok(Err(e)) => return WebError::internal(lang.locale, false, e).into_response(),
                Err(e) => return WebError::internal(lang.locale, false, e).into_response(),
            }
        }
    };
    let now = crate::domain::audit::truncate_micros(Utc::now());
    let notice = |inc: &crate::db::entities::incident::Model,
                  u: &crate::db::entities::user::Model| {
        let locale = Locale::parse(&u.locale).unwrap_or_default();
        crate::mail::render::reply_notice(&s, locale, &u.email, inc.id, &inc.title, false)
            .map_err(|e| tracing::error!(error = %e, "rendering a reply notice failed"))
            .ok()
    };
    match crate::db::messages::reply(
        &state.db,
        &s.deadlines,
        &code,
        text,
        written.as_ref(),
        now,
        &notice,
    )
    .await
    {
        Ok(Some(_)) => {
            state.mail_ready.notify_one();
            let sep = if lang.q().is_empty() { "?" } else { "&" };
            Redirect::to(&format!("/status/{code}{}{sep}sent=1#messages", lang.q())).into_response()
        }
        Ok(None) => WebError::page(Kind::NotFound, lang.locale).into_response(),
        Err(ActError::Conflict) => {
            // Someone acted on the incident at the same instant: the reporter's text is kept.
            let typed = ReplyState {
                sent: false,
                typed: message,
                error: Some(crate::i18n::texts(lang.locale).server_error.to_owned()),
                ..Default::default()
            };
            render_status(&state, lang, &code, false, typed, StatusCode::CONFLICT).await
        }
        Err(e) => WebError::internal(lang.locale, false, e).into_response(),
    }
}

/// What is wrong with a text the public typed, if anything.
fn problem(text: &str, max: usize, required: &str, locale: Locale) -> Option<String> {
    let rt = reporter_texts(locale);
    if text.is_empty() {
        Some(required.to_owned())
    } else if text.chars().count() > max {
        Some(rt.reply_too_long.replace("{n}", &max.to_string()))
    } else if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(crate::i18n::problem_message(
            locale,
            &crate::domain::report::Problem::ControlCharacters,
        ))
    } else {
        None
    }
}

/// `POST /status/{code}/appeal`: the reporter contests a rejection or resolution (field
/// `reasons`) within `public.appeal_days` of it.
pub async fn appeal(
    State(state): State<AppState>,
    lang: Lang,
    Path(code): Path<String>,
    req: Request,
) -> Response {
    let s = state.settings.clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if security::is_cross_site(req.headers(), &public_origin(&s), host.as_deref()) {
        return WebError::page(Kind::Forbidden, lang.locale).into_response();
    }
    let Ok(code) = TrackingCode::parse(&code) else {
        return WebError::page(Kind::NotFound, lang.locale).into_response();
    };
    // An appeal takes no file: one sent anyway is left unread.
    let no_files = FileLimits {
        max_files: 0,
        max_bytes: 0,
    };
    let (reasons, posted_lang) = match read_form(req, "reasons", no_files).await {
        Ok(p) => (p.text, p.lang),
        Err(FormError::Unsupported) => {
            return WebError::page(Kind::Unsupported, lang.locale).into_response();
        }
        Err(FormError::TooLarge) => {
            return WebError::page(Kind::TooLarge, lang.locale).into_response();
        }
        Err(FormError::Malformed(why)) => {
            tracing::info!(why, "malformed appeal form");
            return WebError::page(Kind::BadRequest, lang.locale).into_response();
        }
    };
    let lang = match posted_lang.as_deref().and_then(Locale::parse) {
        Some(locale) => Lang {
            locale,
            explicit: lang.explicit,
        },
        None => lang,
    };
    let rt = reporter_texts(lang.locale);
    let keep = |error: String| ReplyState {
        appeal_typed: reasons.clone(),
        appeal_error: Some(error),
        ..Default::default()
    };
    if let Some(error) = problem(
        reasons.trim(),
        s.public.reply_chars,
        rt.appeal_required,
        lang.locale,
    ) {
        return render_status(
            &state,
            lang,
            &code,
            false,
            keep(error),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let now = crate::domain::audit::truncate_micros(Utc::now());
    let notice = |inc: &crate::db::entities::incident::Model,
                  u: &crate::db::entities::user::Model| {
        let locale = Locale::parse(&u.locale).unwrap_or_default();
        crate::mail::render::reply_notice(&s, locale, &u.email, inc.id, &inc.title, true)
            .map_err(|e| tracing::error!(error = %e, "rendering an appeal notice failed"))
            .ok()
    };
    use crate::db::appeals::{NotNow, file};
    match file(
        &state.db,
        &s.deadlines,
        &code,
        &reasons,
        now,
        s.public.appeal_days,
        s.public.appeal_working_days,
        &notice,
    )
    .await
    {
        Ok(Ok(_)) => {
            state.mail_ready.notify_one();
            let sep = if lang.q().is_empty() { "?" } else { "&" };
            Redirect::to(&format!("/status/{code}{}{sep}appealed=1#appeal", lang.q()))
                .into_response()
        }
        Ok(Err(NotNow::NotFound)) => WebError::page(Kind::NotFound, lang.locale).into_response(),
        Ok(Err(why)) => {
            let message = match why {
                NotNow::TooLate => rt.appeal_closed,
                NotNow::AlreadyAppealed => rt.appeal_already,
                // Nothing to contest (not rejected or resolved): the page says where it stands.
                _ => rt.stage_texts[1],
            };
            render_status(
                &state,
                lang,
                &code,
                false,
                keep(message.to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(ActError::Conflict) => {
            let error = crate::i18n::texts(lang.locale).server_error.to_owned();
            render_status(
                &state,
                lang,
                &code,
                false,
                keep(error),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => WebError::internal(lang.locale, false, e).into_response(),
    }
}
