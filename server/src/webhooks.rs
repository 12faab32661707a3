//! Outgoing webhooks: Standard Webhooks signatures (the core's `webhook` module), retries
//! with exponential backoff and jitter for 24 hours, and a delivery log.
//!
//! Deliveries are queued in the same transaction as the change they announce — to every
//! registered endpoint, and a decision also to the callback URL its request named (through a
//! compatibility layer's [`DeliveryHook`]) — and this worker sends what is due. A receiver that answers 2xx has it;
//! anything else (an error status, a redirect, a TLS failure, no connection within 3 s, no
//! answer within 10 s) is retried after `base · 2^attempt` (±20%, capped at an hour).
//!
//! Every call goes through the one outbound policy ([`crate::outbound`]): the agent's
//! resolver keeps only the addresses it allows, and redirects are never followed.
//!
//! Endpoints are isolated from each other: at most [`PER_ENDPOINT`] attempts in flight per
//! endpoint (callback URLs count by URL), [`IN_FLIGHT`] in all, and callbacks — URLs agents
//! name — never more than half of that. An endpoint that fails is backed off on its own
//! (exponentially, one probe at a time) and, after `HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS` of
//! nothing but failures (5 days), disabled, so a hanging receiver delays only itself.
//!
//! https URLs are sent over rustls (ring): the certificate must chain to a Mozilla root
//! (webpki-roots) or to a CA of `HANDRAIL_WEBHOOK_CA_FILE`, and name the URL's host. There
//! is no setting that turns verification off, and a failed handshake is a failed attempt:
//! the body is never sent in clear text instead.
//!
//! The delivery log keeps only a class of each failure (`HTTP 5xx`, `timed out`,
//! `connection failed`, `tls: …`, [`crate::outbound::REFUSED`]), never the remote's words.

use std::collections::HashMap;
use std::error::Error as _;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use handrail_core::webhook::{self, Secret};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::outbound::{self, Networks};
use crate::store::{Delivery, RequestRow, Room};
use crate::{now_ms, AppState};

/// Deliveries are retried for this long after they were queued, then marked failed.
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
const MAX_BACKOFF_MS: i64 = 3600 * 1000;

/// Most attempts in flight to one endpoint (or one callback URL) at once.
pub(crate) const PER_ENDPOINT: usize = 4;
/// Most attempts in flight in all; callbacks get at most half of them.
pub(crate) const IN_FLIGHT: usize = 32;
/// Most runs of failures the worker remembers before it forgets those no longer resting.
const MAX_FAILING: usize = 10_000;
/// How long a claimed delivery is kept from other passes: well past an attempt's 10 s.
const LEASE_MS: i64 = 60_000;
/// Time to connect (each address), and for a whole attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an endpoint may fail every attempt before it is disabled:
/// `HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS` (tests shorten it), else 5 days.
fn disable_after_ms() -> i64 {
    std::env::var("HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|&v| v > 0)
        .map_or(5 * 86_400 * 1000, |v| v.saturating_mul(1000))
}

/// The first retry delay: `HANDRAIL_WEBHOOK_RETRY_MS` (tests shorten it), else one second.
fn base_ms() -> i64 {
    std::env::var("HANDRAIL_WEBHOOK_RETRY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(1000)
}

/// The variable naming a PEM file of CA certificates that deliveries trust besides the
/// Mozilla roots (a private CA; the tests' own).
pub(crate) const CA_FILE_VAR: &str = "HANDRAIL_WEBHOOK_CA_FILE";

/// Most CA certificates read from [`CA_FILE_VAR`]'s file, and its largest size.
const MAX_CA_CERTS: usize = 1000;
const MAX_CA_FILE: u64 = 4 << 20;

/// The HTTP agent of the worker, built once at start (see [`Agents::from_env`]).
#[derive(Clone)]
pub(crate) struct Agents {
    /// To endpoints and callback URLs alike: the outbound policy's resolver, 3 s to
    /// connect, 10 s in all, no redirects (a 3xx is a failed attempt, so a redirect can lead
    /// neither elsewhere nor from https to http). For https the TLS handshake runs over the
    /// very connection made to a checked address (ureq connects, then hands the socket to
    /// rustls), so the check holds for TLS too.
    agent: ureq::Agent,
}

impl Agents {
    /// The agent over the TLS trust of [`tls_config`], with `HANDRAIL_WEBHOOK_CA_FILE`'s
    /// certificates when it is set, and the networks of `HANDRAIL_OUTBOUND_NETWORKS`. An
    /// unreadable or invalid file or setting is an error, so `handrail serve` refuses to
    /// start rather than trust or reach other than what the operator said.
    pub(crate) fn from_env() -> Result<Agents, String> {
        let networks = Networks::from_env()?;
        let ca_file = std::env::var_os(CA_FILE_VAR).filter(|v| !v.is_empty());
        let tls = tls_config(ca_file.as_deref().map(Path::new))?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .redirects(0)
            .tls_config(tls)
            .resolver(outbound::Resolver(networks))
            .build();
        Ok(Agents { agent })
    }

    /// The agent, for the other outgoing calls the same policy governs (Slack's Web API).
    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }
}

/// The TLS client configuration of every delivery: rustls with ring, TLS 1.2 and 1.3, and as
/// trust anchors the Mozilla roots plus the PEM certificates of `ca_file`. The file must hold
/// at least one certificate and nothing malformed; errors name [`CA_FILE_VAR`].
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let fail = |what: String| format!("{CA_FILE_VAR}={}: {what}", path.display());
        let mut pem = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
            .map_err(|e| fail(e.to_string()))?;
        if pem.len() as u64 > MAX_CA_FILE {
            return Err(fail(format!("larger than {MAX_CA_FILE} bytes")));
        }
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("not a PEM certificate file: {e}")))?;
            roots.add(cert).map_err(|e| fail(format!("not a CA certificate: {e}")))?;
            added += 1;
            if added > MAX_CA_CERTS {
                return Err(fail(format!("more than {MAX_CA_CERTS} certificates")));
            }
        }
        if added == 0 {
            return Err(fail("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An endpoint's run of failures, in memory: how many in a row, and until when it rests.
#[derive(Debug, Clone, Copy)]
struct Failing {
    failures: u32,
    until_ms: i64,
}

/// What one finished attempt hands back to the worker.
type Attempt = (Delivery, Result<u16, String>);

/// Sends due deliveries through `agents`, forever: claims what the endpoints have room for,
/// sends each on the blocking pool, and records each outcome as it comes.
pub(crate) async fn worker(state: AppState, agents: Agents) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut running: tokio::task::JoinSet<Attempt> = tokio::task::JoinSet::new();
    let mut held: HashMap<String, usize> = HashMap::new();
    let mut failing: HashMap<String, Failing> = HashMap::new();
    let mut callbacks = 0usize;
    let mut seen_changes = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(attempt) = done {
                    finish(&state, attempt, &mut held, &mut failing, &mut callbacks);
                }
            }
        }
        while let Some(done) = running.try_join_next() {
            if let Ok(attempt) = done {
                finish(&state, attempt, &mut held, &mut failing, &mut callbacks);
            }
        }
        let changes = state.endpoints_changed.load(std::sync::atomic::Ordering::Relaxed);
        if changes != seen_changes {
            seen_changes = changes;
            failing.clear();
        }
        let free = IN_FLIGHT.saturating_sub(running.len());
        if free == 0 {
            continue;
        }
        let now = now_ms();
        if failing.len() > MAX_FAILING {
            // Forget the runs that rest no more and have nothing in flight (many callback
            // URLs that failed once); their deliveries keep their own backoff.
            failing.retain(|key, f| f.until_ms > now || held.contains_key(key));
        }
        let mut room = Room { per_endpoint: PER_ENDPOINT, webhooks: true, ..Room::default() };
        for (key, f) in &failing {
            // A failing endpoint rests, then gets one probe at a time.
            let cap: usize = if f.until_ms > now { 0 } else { 1 };
            room.endpoints.insert(key.clone(), cap.saturating_sub(held.get(key).copied().unwrap_or(0)));
        }
        for (key, n) in &held {
            room.endpoints.entry(key.clone()).or_insert(PER_ENDPOINT.saturating_sub(*n));
        }
        // Registered endpoints first, then callback URLs — which agents name — within half
        // of all slots, so no number of callback URLs can crowd the endpoints out.
        let mut due = match claim(&state, now, free, &room) {
            Some(due) => due,
            None => continue,
        };
        let callback_room = (IN_FLIGHT / 2).saturating_sub(callbacks).min(free - due.len());
        if callback_room > 0 {
            room.webhooks = false;
            room.callbacks = true;
            due.extend(claim(&state, now, callback_room, &room).unwrap_or_default());
        }
        for delivery in due {
            *held.entry(delivery.endpoint_key()).or_insert(0) += 1;
            if delivery.callback {
                callbacks += 1;
            }
            // A request made through a compatibility layer is announced in its shape too.
            // (Shaping may read the store: off the runtime's worker, as every store call.)
            let shaped = crate::blocking(|| {
                state.delivery_hooks.iter().find_map(|hook| hook.shape(&state, &delivery))
            });
            let agents = agents.clone();
            running.spawn_blocking(move || {
                let result = send(&agents, &delivery, shaped);
                (delivery, result)
            });
        }
    }
}

/// Claims up to `limit` due deliveries within `room` (None, logged, when the store fails).
fn claim(state: &AppState, now: i64, limit: usize, room: &Room) -> Option<Vec<Delivery>> {
    match crate::blocking(|| state.store.claim_deliveries(now, limit, LEASE_MS, room)) {
        Ok(due) => Some(due),
        Err(e) => {
            crate::log::event(
                crate::log::Level::Error,
                "webhook worker",
                serde_json::json!({ "error": e.0 }),
            );
            None
        }
    }
}

/// Records one attempt's outcome and the endpoint's run of failures.
fn finish(
    state: &AppState,
    (delivery, result): Attempt,
    held: &mut HashMap<String, usize>,
    failing: &mut HashMap<String, Failing>,
    callbacks: &mut usize,
) {
    let key = delivery.endpoint_key();
    if let Some(n) = held.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            held.remove(&key);
        }
    }
    if delivery.callback {
        *callbacks = callbacks.saturating_sub(1);
    }
    let now = now_ms();
    let (delivered, text) = match result {
        Ok(status) => (true, format!("HTTP {status}")),
        Err(e) => (false, e),
    };
    let counter =
        if delivered { &state.metrics.webhooks_delivered } else { &state.metrics.webhooks_failed_attempts };
    crate::limits::Metrics::add(counter, 1);
    if delivered {
        failing.remove(&key);
    } else {
        let f = failing.entry(key).or_insert(Failing { failures: 0, until_ms: now });
        f.until_ms = now + backoff(f.failures);
        f.failures = f.failures.saturating_add(1);
    }
    let next =
        (!delivered && now - delivery.created_ms < GIVE_UP_MS).then(|| now + backoff(delivery.attempts));
    let recorded = crate::blocking(|| {
        state.store.record_attempt(&delivery.id, delivered, &text, next, now, disable_after_ms())
    });
    match recorded {
        Ok(Some(webhook)) => crate::log::event(
            crate::log::Level::Warn,
            "webhook disabled after failing every attempt",
            serde_json::json!({ "webhook": webhook }),
        ),
        Ok(None) => {}
        Err(e) => {
            crate::log::event(crate::log::Level::Error, "webhook worker", serde_json::json!({ "error": e.0 }))
        }
    }
}

pub(crate) fn backoff(attempts: u32) -> i64 {
    let delay = base_ms().saturating_mul(1i64 << attempts.min(20)).min(MAX_BACKOFF_MS);
    let mut r = [0u8; 2];
    let _ = handrail_core::crypto::fill_random(&mut r);
    // ±20% jitter, so a crowd of failed deliveries does not retry in step.
    let jitter = (i64::from(u16::from_le_bytes(r)) % 41 - 20) * delay / 100;
    delay + jitter
}

/// What a compatibility layer adds to the deliveries of the requests made through it: the
/// callback URL a request names, and the layer's own body shape and signature headers. The
/// worker and the store know only this interface; each layer registers its hook
/// (`compat::delivery_hooks`).
pub(crate) trait DeliveryHook: Send + Sync {
    /// The URL `row` asked its decision to be delivered to, if it is this layer's request and
    /// names one that passes the outbound rules.
    fn callback(&self, row: &RequestRow) -> Option<String>;
    /// For a delivery about a request of this layer: the body to send instead and the headers
    /// that sign it. None when the delivery is not this layer's.
    fn shape(&self, state: &AppState, delivery: &Delivery) -> Option<Shaped>;
}

/// A delivery's body in a layer's shape, with the headers that sign it.
#[derive(Debug, Clone)]
pub(crate) struct Shaped {
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// One attempt: the body, signed, to the endpoint. Ok(status) for 2xx; any other status
/// (a redirect included) and any failure to connect (TLS included) is `Err(reason)`, a
/// class of the failure (see [`failure`]). With `shaped` (a layer's body and signature
/// headers), that body is sent, signed both ways: Standard Webhooks and the layer's headers.
/// A request's own callback URL has no endpoint secret: it is sent only when a layer signs
/// it (never an unsigned body).
fn send(agents: &Agents, d: &Delivery, shaped: Option<Shaped>) -> Result<u16, String> {
    let ts = crate::now();
    let body = shaped.as_ref().map_or(d.body.as_str(), |s| s.body.as_str());
    if d.callback && shaped.is_none() {
        return Err("no layer signs this callback".into());
    }
    // The URL was checked when it was registered or named; the policy may have changed
    // since (a restart with `public`), so literals are checked again before any connection.
    if let Err(outbound::UrlError::Forbidden) = outbound::check_url(&d.url, networks()) {
        return Err(outbound::REFUSED.into());
    }
    let mut request = agents
        .agent
        .post(&d.url)
        .set("content-type", "application/json")
        .set("webhook-id", &d.id)
        .set("webhook-timestamp", &ts.to_string());
    if let Some(secret) = &d.secret {
        let secret = Secret::parse(secret).map_err(|e| e.to_string())?;
        let signature = webhook::sign(&secret, &d.id, ts, body.as_bytes()).map_err(|e| e.to_string())?;
        request = request.set("webhook-signature", &signature);
    }
    for (name, value) in shaped.iter().flat_map(|s| &s.headers) {
        request = request.set(name, value);
    }
    match request.send_string(body) {
        Ok(r) if (200..300).contains(&r.status()) => Ok(r.status()),
        Ok(r) => Err(status_class(r.status())),
        Err(ureq::Error::Status(status, _)) => Err(status_class(status)),
        Err(e) => Err(failure(&e)),
    }
}

/// `HTTP 4xx`: what the log keeps of a failed answer.
fn status_class(status: u16) -> String {
    format!("HTTP {}xx", status / 100)
}

/// A failed attempt's class for the delivery log: the policy's [`outbound::REFUSED`], `tls:
/// untrusted certificate`, `tls: certificate for another name`, `tls: handshake failed`,
/// `timed out` or `connection failed`. Never the remote's error text: the log must not turn
/// the server into a probe of what answers where.
pub(crate) fn failure(e: &ureq::Error) -> String {
    if outbound::is_refused(e) {
        return outbound::REFUSED.into();
    }
    let mut source = e.source();
    while let Some(err) = source {
        // rustls' errors reach ureq wrapped in an io::Error, whose `source` skips them.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &dyn std::error::Error);
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                use rustls::CertificateError as C;
                return match tls {
                    rustls::Error::InvalidCertificate(C::UnknownIssuer) => "tls: untrusted certificate",
                    rustls::Error::InvalidCertificate(
                        C::NotValidForName | C::NotValidForNameContext { .. },
                    ) => "tls: certificate for another name",
                    rustls::Error::InvalidCertificate(_) => "tls: invalid certificate",
                    _ => "tls: handshake failed",
                }
                .into();
            }
            if let Some(io) = candidate.downcast_ref::<std::io::Error>() {
                if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                    return "timed out".into();
                }
            }
        }
        source = err.source();
    }
    "connection failed".into()
}

/// The networks outgoing calls may reach ([`Networks::from_env`], read once; `serve` refused
/// to start on a bad value, so the fallback never serves).
pub(crate) fn networks() -> Networks {
    static NETWORKS: std::sync::OnceLock<Networks> = std::sync::OnceLock::new();
    *NETWORKS.get_or_init(|| Networks::from_env().unwrap_or(Networks::Public))
}

/// Checks a callback URL an agent names, by the outbound policy ([`outbound::check_url`]):
/// http or https, at most 2048 bytes, a host, no credentials, and for an address literal or
/// `localhost` a host the policy allows. Host names are checked as they resolve, at each
/// attempt.
pub(crate) fn check_callback_url(text: &str) -> Result<(), &'static str> {
    match outbound::check_url(text, networks()) {
        Ok(_) => Ok(()),
        Err(outbound::UrlError::Forbidden) => {
            Err("callback_url points at an address outgoing calls may not reach")
        }
        Err(outbound::UrlError::Invalid(why)) => Err(match why {
            "longer than 2048 bytes" => "callback_url is longer than 2048 bytes",
            "not http or https" => "callback_url must be http or https",
            "carries credentials" => "callback_url must not carry credentials",
            "has no host" => "callback_url has no host",
            _ => "callback_url is not a URL",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_are_used_whole_or_refused() {
        let roots = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(roots > 100, "the Mozilla roots are built in");
        assert!(tls_config(None).is_ok());
        let dir = std::env::temp_dir().join(format!("handrail-ca-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("written");
        let big = dir.join("big.pem");
        std::fs::write(&big, vec![b'\n'; (MAX_CA_FILE + 1) as usize]).expect("written");
        for (file, why) in [(&missing, "No such file"), (&empty, "no PEM certificate"), (&big, "larger than")]
        {
            let err = tls_config(Some(file)).expect_err("refused");
            assert!(err.starts_with("HANDRAIL_WEBHOOK_CA_FILE=") && err.contains(why), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn failures_keep_only_a_class() {
        assert_eq!(status_class(503), "HTTP 5xx");
        assert_eq!(status_class(302), "HTTP 3xx");
        assert_eq!(status_class(404), "HTTP 4xx");
        assert!(check_callback_url("https://hooks.example.com/lp?x=1").is_ok());
        assert!(check_callback_url("ftp://example.com/").is_err());
        assert!(check_callback_url("http://user:pw@example.com/").is_err());
        assert!(check_callback_url("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check_callback_url(&format!("http://example.com/{}", "a".repeat(2048))).is_err());
    }
}
