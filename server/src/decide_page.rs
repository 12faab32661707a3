//! The decision page of e-mail links: `GET /decide/{token}` shows the request (its whole
//! payload) with Approve / Reject (with a reason) / Approve with an edit, as plain HTML
//! forms (no script); `POST /decide/{token}` decides through [`crate::lifecycle`] as
//! `email:ADDRESS`.
//!
//! A GET never decides: mail scanners open links. The token
//! ([`crate::links::LinkKey::decide_link`]) is the credential: it names the project, the
//! request, the addressee and an expiry no later than the request's deadline, under the
//! server's link key (constant-time check). It decides only while the request is pending,
//! before its deadline, and while an e-mail channel of the request's role (as it is at that
//! moment) names the addressee — which the store checks again inside the writing
//! transaction. A request decides once, so a link cannot be replayed. An end-to-end
//! encrypted payload is never shown (the server cannot read it): the page links to the
//! dashboard and offers only Reject.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handrail_core::request::{RequestSummary, Status};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};
use crate::links::DecideGrant;
use crate::mail::{escape, View};
use crate::store::{RequestRow, EMAIL_ACTOR};
use crate::v1::{Path, Source};
use crate::{blocking, now, AppState};

/// Most characters of a reason.
const MAX_REASON: usize = 2000;

const STYLE: &str =
    "body{font:15px/1.45 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#111}\
pre,textarea{font:13px/1.4 ui-monospace,monospace;width:100%;box-sizing:border-box}\
pre{background:#f4f4f4;padding:.75rem;overflow:auto;white-space:pre-wrap}\
th{text-align:left;padding-right:1rem}form{margin:1rem 0;padding:.75rem;border:1px solid #ddd}\
button{font-size:15px;padding:.4rem 1rem}";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/decide/{token}", get(page).post(submit))
}

/// The page's headers: never cached, never framed, no referrer, no script, forms only to
/// this origin.
fn html(status: StatusCode, body: String) -> Response {
    let style_hash = {
        use sha2::Digest;
        handrail_core::encoding::b64_encode(sha2::Sha256::digest(STYLE.as_bytes()))
    };
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// An error as a page, with its status and stable code.
fn error_page(e: ApiError) -> Response {
    let body = format!(
        "<h1>This link cannot be used</h1><p>{}</p><p><code id=\"code\">{}</code></p>",
        escape(&e.message),
        escape(e.code)
    );
    html(e.status, document("Handrail", &body))
}

/// The grant of `token` and its request, if it may still decide: pending, before its
/// deadline, its addressee on a channel of its role.
fn grant(state: &AppState, token: &str) -> ApiResult<(DecideGrant, RequestRow)> {
    let now = now();
    let grant = state.blob_links.check_decide(token, now)?;
    let row = state
        .store
        .request(&grant.project, &grant.request)?
        .ok_or_else(|| ApiError::new(Code::LinkInvalid, "this link is not valid"))?;
    if row.status != Status::Pending {
        let by = row.decision.as_ref().and_then(|d| d.actor.clone()).unwrap_or_default();
        return Err(ApiError::new(Code::AlreadyDecided, format!("the request is {} (by {by})", row.status)));
    }
    // Unreachable while links expire with their request; a GET changes nothing either way
    // (the expiry sweep expires it).
    if now >= row.expires_at {
        return Err(ApiError::new(Code::Expired, "the request's deadline passed: it has expired"));
    }
    if !state.store.addressee(&grant.project, row.role.as_deref(), &grant.address)? {
        return Err(ApiError::new(
            Code::Forbidden,
            "this address is not on a channel of the request's role any more",
        ));
    }
    Ok((grant, row))
}

/// Takes one call from `source`'s bucket of the decision pages: anyone may call them, and
/// each checks a link and reads the store.
fn limited(state: &AppState, source: &Source) -> Option<Response> {
    let key = source.0.map_or_else(|| "unknown".to_string(), crate::limits::source_key);
    state.decide_limiter.take(&key).err().map(|retry_after| {
        crate::limits::Metrics::add(&state.metrics.rate_limited, 1);
        let mut page =
            error_page(ApiError::new(Code::RateLimited, "too many calls from this address; try again soon"));
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        page
    })
}

async fn page(State(state): State<AppState>, source: Source, Path(token): Path<String>) -> Response {
    if let Some(page) = limited(&state, &source) {
        return page;
    }
    match grant(&state, &token) {
        Ok((grant, row)) => html(StatusCode::OK, document("Decide: Handrail", &form(&state, &grant, &row))),
        Err(e) => error_page(e),
    }
}

/// The request and its forms.
fn form(state: &AppState, grant: &DecideGrant, row: &RequestRow) -> String {
    let view = View::of(row);
    let mut out = format!("<h1>{} {}</h1><table>", escape(&view.service), escape(&view.action));
    for (k, v) in [
        ("Request", &row.id),
        ("Priority", &view.priority),
        ("Role", &view.role),
        ("Deadline", &view.deadline),
        ("You", &grant.address),
    ] {
        out.push_str(&format!("<tr><th>{k}</th><td>{}</td></tr>", escape(v)));
    }
    out.push_str("</table>");
    if !view.firewall.is_empty() {
        out.push_str("<h2>Why it was held</h2><ul>");
        for l in &view.firewall {
            out.push_str(&format!("<li>{}</li>", escape(l)));
        }
        out.push_str("</ul>");
    }
    let reject = format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"reject\">\
         <label for=\"reason\">Reason</label><textarea id=\"reason\" name=\"reason\" rows=\"2\" maxlength=\"{MAX_REASON}\"></textarea>\
         <p><button type=\"submit\" id=\"reject\">Reject</button></p></form>"
    );
    match &view.payload {
        Some(payload) => {
            let payload = escape(payload);
            out.push_str(&format!(
                "<h2>Payload</h2><pre id=\"payload\">{payload}</pre>\
                 <form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"approve\">\
                 <button type=\"submit\" id=\"approve\">Approve</button></form>{reject}\
                 <form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"approve\">\
                 <label for=\"edit\">Edit the payload (JSON), then approve it</label>\
                 <textarea id=\"edit\" name=\"payload\" rows=\"12\">{payload}</textarea>\
                 <p><button type=\"submit\" id=\"approve-edit\">Approve with this edit</button></p></form>"
            ));
        }
        None => {
            let dashboard = format!("{}/#/requests/{}", state.blob_links.base(), row.id);
            out.push_str(&format!(
                "<p id=\"encrypted\">The payload is end-to-end encrypted: this server cannot show it. \
                 <a href=\"{}\">Open the dashboard</a> to read and approve it.</p>{reject}",
                escape(&dashboard)
            ));
        }
    }
    out
}

async fn submit(
    State(state): State<AppState>,
    source: Source,
    Path(token): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> Response {
    if let Some(page) = limited(&state, &source) {
        return page;
    }
    match decide(&state, &token, &bytes) {
        Ok((status, actor)) => {
            let body = format!(
                "<h1 id=\"done\">{}</h1><p>Recorded as <code>{}</code>. You may close this page.</p>",
                escape(status.as_str()),
                escape(&actor)
            );
            html(StatusCode::OK, document("Decided: Handrail", &body))
        }
        Err(e) => error_page(e),
    }
}

/// The form's fields: `decision` (`approve` / `reject`), `reason`, `payload` (JSON text),
/// each at most once, nothing else.
fn fields(bytes: &[u8]) -> ApiResult<(String, Option<String>, Option<String>)> {
    let bad = |m: &str| ApiError::new(Code::InvalidRequest, m.to_string());
    let (mut decision, mut reason, mut payload) = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(bytes) {
        let slot = match name.as_ref() {
            "decision" => &mut decision,
            "reason" => &mut reason,
            "payload" => &mut payload,
            _ => return Err(bad("the form has decision, reason and payload only")),
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad("each field of the form comes once"));
        }
    }
    let decision = decision.ok_or_else(|| bad("decision is approve or reject"))?;
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(bad("a reason is at most 2000 characters"));
    }
    Ok((decision, reason, payload.filter(|p| !p.trim().is_empty())))
}

/// Decides as the link's addressee; the status and the actor.
fn decide(state: &AppState, token: &str, bytes: &[u8]) -> ApiResult<(Status, String)> {
    let (grant, row) = grant(state, token)?;
    let (decision, reason, payload) = fields(bytes)?;
    let encrypted = RequestSummary::of(&row).encrypted;
    if encrypted && decision == "approve" {
        return Err(ApiError::new(
            Code::Forbidden,
            "the payload is end-to-end encrypted: approve it in the dashboard, where it can be read",
        ));
    }
    let payload: Option<Value> = payload.map(|p| crate::v1::parse(p.as_bytes())).transpose()?;
    let (status, patched, diff) = crate::lifecycle::judge(&row, &decision, payload)?;
    let actor = format!("{EMAIL_ACTOR}{}", grant.address);
    let ruling =
        crate::lifecycle::Ruling { patched, diff, reason, ..crate::lifecycle::Ruling::plain(status, &actor) };
    blocking(|| crate::lifecycle::decide(state, &row, ruling))?;
    Ok((status, actor))
}
