//! Requests from Slack (interactivity, slash commands, events), as Slack's "Verifying
//! requests from Slack" describes them: `X-Slack-Signature: v0=<hex HMAC-SHA256>` over
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`, keyed with the app's signing secret.
//!
//! Sans-IO like the rest of the module: the caller passes `now`. The timestamp is checked
//! before any MAC is computed, so a replay of an old request costs nothing. Errors carry the
//! same stable codes as Standard Webhooks: `webhook_header`, `webhook_timestamp`,
//! `webhook_signature`.

use crate::crypto::{hmac_sha256, mac_eq};
use crate::encoding::hex_decode;
use crate::error::{Error, Result};

/// How far a request's timestamp may be from `now`, in seconds, either way (Slack's five
/// minutes).
pub const TOLERANCE_SECS: u64 = 300;

/// Verifies one request from Slack.
///
/// `timestamp` is the `X-Slack-Request-Timestamp` header, `signature` the
/// `X-Slack-Signature` header, `body` the raw body exactly as received (before any form
/// decoding).
pub fn verify_slack(
    signing_secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<()> {
    let ts = super::parse_timestamp(timestamp).map_err(|_| Error::WebhookHeader {
        header: "x-slack-request-timestamp",
        reason: "expected Unix time digits",
    })?;
    if ts.abs_diff(now) > TOLERANCE_SECS {
        return Err(Error::WebhookTimestamp);
    }
    let hex = signature.strip_prefix("v0=").filter(|h| h.len() == 64).ok_or(Error::WebhookHeader {
        header: "x-slack-signature",
        reason: "expected v0= and 64 hex digits",
    })?;
    let received = hex_decode(hex).map_err(|_| Error::WebhookHeader {
        header: "x-slack-signature",
        reason: "expected v0= and 64 hex digits",
    })?;
    let mac = hmac_sha256(signing_secret, &[b"v0:", timestamp.as_bytes(), b":", body]);
    if mac_eq(&mac, &received) {
        Ok(())
    } else {
        Err(Error::WebhookSignature)
    }
}

/// The `X-Slack-Signature` value for `body` at `timestamp`: what Slack would send. For tests
/// and local stand-ins of Slack.
pub fn sign_slack(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let ts = itoa::Buffer::new().format(timestamp).to_owned();
    let mac = hmac_sha256(signing_secret, &[b"v0:", ts.as_bytes(), b":", body]);
    format!("v0={}", crate::encoding::hex_encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example from "Verifying requests from Slack".
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const TS: i64 = 1531420618;

    #[test]
    fn slack_published_example() {
        assert_eq!(sign_slack(SECRET, TS, BODY), SIGNATURE);
        verify_slack(SECRET, "1531420618", BODY, SIGNATURE, TS).unwrap();
        verify_slack(SECRET, "1531420618", BODY, SIGNATURE, TS + 300).unwrap();
        verify_slack(SECRET, "1531420618", BODY, SIGNATURE, TS - 300).unwrap();
    }

    #[test]
    fn slack_refusals_have_stable_codes() {
        let code = |ts: &str, body: &[u8], sig: &str, now: i64| {
            verify_slack(SECRET, ts, body, sig, now).unwrap_err().code()
        };
        assert_eq!(code("1531420618", BODY, SIGNATURE, TS + 301), "webhook_timestamp");
        assert_eq!(code("1531420618", BODY, SIGNATURE, TS - 301), "webhook_timestamp");
        assert_eq!(code("1531420618", b"token=other", SIGNATURE, TS), "webhook_signature");
        assert_eq!(code("1531420619", BODY, &sign_slack(SECRET, TS, BODY), TS), "webhook_signature");
        assert_eq!(code("", BODY, SIGNATURE, TS), "webhook_header");
        assert_eq!(code("-1531420618", BODY, SIGNATURE, TS), "webhook_header");
        assert_eq!(code("1531420618", BODY, "v1=a2114d57", TS), "webhook_header");
        assert_eq!(code("1531420618", BODY, &SIGNATURE[..60], TS), "webhook_header");
        assert_eq!(code("1531420618", BODY, &SIGNATURE.replace('a', "z"), TS), "webhook_header");
    }
}
