//! `POST /status/{code}/reply`: a reporter answers on their status page, authenticated by the
//! tracking code alone (no account). Rate-limited with intake; refused from other sites.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::error::{Kind, WebError};
use super::form::{FormError, decode_pairs};
use super::public::{ReplyState, public_origin, render_status};
use super::{AppState, Lang, security};
use crate::db::workflow::ActError;
use crate::domain::locale::Locale;
use crate::domain::tracking_code::TrackingCode;
use crate::i18n::reporter::reporter_texts;

/// The reply's text from an urlencoded or multipart body (text fields only).
async fn read_text(req: Request, field: &str) -> Result<(String, Option<String>), FormError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut message = String::new();
    let mut lang = None;
    let mut take = |name: &str, value: String| {
        if name == field {
            message = value;
        } else if name == "lang" {
            lang = Some(value);
        }
    };
    if ctype.starts_with("application/x-www-form-urlencoded") {
        let body = Bytes::from_request(req, &()).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormError::TooLarge
            } else {
                FormError::Malformed("the body could not be read")
            }
        })?;
        for (k, v) in decode_pairs(&body)? {
            take(&k, v);
        }
    } else if ctype.starts_with("multipart/form-data") {
        let mut mp = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|_| FormError::Malformed("malformed multipart body"))?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(FormError::TooLarge);
                }
                Err(_) => return Err(FormError::Malformed("malformed multipart body")),
            };
            if field.file_name().is_some() {
                continue;
            }
            let name = field.name().unwrap_or("").to_owned();
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    FormError::TooLarge
                } else {
                    FormError::Malformed("malformed multipart body")
                }
            })?;
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| FormError::Malformed("text is not valid UTF-8"))?;
            take(&name, value);
        }
    } else {
        return Err(FormError::Unsupported);
    }
    Ok((message, lang))
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
    let (message, posted_lang) = match read_text(req, "message").await {
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
    let lang = match posted_lang.as_deref().and_then(Locale::parse) {
        Some(locale) => Lang {
            locale,
            explicit: lang.explicit,
        },
        None => lang,
    };
    let rt = reporter_texts(lang.locale);
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
    if let Some(error) = problem {
        let typed = ReplyState {
            sent: false,
            typed: message,
            error: Some(error),
            ..Default::default()
        };
        return render_status(
            &state,
            lang,
            &code,
            false,
            typed,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let now = crate::domain::audit::truncate_micros(Utc::now());
    let notice = |inc: &crate::db::entities::incident::Model,
                  u: &crate::db::entities::user::Model| {
        let locale = Locale::parse(&u.locale).unwrap_or_default();
        crate::mail::render::reply_notice(&s, locale, &u.email, inc.id, &inc.title, false)
            .map_err(|e| tracing::error!(error = %e, "rendering a reply notice failed"))
            .ok()
    };
    match crate::db::messages::reply(&state.db, &s.deadlines, &code, text, now, &notice).await {
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
    let (reasons, posted_lang) = match read_text(req, "reasons").await {
        Ok(v) => v,
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
