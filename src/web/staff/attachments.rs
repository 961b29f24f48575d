//! `GET /attachments/{id}`: an attachment, to staff only, always as a download
//! (`Content-Disposition: attachment`) with a type no browser executes; never from the public
//! site.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::auth::Staff;
use crate::web::AppState;
use crate::web::error::{Kind, WebError};

/// The types attachments are served as: re-encoded images as themselves, everything else as
/// bytes to save.
fn served_type(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        "application/pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// A file name safe in a header: letters, digits, dot, dash and underscore only.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if cleaned.trim_matches(['.', '_']).is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

pub async fn download(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    let l = staff.locale;
    let row = match crate::db::attachments::get(&state.db, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return WebError::page(Kind::NotFound, l).into_response(),
        Err(e) => return WebError::internal(l, false, e).into_response(),
    };
    let path = crate::db::attachments::path_of(&state.settings.attachments.dir, &row.sha256);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => return WebError::internal(l, false, e).into_response(),
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served_type(&row.media_type)),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        safe_name(&row.filename)
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// `POST /incidents/{id}/evidence` (multipart: `csrf`, `file`): a staff evidence file of at
/// most `attachments.max_evidence_bytes`, typed by content, recorded in the chain.
pub async fn upload(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    req: axum::extract::Request,
) -> Response {
    use crate::domain::workflow::{ActionKind, Actor};
    use crate::i18n::refusal::{self as say, sentence};
    use axum::extract::FromRequest;
    use axum::http::StatusCode;
    let l = staff.locale;
    let max = state.settings.attachments.max_evidence_bytes;
    let headers = req.headers().clone();
    let Ok(mut mp) = axum::extract::Multipart::from_request(req, &()).await else {
        return (StatusCode::BAD_REQUEST, say::upload_unreadable(l)).into_response();
    };
    let mut csrf = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return (e.status(), say::upload_unreadable(l)).into_response(),
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.ok(),
            "file" => {
                let name = field.file_name().unwrap_or("evidence").to_owned();
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            if bytes.len() + c.len() > max {
                                return (
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    say::evidence_too_large(max / (1024 * 1024), l),
                                )
                                    .into_response();
                            }
                            bytes.extend_from_slice(&c);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            return (e.status(), say::upload_unreadable(l)).into_response();
                        }
                    }
                }
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    if let Err(f) = super::auth::check_csrf(&state, &staff, &headers, csrf.as_deref()) {
        return f.into_response();
    }
    if !staff.may(ActionKind::AttachEvidence) {
        let r = crate::domain::workflow::Refusal::NotPermitted {
            action: ActionKind::AttachEvidence,
            role: Some(staff.role),
        };
        return (StatusCode::FORBIDDEN, sentence(&r, l)).into_response();
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, say::choose_file(l)).into_response();
    };
    let typed = tokio::task::spawn_blocking(move || crate::media::evidence(&bytes)).await;
    let Ok(Ok((bytes, media_type))) = typed else {
        return (StatusCode::UNPROCESSABLE_ENTITY, say::evidence_type(l)).into_response();
    };
    let file = crate::db::attachments::NewFile {
        filename: safe_name(&name),
        media_type: media_type.into(),
        bytes,
    };
    let actor = Actor::user(staff.user.id, &staff.user.email, staff.role);
    let now = crate::domain::audit::truncate_micros(chrono::Utc::now());
    match crate::db::attachments::add_evidence(
        &state.db,
        &state.settings.deadlines,
        &state.settings.attachments.dir,
        id,
        &file,
        &actor,
        now,
    )
    .await
    {
        Ok(_) => {
            axum::response::Redirect::to(&format!("/incidents/{id}#reporters")).into_response()
        }
        Err(crate::db::workflow::ActError::Refused(r)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, sentence(&r, l)).into_response()
        }
        Err(crate::db::workflow::ActError::NotFound) => {
            WebError::page(Kind::NotFound, l).into_response()
        }
        Err(e) => WebError::internal(l, false, e).into_response(),
    }
}
