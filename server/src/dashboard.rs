//! The dashboard: static assets embedded at build time (see `build.rs`), served at `/`.
//!
//! Everything the browser runs comes from this binary: no other web server, no CDN. Every
//! answer carries a strict Content-Security-Policy (scripts and connections to this origin
//! only; `wasm-unsafe-eval` for the WebAssembly module; no inline script, no framing), so a
//! payload rendered in the page can never run as code or leak elsewhere. The operator's
//! token and encryption key stay in the browser; the server only ever sees the token, as
//! the `Authorization` header of API calls.

use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// One embedded file.
pub(crate) struct Asset {
    /// URL path, from `/`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// Quoted, from the bytes.
    pub etag: &'static str,
    pub body: &'static [u8],
    /// The same bytes gzipped, when the build made them.
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// Headers every dashboard answer carries.
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Shown at `/` when the binary was built without `server/dashboard/dist`.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Handrail</title>\
    <p>This <code>handrail</code> binary was built without its dashboard. \
    Run <code>scripts/build-dashboard.sh</code>, then rebuild the server. \
    The API is at <code>/v1</code> (<a href=\"/v1/openapi.json\">OpenAPI</a>).</p>";

/// The routes: `/` and one per embedded file (never a catch-all, so unknown API paths keep
/// their JSON 404).
pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new();
    match ASSETS.iter().find(|a| a.path == "/index.html") {
        Some(index) => router = router.route("/", get(move |h: HeaderMap| async move { serve(index, &h) })),
        None => router = router.route("/", get(|| async { not_built() })),
    }
    for asset in ASSETS {
        router = router.route(asset.path, get(move |h: HeaderMap| async move { serve(asset, &h) }));
    }
    router
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(ETAG, etag);
        return secure(r);
    }
    let gzip_ok = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
    let mut r = match asset.gzip.filter(|_| gzip_ok) {
        Some(gz) => {
            let mut r = gz.into_response();
            r.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => asset.body.into_response(),
    };
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(ETAG, etag);
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    // Revalidated on every load (a 304 costs one round trip on loopback): an upgraded
    // server never serves a stale mix of old and new files.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(r)
}

fn not_built() -> Response {
    let mut r = NOT_BUILT.into_response();
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(r)
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    r
}
