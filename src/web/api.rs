//! The JSON channel for in-product "report this answer" buttons.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::error::{Kind, WebError};
use super::public::limits;
use super::{AppState, Lang};
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, ReportForm, validate};
use crate::i18n::problem_message;

pub const REPORTS_PATH: &str = "/api/v1/reports";

pub fn router() -> Router<AppState> {
    Router::new().route(REPORTS_PATH, post(create_report))
}

/// `screenshots`: up to `attachments.max_images` base64 strings (a `data:image/...;base64,`
/// prefix is allowed), each decoding to at most `attachments.max_image_bytes` of PNG, JPEG or
/// WebP; re-encoded like the form's. Errors are (status, field error). The whole JSON body
/// stays within `limits.max_body_bytes`, screenshots included (the API's body limit is a
/// contract of its own; raise it to take larger screenshots this way).
fn screenshots_from_json(
    screenshots: &Value,
    s: &crate::config::Settings,
    locale: Locale,
) -> Result<Vec<crate::db::attachments::NewFile>, (StatusCode, Value)> {
    use base64::Engine;
    let rt = crate::i18n::reporter::reporter_texts(locale);
    let err = |status, message: String| {
        (
            status,
            json!({ "field": "screenshots", "message": message }),
        )
    };
    let list = match screenshots {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.screenshots_not_list.into(),
            ));
        }
    };
    if list.len() > s.attachments.max_images {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            rt.screenshot_too_many
                .replace("{n}", &s.attachments.max_images.to_string()),
        ));
    }
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Some(text) = v.as_str() else {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.screenshots_not_list.into(),
            ));
        };
        let data = text.split_once(";base64,").map_or(text, |(_, d)| d).trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| {
                err(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    rt.screenshot_not_image.into(),
                )
            })?;
        if bytes.len() > s.attachments.max_image_bytes {
            return Err(err(
                StatusCode::PAYLOAD_TOO_LARGE,
                rt.screenshot_too_large.replace(
                    "{n}",
                    &(s.attachments.max_image_bytes / (1024 * 1024)).to_string(),
                ),
            ));
        }
        let png = crate::media::reencode(&bytes).map_err(|_| {
            err(
                StatusCode::UNPROCESSABLE_ENTITY,
                rt.screenshot_not_image.into(),
            )
        })?;
        out.push(crate::db::attachments::NewFile {
            filename: format!("screenshot-{}.png", i + 1),
            media_type: "image/png".into(),
            bytes: png,
        });
    }
    Ok(out)
}

const TEXT_FIELDS: [&str; 9] = [
    "output",
    "prompt",
    "model",
    "model_version",
    "url",
    "category",
    "description",
    "name",
    "email",
];

/// Reads the JSON object field by field, so a wrong type is reported against its field name
/// instead of as one opaque parse error.
fn form_from_json(
    obj: &serde_json::Map<String, Value>,
    locale: Locale,
) -> Result<ReportForm, Vec<Value>> {
    let zh = locale.is_zh();
    let mut form = ReportForm::default();
    let mut errors = Vec::new();
    for field in TEXT_FIELDS {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => form.set(field, s.clone()),
            Some(_) => errors.push(json!({
                "field": field,
                "message": if zh { "必须是字符串。" } else { "Must be a string." },
            })),
        }
    }
    match obj.get("good_faith") {
        Some(Value::Bool(b)) => form.good_faith = *b,
        None | Some(Value::Null) => form.good_faith = false,
        Some(_) => errors.push(json!({
            "field": "good_faith",
            "message": if zh { "必须是 true 或 false。" } else { "Must be true or false." },
        })),
    }
    if errors.is_empty() {
        Ok(form)
    } else {
        Err(errors)
    }
}

fn unprocessable(errors: Vec<Value>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "errors": errors })),
    )
        .into_response()
}

async fn create_report(State(state): State<AppState>, lang: Lang, req: Request) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
    if !is_json {
        return WebError::json(Kind::Unsupported, lang.locale)
            .with_detail("Content-Type must be application/json")
            .into_response();
    }
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return WebError::json(Kind::TooLarge, lang.locale).into_response();
        }
        Err(_) => return WebError::json(Kind::BadRequest, lang.locale).into_response(),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return WebError::json(Kind::BadRequest, lang.locale)
                .with_detail(format!("The body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let Value::Object(obj) = value else {
        return WebError::json(Kind::BadRequest, lang.locale)
            .with_detail("The body must be a JSON object")
            .into_response();
    };
    // An in-product button knows the user's language better than the request headers do.
    let locale = match obj
        .get("locale")
        .and_then(Value::as_str)
        .and_then(Locale::parse)
    {
        Some(l) => l,
        None => lang.locale,
    };
    let s = &state.settings;
    let obj = std::sync::Arc::new(obj);
    let images = if obj.get("screenshots").is_none_or(Value::is_null) {
        // Nearly every report: no thread to hand it to and back (see `submit_report`).
        Ok(Vec::new())
    } else {
        let (obj, settings) = (obj.clone(), s.clone());
        tokio::task::spawn_blocking(move || {
            screenshots_from_json(&obj["screenshots"], &settings, locale)
        })
        .await
        .unwrap_or_else(|_| {
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "field": "screenshots", "message": "internal error" }),
            ))
        })
    };
    let form = match form_from_json(&obj, locale) {
        Ok(f) => f,
        Err(mut errors) => {
            if let Err((_, e)) = images {
                errors.push(e);
            }
            return unprocessable(errors);
        }
    };
    let images = match images {
        Ok(i) => i,
        Err((status, e)) => {
            return (status, Json(json!({ "errors": [e] }))).into_response();
        }
    };
    let valid = match validate(&form, &s.taxonomy, limits(s)) {
        Ok(v) => v,
        Err(errors) => {
            return unprocessable(
                errors
                    .iter()
                    .map(|e| json!({ "field": e.field, "message": problem_message(locale, &e.problem) }))
                    .collect(),
            );
        }
    };
    match super::public::accept_with(&state, valid, locale, Channel::Api, images).await {
        Ok(code) => {
            let status_url = s.public_link(&format!("/status/{code}"));
            (
                StatusCode::CREATED,
                [(header::LOCATION, status_url.clone())],
                Json(json!({ "tracking_code": code.as_str(), "status_url": status_url })),
            )
                .into_response()
        }
        Err(e) => WebError::internal(locale, true, e).into_response(),
    }
}
