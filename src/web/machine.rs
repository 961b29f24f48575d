//! Machine tokens on the API: `Authorization: Bearer <secret>`. A missing, unknown or revoked
//! token gets 401, a token without the route's scope 403; every use is logged with the
//! token's name (never its secret).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use crate::db::tokens;
use crate::domain::token::{Scope, Scopes, TokenName};
use crate::domain::workflow::Actor;

/// A token that may act here.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: TokenName,
    pub scopes: Scopes,
}

impl Machine {
    /// The actor of the events this token's actions make.
    pub fn actor(&self) -> Actor {
        Actor::token(&self.name, self.scopes.clone())
    }
}

/// A JSON error answer of the API: `{"error": code, "message": sentence}`.
pub fn json_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "message": message.into() })),
    )
        .into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rectify\""),
    );
    r
}

/// The token of a request, if it may use `scope`; otherwise the answer to give.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
    what: &str,
) -> Result<Machine, Response> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "this route needs a machine token: Authorization: Bearer <token> (rectify token create)",
        ));
    };
    let secret = match value.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => secret.trim(),
        _ => {
            return Err(unauthorized(
                "the Authorization header must be: Bearer <token>",
            ));
        }
    };
    let row = match tokens::authenticate(&state.db, secret, Utc::now()).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            tracing::warn!(route = what, "refused an unknown or revoked machine token");
            return Err(unauthorized("the token is unknown or revoked"));
        }
        Err(e) => {
            return Err(
                super::error::WebError::internal(Default::default(), true, e).into_response(),
            );
        }
    };
    let (Ok(name), Ok(scopes)) = (TokenName::parse(&row.name), Scopes::parse(&row.scopes)) else {
        return Err(unauthorized(
            "the token's stored name or scopes are unreadable",
        ));
    };
    if !scopes.contains(scope) {
        tracing::warn!(token = %name, route = what, scope = %scope, "machine token lacks the scope");
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the token {name} lacks the {scope} scope this route needs"),
        ));
    }
    tracing::info!(token = %name, route = what, "machine token used");
    Ok(Machine { name, scopes })
}
