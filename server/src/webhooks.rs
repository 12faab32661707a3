//! Outgoing webhooks: Standard Webhooks signatures (the core's `webhook` module), retries
//! with exponential backoff and jitter for 24 hours, and a delivery log.
//!
//! Deliveries are queued in the same transaction as the change they announce — to every
//! registered endpoint, and a decision also to the callback URL its request named (through a
//! compatibility layer's [`DeliveryHook`]) — and this worker sends what is due. A receiver that answers 2xx has it;
//! anything else (an error status, a redirect, a TLS failure, no answer within 10 s) is
//! retried after `base · 2^attempt` (±20%, capped at an hour).
//!
//! https URLs are sent over rustls (ring): the certificate must chain to a Mozilla root
//! (webpki-roots) or to a CA of `HANDRAIL_WEBHOOK_CA_FILE`, and name the URL's host. There
//! is no setting that turns verification off, and a failed handshake is a failed attempt:
//! the body is never sent in clear text instead.

use std::error::Error as _;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use handrail_core::webhook::{self, Secret};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::store::{Delivery, RequestRow};
use crate::{now_ms, AppState};

/// Deliveries are retried for this long after they were queued, then marked failed.
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
const MAX_BACKOFF_MS: i64 = 3600 * 1000;

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

/// The HTTP agents of the worker, built once at start (see [`Agents::from_env`]).
#[derive(Clone)]
pub(crate) struct Agents {
    /// To registered endpoints: 10 s, no redirects.
    endpoints: ureq::Agent,
    /// To a request's own callback URL (see [`callback_agent`]).
    callbacks: ureq::Agent,
}

impl Agents {
    /// Both agents over the TLS trust of [`tls_config`], with `HANDRAIL_WEBHOOK_CA_FILE`'s
    /// certificates when it is set. An unreadable or invalid file is an error, so `handrail
    /// serve` refuses to start rather than trust other than what the operator said.
    pub(crate) fn from_env() -> Result<Agents, String> {
        let ca_file = std::env::var_os(CA_FILE_VAR).filter(|v| !v.is_empty());
        let tls = tls_config(ca_file.as_deref().map(Path::new))?;
        let endpoints = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            // A redirect is a failed attempt: it could lead an https delivery to http.
            .redirects(0)
            .tls_config(tls.clone())
            .build();
        Ok(Agents { endpoints, callbacks: callback_agent(tls) })
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

/// Sends due deliveries through `agents`, forever.
pub(crate) async fn worker(state: AppState, agents: Agents) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let due = match state.store.due_deliveries(now_ms(), 32) {
            Ok(due) => due,
            Err(e) => {
                crate::log::event(
                    crate::log::Level::Error,
                    "webhook worker",
                    serde_json::json!({ "error": e.0 }),
                );
                continue;
            }
        };
        for delivery in due {
            // A request made through a compatibility layer is announced in its shape too.
            let shaped = state.delivery_hooks.iter().find_map(|hook| hook.shape(&state, &delivery));
            let agents = agents.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let result = send(&agents, &delivery, shaped);
                (delivery, result)
            })
            .await;
            let Ok((delivery, result)) = outcome else { continue };
            let now = now_ms();
            let (delivered, text) = match result {
                Ok(status) => (true, format!("HTTP {status}")),
                Err(e) => (false, e),
            };
            let counter = if delivered {
                &state.metrics.webhooks_delivered
            } else {
                &state.metrics.webhooks_failed_attempts
            };
            crate::limits::Metrics::add(counter, 1);
            let next = (!delivered && now - delivery.created_ms < GIVE_UP_MS)
                .then(|| now + backoff(delivery.attempts));
            if let Err(e) = state.store.record_attempt(&delivery.id, delivered, &text, next, now) {
                crate::log::event(
                    crate::log::Level::Error,
                    "webhook worker",
                    serde_json::json!({ "error": e.0 }),
                );
            }
        }
    }
}

fn backoff(attempts: u32) -> i64 {
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
/// (a redirect included) and any failure to connect (TLS included) is `Err(reason)`. With
/// `shaped` (a layer's body and signature headers), that body is sent, signed both ways:
/// Standard Webhooks and the layer's headers. A request's own callback URL has no endpoint
/// secret: it is sent only when a layer signs it (never an unsigned body), through
/// [`callback_agent`].
fn send(agents: &Agents, d: &Delivery, shaped: Option<Shaped>) -> Result<u16, String> {
    let ts = crate::now();
    let body = shaped.as_ref().map_or(d.body.as_str(), |s| s.body.as_str());
    let mut request = if d.callback {
        if shaped.is_none() {
            return Err("no layer signs this callback".into());
        }
        agents.callbacks.post(&d.url)
    } else {
        agents.endpoints.post(&d.url)
    };
    request = request
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
    let response = request.send_string(body);
    match response {
        Ok(r) if (200..300).contains(&r.status()) => Ok(r.status()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(ureq::Error::Status(status, _)) => Err(format!("HTTP {status}")),
        Err(e) => Err(tls_reason(&e).unwrap_or_else(|| format!("unreachable: {e}"))),
    }
}

/// `tls: <rustls' error>` when a handshake failed (an untrusted certificate, another host's
/// name, no common protocol), for the delivery log.
fn tls_reason(e: &ureq::Error) -> Option<String> {
    let mut source = e.source();
    while let Some(err) = source {
        // rustls' errors reach ureq wrapped in an io::Error, whose `source` skips them.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &dyn std::error::Error);
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(format!("tls: {tls}"));
            }
        }
        source = err.source();
    }
    None
}

/// Longest callback URL, in bytes (as for registered endpoints).
pub(crate) const MAX_CALLBACK_URL: usize = 2048;

/// Which addresses a callback URL (named by an agent, not by an operator) may reach:
/// `HANDRAIL_CALLBACK_NETWORKS=public` refuses loopback and private networks too; the default
/// (`local`) allows them, since a self-hosted server calling a service beside it is ordinary.
/// Link-local (cloud metadata at 169.254.169.254), unspecified, broadcast and multicast
/// addresses are refused either way.
fn public_only() -> bool {
    static PUBLIC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PUBLIC.get_or_init(|| std::env::var("HANDRAIL_CALLBACK_NETWORKS").is_ok_and(|v| v == "public"))
}

/// Whether a callback may connect to `ip` (see [`public_only`]).
fn allowed(ip: IpAddr, public_only: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let never = v4.is_unspecified() || v4.is_link_local() || v4.is_broadcast() || v4.is_multicast();
            let local = v4.is_loopback() || v4.is_private() || a == 0 || (a == 100 && (64..128).contains(&b));
            !(never || (public_only && local))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return allowed(IpAddr::V4(v4), public_only);
            }
            let first = v6.segments()[0];
            let never = v6.is_unspecified() || v6.is_multicast() || (first & 0xffc0) == 0xfe80;
            let local = v6.is_loopback() || (first & 0xfe00) == 0xfc00;
            !(never || (public_only && local))
        }
    }
}

/// Checks a callback URL an agent names: http or https, at most 2048 bytes, a host, no
/// user name or password in it, and (for an address literal) an address callbacks may
/// reach. Host names are checked when they are resolved, at each attempt.
pub(crate) fn check_callback_url(text: &str) -> Result<(), &'static str> {
    if text.len() > MAX_CALLBACK_URL {
        return Err("callback_url is longer than 2048 bytes");
    }
    let url = url::Url::parse(text).map_err(|_| "callback_url is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("callback_url must be http or https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("callback_url must not carry credentials");
    }
    let ip = match url.host() {
        None => return Err("callback_url has no host"),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if ip.is_some_and(|ip| !allowed(ip, public_only())) {
        return Err("callback_url points at an address callbacks may not reach");
    }
    Ok(())
}

/// The HTTP agent of callback deliveries: 10 s, no redirects (a 3xx is a failed attempt,
/// so a redirect cannot lead elsewhere), and a resolver that keeps only the addresses
/// [`allowed`] lets through, so a host name that resolves to a refused address (at any
/// attempt, DNS rebinding included) is never connected to. For https the TLS handshake
/// runs over the very connection made to one of those addresses (ureq connects, then hands
/// the socket to rustls), so the check holds for TLS too.
fn callback_agent(tls: Arc<rustls::ClientConfig>) -> ureq::Agent {
    let only_public = public_only();
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .tls_config(tls)
        .resolver(move |netloc: &str| -> std::io::Result<Vec<SocketAddr>> {
            let addrs: Vec<SocketAddr> =
                netloc.to_socket_addrs()?.filter(|a| allowed(a.ip(), only_public)).collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the callback host has no address callbacks may reach",
                ));
            }
            Ok(addrs)
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        for (addr, local, public) in [
            ("127.0.0.1", true, false),
            ("10.1.2.3", true, false),
            ("100.64.0.1", true, false),
            ("::1", true, false),
            ("fd00::1", true, false),
            ("93.184.216.34", true, true),
            ("2606:2800:220:1::1", true, true),
            ("169.254.169.254", false, false),
            ("fe80::1", false, false),
            ("::ffff:169.254.169.254", false, false),
            ("0.0.0.0", false, false),
            ("224.0.0.1", false, false),
        ] {
            assert_eq!(allowed(ip(addr), false), local, "{addr}");
            assert_eq!(allowed(ip(addr), true), public, "{addr}");
        }
    }

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
    fn callback_urls() {
        assert!(check_callback_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_callback_url("https://hooks.example.com/lp?x=1").is_ok());
        assert!(check_callback_url("ftp://example.com/").is_err());
        assert!(check_callback_url("http://user:pw@example.com/").is_err());
        assert!(check_callback_url("http://user@example.com/").is_err());
        assert!(check_callback_url("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check_callback_url("http://[fe80::1]/").is_err());
        assert!(check_callback_url("not a url").is_err());
        assert!(check_callback_url(&format!("http://example.com/{}", "a".repeat(2048))).is_err());
    }
}
