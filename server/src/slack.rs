//! Slack channels: the app's credentials (`HANDRAIL_SLACK_BOT_TOKEN`,
//! `HANDRAIL_SLACK_SIGNING_SECRET`), where its Web API calls go (`HANDRAIL_SLACK_API_URL`),
//! and the checks on what a Slack channel names.
//!
//! This slice stores Slack channels; it does not post to Slack yet. A channel is refused
//! unless the server holds both credentials, so no member is promised messages (or buttons)
//! the server cannot send or check.

use crate::outbound;

/// Slack's Web API, unless `HANDRAIL_SLACK_API_URL` says otherwise.
const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Longest member display name, in characters.
const MAX_NAME_CHARS: usize = 80;

/// The Slack app this server acts as, read once at start. Prints `[redacted]` in `Debug`.
pub(crate) struct Slack {
    // The fields are read by the notification worker and the interactivity route of a later
    // slice; this one holds them so a channel is accepted only when they are set.
    #[allow(dead_code)]
    pub(crate) bot_token: String,
    #[allow(dead_code)]
    pub(crate) signing_secret: String,
    /// The Web API base, checked against the outbound policy like a webhook URL.
    #[allow(dead_code)]
    pub(crate) api_url: url::Url,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slack {{ api_url: {}, bot_token: [redacted], signing_secret: [redacted] }}", self.api_url)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Slack {
    /// The app of the environment: None when neither credential is set; an error when only
    /// one is, or when the API URL is not one the outbound policy lets the server call. The
    /// errors name variables, never their values.
    pub(crate) fn from_env() -> Result<Option<Slack>, String> {
        let token = var("HANDRAIL_SLACK_BOT_TOKEN");
        let secret = var("HANDRAIL_SLACK_SIGNING_SECRET");
        let (bot_token, signing_secret) = match (token, secret) {
            (None, None) => return Ok(None),
            (Some(t), Some(s)) => (t, s),
            _ => {
                return Err(
                    "HANDRAIL_SLACK_BOT_TOKEN and HANDRAIL_SLACK_SIGNING_SECRET are set together".into()
                )
            }
        };
        if !bot_token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("HANDRAIL_SLACK_BOT_TOKEN: printable ASCII without spaces".into());
        }
        let text = var("HANDRAIL_SLACK_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into());
        let api_url = outbound::check_url(text.trim_end_matches('/'), outbound::Networks::from_env()?)
            .map_err(|e| match e {
                outbound::UrlError::Invalid(why) => format!("HANDRAIL_SLACK_API_URL: {why}"),
                outbound::UrlError::Forbidden => {
                    "HANDRAIL_SLACK_API_URL: an address HANDRAIL_OUTBOUND_NETWORKS does not allow".into()
                }
            })?;
        Ok(Some(Slack { bot_token, signing_secret, api_url }))
    }
}

/// Checks a Slack conversation id: a public (`C…`) or private (`G…`) channel, 9 to 21
/// upper-case letters and digits.
pub(crate) fn check_channel_id(text: &str) -> Result<(), &'static str> {
    if slack_id(text, b"CG") {
        Ok(())
    } else {
        Err("channel is a Slack channel id: C or G, then upper-case letters and digits (9 to 21 in all)")
    }
}

/// Checks a Slack user id (`U…`, or `W…` on Enterprise Grid).
pub(crate) fn check_user_id(text: &str) -> Result<(), &'static str> {
    if slack_id(text, b"UW") {
        Ok(())
    } else {
        Err("slack_user is a Slack user id: U or W, then upper-case letters and digits (9 to 21 in all)")
    }
}

fn slack_id(text: &str, first: &[u8]) -> bool {
    let bytes = text.as_bytes();
    (9..=21).contains(&bytes.len())
        && first.contains(&bytes[0])
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Checks a member's display name: 1 to 80 characters, no control or invisible characters
/// (it is shown to people as the decider's name).
pub(crate) fn check_name(text: &str) -> Result<(), &'static str> {
    let count = text.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || text.trim() != text {
        return Err("name is 1 to 80 characters, without leading or trailing spaces");
    }
    if text.chars().any(|c| c.is_control()) || handrail_core::request::reveal_invisible(text) != text {
        return Err("name holds control or invisible characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert!(check_channel_id("C0123456789").is_ok());
        assert!(check_channel_id("G01234567").is_ok());
        for bad in ["C0123", "D0123456789", "c0123456789", "C0123456789\n", "C01234567890123456789X"] {
            assert!(check_channel_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_user_id("U0123ABCD").is_ok());
        assert!(check_user_id("W0123ABCD").is_ok());
        assert!(check_user_id("B0123ABCD").is_err());
        assert!(check_name("Alice Müller").is_ok());
        for bad in ["", " Alice", "Al\u{202e}ice", "Al\u{200b}ice", "A\u{7}", &"a".repeat(81)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
