//! Rate limits (token buckets per key, and per source address for the routes that create
//! something without a key) and the counters behind `/metrics`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A token bucket per key: `rate` requests per second on average, bursts up to `burst`.
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `HANDRAIL_RATE_LIMIT` requests per second per key (default 200), bursts of twice that.
    pub(crate) fn from_env() -> RateLimiter {
        let rate =
            std::env::var("HANDRAIL_RATE_LIMIT").ok().and_then(|v| v.parse().ok()).filter(|&r: &f64| r > 0.0);
        let rate = rate.unwrap_or(200.0);
        RateLimiter { rate, burst: (rate * 2.0).max(1.0), buckets: Mutex::default() }
    }

    /// `HANDRAIL_SIGNUP_RATE_LIMIT` calls per minute per source address (default 10, in
    /// bursts of as many) on the routes anyone may call to create something: LetsPing's
    /// agent sign-up.
    pub(crate) fn signups_from_env() -> RateLimiter {
        let per_minute = std::env::var("HANDRAIL_SIGNUP_RATE_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&r: &f64| r > 0.0)
            .unwrap_or(10.0);
        RateLimiter { rate: per_minute / 60.0, burst: per_minute.max(1.0), buckets: Mutex::default() }
    }

    /// Takes one token for `key`; when none is left, the seconds until one is.
    pub(crate) fn take(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            // Forget the buckets that have refilled: they hold nothing a new one would not.
            let (rate, burst) = (self.rate, self.burst);
            buckets
                .retain(|_, (tokens, last)| *tokens + now.duration_since(*last).as_secs_f64() * rate < burst);
        }
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Most buckets a limiter keeps before it forgets the full ones.
const MAX_BUCKETS: usize = 100_000;

/// The bucket of a source address: an IPv4 address (IPv4-mapped ones too), or an IPv6
/// address's /64, the least a host is usually given.
pub(crate) fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// What a key holds open: server-sent event streams and long-polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Open {
    /// `GET /v1/events`.
    Stream,
    /// `GET /v1/requests/{id}/wait` (and the compat routes that wait).
    Wait,
}

/// A positive count from the environment variable `name`, else `default`.
fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n: &usize| n > 0).unwrap_or(default)
}

/// Caps on what one key holds open at once, so one key cannot tie up the server's
/// connections and memory: `HANDRAIL_MAX_STREAMS_PER_KEY` streams (default 16) and
/// `HANDRAIL_MAX_WAITS_PER_KEY` long-polls (default 1024).
pub(crate) struct OpenCaps {
    streams: usize,
    waits: usize,
    held: Mutex<HashMap<(String, bool), usize>>,
}

impl OpenCaps {
    pub(crate) fn from_env() -> OpenCaps {
        OpenCaps {
            streams: count_from_env("HANDRAIL_MAX_STREAMS_PER_KEY", 16),
            waits: count_from_env("HANDRAIL_MAX_WAITS_PER_KEY", 1024),
            held: Mutex::default(),
        }
    }

    /// Takes one slot of `kind` for `key`, released when the guard drops; None when the key
    /// holds its cap already.
    pub(crate) fn open(self: &std::sync::Arc<Self>, key: &str, kind: Open) -> Option<OpenSlot> {
        let cap = match kind {
            Open::Stream => self.streams,
            Open::Wait => self.waits,
        };
        let slot = (key.to_string(), kind == Open::Stream);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(slot.clone()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(OpenSlot { caps: self.clone(), slot })
    }
}

/// One open stream or long-poll of a key (see [`OpenCaps::open`]).
pub(crate) struct OpenSlot {
    caps: std::sync::Arc<OpenCaps>,
    slot: (String, bool),
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut held = self.caps.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.slot) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.slot);
            }
        }
    }
}

/// Counters, exposed in the Prometheus text format.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) requests_created: AtomicU64,
    pub(crate) requests_decided: AtomicU64,
    pub(crate) requests_expired: AtomicU64,
    pub(crate) waiters: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) webhooks_delivered: AtomicU64,
    pub(crate) webhooks_failed_attempts: AtomicU64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises a gauge until the returned guard is dropped (also when a client hangs up and
    /// its handler is cancelled).
    pub(crate) fn hold(gauge: &AtomicU64) -> Held<'_> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Held(gauge)
    }

    pub(crate) fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 7] = [
            ("handrail_requests_created_total", "counter", "Requests created.", &self.requests_created),
            (
                "handrail_requests_decided_total",
                "counter",
                "Requests approved or rejected.",
                &self.requests_decided,
            ),
            (
                "handrail_requests_expired_total",
                "counter",
                "Requests expired at their deadline.",
                &self.requests_expired,
            ),
            ("handrail_waiters", "gauge", "Agents waiting on a decision right now.", &self.waiters),
            ("handrail_rate_limited_total", "counter", "Calls refused with 429.", &self.rate_limited),
            (
                "handrail_webhooks_delivered_total",
                "counter",
                "Webhook deliveries a receiver accepted.",
                &self.webhooks_delivered,
            ),
            (
                "handrail_webhooks_failed_attempts_total",
                "counter",
                "Webhook attempts that failed (retried).",
                &self.webhooks_failed_attempts,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// See [`Metrics::hold`].
pub(crate) struct Held<'a>(&'a AtomicU64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
