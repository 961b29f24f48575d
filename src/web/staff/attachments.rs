//! `GET /attachments/{id}`: an attachment, to staff only, always as a download
//! (`Content-Disposition: attachment`) with a type no browser executes; never from the public
//! site.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::auth::Staff;
use crate::domain::locale::Locale;
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
    _staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    let row = match crate::db::attachments::get(&state.db, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return WebError::page(Kind::NotFound, Locale::En).into_response(),
        Err(e) => return WebError::internal(Locale::En, false, e).into_response(),
    };
    let path = crate::db::attachments::path_of(&state.settings.attachments.dir, &row.sha256);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => return WebError::internal(Locale::En, false, e).into_response(),
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
