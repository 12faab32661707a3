//! Outgoing webhooks: Standard Webhooks signatures (the core's `webhook` module), retries
//! with exponential backoff and jitter for 24 hours, and a delivery log.
//!
//! Deliveries are queued in the same transaction as the change they announce; this worker
//! sends what is due. A receiver that answers 2xx has it; anything else (an error status,
//! no answer within 10 s) is retried after `base · 2^attempt` (±20%, capped at an hour).

use std::time::Duration;

use handrail_core::webhook::{self, Secret};

use crate::store::Delivery;
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

/// Sends due deliveries, forever.
pub(crate) async fn worker(state: AppState) {
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
            // Requests made through the LetsPing layer are announced in their shape too.
            let letsping = crate::compat::letsping_delivery(&state, &delivery.body);
            let outcome = tokio::task::spawn_blocking(move || {
                let result = send(&delivery, letsping);
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

/// One attempt: the body, signed, to the endpoint. Ok(status) for 2xx. With `letsping`
/// (the body in LetsPing's shape and the project's LetsPing webhook secret), that body is
/// sent, signed both ways: Standard Webhooks and `x-letsping-signature`.
fn send(d: &Delivery, letsping: Option<(String, String)>) -> Result<u16, String> {
    let secret = Secret::parse(&d.secret).map_err(|e| e.to_string())?;
    let ts = crate::now();
    let body = letsping.as_ref().map_or(d.body.as_str(), |(body, _)| body.as_str());
    let signature = webhook::sign(&secret, &d.id, ts, body.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = ureq::post(&d.url)
        .timeout(Duration::from_secs(10))
        .set("content-type", "application/json")
        .set("webhook-id", &d.id)
        .set("webhook-timestamp", &ts.to_string())
        .set("webhook-signature", &signature);
    if let Some((_, lp_secret)) = &letsping {
        request = request.set(
            "x-letsping-signature",
            &crate::compat::letsping_signature(lp_secret, body.as_bytes(), now_ms()),
        );
    }
    let response = request.send_string(body);
    match response {
        Ok(r) => Ok(r.status()),
        Err(ureq::Error::Status(status, _)) => Err(format!("HTTP {status}")),
        Err(e) => Err(format!("unreachable: {e}")),
    }
}
