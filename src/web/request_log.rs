//! One log line per request (method, route, status, latency, request id, client), and a
//! request id on every response: taken from `X-Request-Id` when a trusted proxy sent it,
//! otherwise made here. Errors logged while the request runs carry the same id (a span).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// A proxy's id is kept when it is a sane token; anything else is replaced.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

pub async fn trace(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let from_proxy = peer.is_some_and(|p| state.proxies.trusts(p));
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| from_proxy && acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let client = peer.map(|p| state.proxies.client(req.headers(), p));
    let method = req.method().clone();
    // The route's pattern, never the path itself: paths carry tracking codes.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", |m| m.as_str())
        .to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    let status = resp.status().as_u16();
    // Tenths of a millisecond are enough to read, and keep the number a number in JSON.
    let latency_ms = (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let client = client.map(|c| c.to_string()).unwrap_or_default();
    tracing::info!(
        target: "rectify::request",
        method = %method,
        route = %route,
        status,
        latency_ms,
        request_id = %id,
        client = %client,
        "request"
    );
    resp
}
