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
        RateLimiter::per_minute_from_env("HANDRAIL_SIGNUP_RATE_LIMIT", 10.0)
    }

    /// `HANDRAIL_DECIDE_RATE_LIMIT` calls per minute per source address (default 60, in
    /// bursts of as many) on the decision pages of e-mail links, which anyone may call.
    pub(crate) fn decide_pages_from_env() -> RateLimiter {
        RateLimiter::per_minute_from_env("HANDRAIL_DECIDE_RATE_LIMIT", 60.0)
    }

    fn per_minute_from_env(name: &str, default: f64) -> RateLimiter {
        let per_minute = std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&r: &f64| r > 0.0)
            .unwrap_or(default);
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

/// The proxies in front of the server whose `X-Forwarded-For` is believed
/// (`HANDRAIL_TRUSTED_PROXIES`: their addresses, comma-separated; none by default). Behind a
/// load balancer the TCP peer is the balancer, so without this every caller shares its
/// per-address buckets.
#[derive(Debug, Default)]
pub(crate) struct Proxies(Vec<IpAddr>);

impl Proxies {
    /// From `HANDRAIL_TRUSTED_PROXIES`; an address that does not parse stops the start.
    pub(crate) fn from_env() -> Result<Proxies, String> {
        let text = std::env::var("HANDRAIL_TRUSTED_PROXIES").unwrap_or_default();
        Proxies::parse(&text)
    }

    fn parse(text: &str) -> Result<Proxies, String> {
        let addresses = text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse().map_err(|_| format!("HANDRAIL_TRUSTED_PROXIES: {a:?} is not an IP address")))
            .collect::<Result<_, _>>()?;
        Ok(Proxies(addresses))
    }

    /// The caller's address: the TCP peer, or when the peer is a trusted proxy, the nearest
    /// address of `X-Forwarded-For` that is not one (what a client writes further left can be
    /// anything, so it is never read). A malformed entry stops the walk at the proxy.
    pub(crate) fn client(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut nearest = peer;
        for hop in hops.into_iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => nearest = ip,
                Ok(ip) => return ip,
                Err(_) => return nearest,
            }
        }
        nearest
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
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

/// Bodies above this many bytes (or of a length not declared) are heavy: parsing, checking
/// and storing them is most of what a create costs.
pub(crate) const LIGHT_BODY: u64 = 64 << 10;

/// Heavy requests of one caller take turns: at most `HANDRAIL_HEAVY_PER_KEY` (default 1) of a
/// caller's requests with a heavy body are handled at once, the rest wait their turn (up to
/// `HANDRAIL_HEAVY_QUEUE_PER_KEY`, default 256, then 429 `rate_limited`). A caller is its bearer
/// token (hashed; the lane exists before the key is checked) or, without one, its address. So
/// one key sending megabyte payloads from many connections uses one core's worth of the
/// server, and every other caller's requests go on beside it. Light requests never wait.
pub(crate) struct Lanes {
    per_key: usize,
    queue: usize,
    lanes: Mutex<HashMap<[u8; 32], Lane>>,
}

struct Lane {
    turns: std::sync::Arc<tokio::sync::Semaphore>,
    /// Requests running or waiting in this lane; the lane is forgotten at 0.
    users: usize,
}

impl Lanes {
    pub(crate) fn from_env() -> Lanes {
        Lanes {
            per_key: count_from_env("HANDRAIL_HEAVY_PER_KEY", 1),
            queue: count_from_env("HANDRAIL_HEAVY_QUEUE_PER_KEY", 256),
            lanes: Mutex::default(),
        }
    }

    /// Waits for `caller`'s turn; None when its lane is full (running plus waiting).
    pub(crate) async fn turn(self: &std::sync::Arc<Self>, caller: [u8; 32]) -> Option<Turn> {
        let turns = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let lane = lanes.entry(caller).or_insert_with(|| Lane {
                turns: std::sync::Arc::new(tokio::sync::Semaphore::new(self.per_key)),
                users: 0,
            });
            if lane.users >= self.per_key + self.queue {
                return None;
            }
            lane.users += 1;
            lane.turns.clone()
        };
        // Counted as a user from here: the guard gives the place back even if the wait is
        // dropped (the client went away).
        let mut turn = Turn { lanes: self.clone(), caller, _permit: None };
        // The semaphore is never closed.
        turn._permit = turns.acquire_owned().await.ok();
        Some(turn)
    }

    /// How many callers have a lane now (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A caller's turn in its lane, given back when dropped.
pub(crate) struct Turn {
    lanes: std::sync::Arc<Lanes>,
    caller: [u8; 32],
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut lanes = self.lanes.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get_mut(&self.caller) {
            lane.users -= 1;
            if lane.users == 0 {
                lanes.remove(&self.caller);
            }
        }
    }
}

/// Whether a request's body is heavy ([`LIGHT_BODY`]): declared longer, or sent without a
/// declared length on a method that carries a body.
pub(crate) fn is_heavy(method: &axum::http::Method, headers: &axum::http::HeaderMap) -> bool {
    use axum::http::Method;
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE) {
        return false;
    }
    match headers.get(axum::http::header::CONTENT_LENGTH) {
        Some(len) => {
            len.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok()).is_none_or(|n| n > LIGHT_BODY)
        }
        None => headers.contains_key(axum::http::header::TRANSFER_ENCODING),
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;
    use std::sync::Arc;

    fn lanes(per_key: usize, queue: usize) -> Arc<Lanes> {
        Arc::new(Lanes { per_key, queue, lanes: Mutex::default() })
    }

    #[tokio::test]
    async fn one_turn_at_a_time_per_caller_others_go_on() {
        let lanes = lanes(1, 2);
        let first = lanes.turn([1; 32]).await.unwrap();
        // The same caller waits; another caller does not.
        let waiting = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.turn([1; 32]).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let other = lanes.turn([2; 32]).await;
        assert!(other.is_some());
        drop(other);
        drop(first);
        assert_eq!(waiting.await.unwrap(), Some(()));
        assert_eq!(lanes.len(), 0, "lanes are forgotten when their last user goes");
    }

    #[tokio::test]
    async fn a_full_lane_refuses_and_a_dropped_wait_gives_its_place_back() {
        let lanes = lanes(1, 1);
        let running = lanes.turn([1; 32]).await.unwrap();
        let wait = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.turn([1; 32]).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(lanes.turn([1; 32]).await.is_none(), "one running and one waiting: full");
        wait.abort();
        let _ = wait.await;
        let again = tokio::spawn({
            let lanes = lanes.clone();
            async move { lanes.turn([1; 32]).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        drop(running);
        assert_eq!(again.await.unwrap(), Some(()), "the aborted wait's place was given back");
        assert_eq!(lanes.len(), 0);
    }

    #[test]
    fn heavy_is_a_long_or_undeclared_body() {
        use axum::http::{HeaderMap, HeaderValue, Method};
        let with = |name: &'static str, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            h
        };
        assert!(!is_heavy(&Method::POST, &with("content-length", "65536")));
        assert!(is_heavy(&Method::POST, &with("content-length", "65537")));
        assert!(is_heavy(&Method::PUT, &with("content-length", "nonsense")));
        assert!(is_heavy(&Method::POST, &with("transfer-encoding", "chunked")));
        assert!(!is_heavy(&Method::POST, &HeaderMap::new()));
        assert!(!is_heavy(&Method::GET, &with("transfer-encoding", "chunked")));
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_proxy_and_only_its_nearest_hop() {
        let proxies = Proxies::parse("10.0.0.2, 10.0.0.3").unwrap();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.3".parse().unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From the proxy: the nearest hop that is not a proxy (the left-most 6.6.6.6 is the
        // client's own claim).
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("203.0.113.7"));
        // From anyone else: the header is the caller's own word, never read.
        assert_eq!(proxies.client(ip("198.51.100.1"), &headers), ip("198.51.100.1"));
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
        assert!(Proxies::parse("10.0.0.2, nope").is_err());
        assert_eq!(Proxies::default().client(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
    }
}
