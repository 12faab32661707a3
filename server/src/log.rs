//! Structured logs: one JSON object per line on standard error.
//!
//! `{"ts": <unix ms>, "level": "info", "msg": "request", ...fields}`. The level comes from
//! `HANDRAIL_LOG` (`error`, `warn`, `info` — the default — `debug`, or `off`). Nothing that
//! can authenticate is ever written: requests are logged by method, route path, status,
//! and duration, never with headers, bodies or query strings,
//! and the token in a blob link's path is replaced by `[redacted]`.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

/// How much is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing.
    Off,
    /// Failures that lose or refuse work.
    Error,
    /// Suspicious but handled.
    Warn,
    /// One line per request and lifecycle events.
    Info,
    /// Everything.
    Debug,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("HANDRAIL_LOG").as_deref() {
        Ok("off") => Level::Off,
        Ok("error") => Level::Error,
        Ok("warn") => Level::Warn,
        Ok("debug") => Level::Debug,
        _ => Level::Info,
    })
}

/// Whether `level` is written.
pub fn enabled(level: Level) -> bool {
    level != Level::Off && level <= threshold()
}

/// Writes one line: `msg` with `fields` (an object; anything else is put under `data`).
pub fn event(level: Level, msg: &str, fields: Value) {
    if !enabled(level) {
        return;
    }
    let mut line = Map::new();
    line.insert("ts".into(), Value::from(crate::now_ms()));
    line.insert("level".into(), Value::from(level.as_str()));
    line.insert("msg".into(), Value::from(msg));
    match fields {
        Value::Object(fields) => line.extend(fields),
        Value::Null => {}
        other => {
            line.insert("data".into(), other);
        }
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    // One write per line, so lines from different threads never interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The path as logged: blob links carry a bearer token in the path, which is cut.
fn loggable_path(path: &str) -> String {
    // The LetsPing client resolves a relative link against its base URL.
    for prefix in ["/v1/blobs/", "/compat/letsping/api/v1/blobs/", "/decide/"] {
        if path.starts_with(prefix) {
            return format!("{prefix}[redacted]");
        }
    }
    path.chars().take(256).collect()
}

/// Middleware: one `request` line per answered request.
pub async fn requests(request: Request, next: Next) -> Response {
    if !enabled(Level::Info) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().to_string();
    let path = loggable_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let level = if status >= 500 { Level::Error } else { Level::Info };
    let fields = serde_json::json!({
        "method": method,
        "path": path,
        "status": status,
        "ms": (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
    });
    event(level, "request", fields);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_tokens_never_reach_the_log() {
        assert_eq!(loggable_path("/v1/blobs/eyJhIjoxfQ.abc"), "/v1/blobs/[redacted]");
        assert_eq!(loggable_path("/decide/eyJhIjoxfQ.abc"), "/decide/[redacted]");
        assert_eq!(loggable_path("/v1/requests/req_1"), "/v1/requests/req_1");
        assert_eq!(
            loggable_path("/compat/letsping/api/v1/blobs/eyJhIjoxfQ.abc"),
            "/compat/letsping/api/v1/blobs/[redacted]"
        );
        assert_eq!(loggable_path(&"x".repeat(1000)).len(), 256);
    }
}
