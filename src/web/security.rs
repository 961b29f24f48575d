//! Headers every response carries, the client's address, and the same-origin check that
//! protects state-changing requests from other sites.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// No inline script or style anywhere, nothing from other hosts, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Status links carry the tracking code: never let it leak to another site in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The client's address: the socket peer, or behind trusted proxies the rightmost
/// `X-Forwarded-For` entry that is not one of them (see [`super::proxy`]).
pub fn client_ip(
    req_headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    proxies: &super::proxy::TrustedProxies,
) -> IpAddr {
    let peer = peer
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    proxies.client(req_headers, peer)
}

/// A browser tells us where a request comes from (Sec-Fetch-Site, Origin). A form post from
/// another site is refused; requests without those headers (scripts, curl) carry no ambient
/// credentials of a victim and pass.
pub fn is_cross_site(h: &HeaderMap, public_origin: &str, host: Option<&str>) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin == "null" {
            return true;
        }
        let origin = origin.trim_end_matches('/');
        if origin.eq_ignore_ascii_case(public_origin) {
            return false;
        }
        // Also accept the host the request was addressed to (a server reached by another name).
        if let Some(host) = host {
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .unwrap_or(origin);
            return !bare.eq_ignore_ascii_case(host);
        }
        return true;
    }
    false
}
