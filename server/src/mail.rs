//! E-mail channels: the SMTP relay (`HANDRAIL_SMTP_URL`, lettre), the message a request is
//! announced with, and the worker that drains the `notifications` outbox.
//!
//! Notifications are queued by the store in the transaction that writes the request (see
//! [`crate::store::Channels`]), so a stored request is never announced zero times and a
//! request that was not stored is never announced. This worker sends what is due, one
//! message per addressee, each with its own decision link ([`crate::links::LinkKey::decide_link`]);
//! a failure is logged (a class, never the relay's words or the credentials) and retried with
//! the webhook worker's backoff until the request's deadline or a day, whichever comes first.
//! A permanent refusal by the relay (5xx) is not retried. A channel's reminder
//! ([`crate::reminders`]) is the same message with a `Reminder:` subject and the addressee's
//! link (the same signed link: it names the addressee, the request and the deadline).
//!
//! Outgoing mail goes only to the configured relay: no address of a message is ever
//! resolved or connected to by the server itself.
//!
//! An encrypted payload is never put into a message, neither as ciphertext nor otherwise: the
//! message says it is end-to-end encrypted and links to the dashboard.

use std::sync::Arc;
use std::time::Duration;

use handrail_core::request::{reveal_invisible, RequestSummary, Status};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::{json, Value};

use crate::store::{Notification, RequestRow};
use crate::{now_ms, AppState};

/// How long a claimed notification is kept from other passes: well past an attempt.
const LEASE_MS: i64 = 120_000;
/// Notifications are given up this long after they were queued (or at the request's deadline).
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
/// Most notifications claimed per pass.
const BATCH: usize = 16;
/// Most bytes of a payload a message shows; the decision page shows all of it.
const MAX_SHOWN: usize = 16 * 1024;

/// The relay and the sender, read once at start.
pub(crate) struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the relay's credentials.
        f.write_str("Mailer([redacted])")
    }
}

impl Mailer {
    /// The relay of `HANDRAIL_SMTP_URL` (None when it is unset): `smtp://host:port` (plain),
    /// `smtp://host:port?tls=starttls` (STARTTLS required), `smtps://host:port` (implicit
    /// TLS), credentials as `user:password@`. It needs `HANDRAIL_SMTP_FROM` (the sender) and
    /// `HANDRAIL_PUBLIC_URL` (where the links in messages point): without either, an error, so
    /// `serve` refuses to start rather than send mail nobody can use. Errors never repeat the
    /// URL (it may hold a password).
    pub(crate) fn from_env() -> Result<Option<Mailer>, String> {
        let Some(url) = std::env::var("HANDRAIL_SMTP_URL").ok().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let mut url =
            url::Url::parse(url.trim()).map_err(|_| "HANDRAIL_SMTP_URL is not a URL".to_string())?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err("HANDRAIL_SMTP_URL must be smtp:// or smtps://".into());
        }
        // `tls=starttls` is lettre's `tls=required`; `opportunistic` would fall back to
        // clear text, so it is not offered.
        let tls: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut query = Vec::new();
        for (name, value) in tls {
            match (name.as_str(), value.as_str()) {
                ("tls", "starttls" | "required") => query.push("tls=required"),
                _ => return Err("HANDRAIL_SMTP_URL: the only query is tls=starttls".into()),
            }
        }
        url.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
        let transport = SmtpTransport::from_url(url.as_str())
            .map_err(|_| "HANDRAIL_SMTP_URL: not a usable SMTP URL".to_string())?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = std::env::var("HANDRAIL_SMTP_FROM")
            .map_err(|_| "HANDRAIL_SMTP_URL needs HANDRAIL_SMTP_FROM (the sender's address)".to_string())?;
        let from: Mailbox =
            from.trim().parse().map_err(|_| "HANDRAIL_SMTP_FROM is not an e-mail address".to_string())?;
        if std::env::var("HANDRAIL_PUBLIC_URL").map_or(true, |u| u.trim().is_empty()) {
            return Err("HANDRAIL_SMTP_URL needs HANDRAIL_PUBLIC_URL (the decision links point there)".into());
        }
        Ok(Some(Mailer { transport, from }))
    }
}

/// Checks an addressee: ASCII, at most 254 bytes, `local@domain` with a dot-atom local part
/// of at most 64 bytes and a domain of at least two DNS labels. The answer is the address
/// lower-cased (how it is stored, matched and named in `email:…` actors).
pub(crate) fn check_address(text: &str) -> Result<String, &'static str> {
    if text.is_empty() || text.len() > 254 || !text.is_ascii() {
        return Err("an address is 1 to 254 ASCII characters");
    }
    let (local, domain) = text.rsplit_once('@').ok_or("an address is local@domain")?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local.is_empty()
        || local.len() > 64
        || local.split('.').any(|part| part.is_empty() || !part.chars().all(atext))
    {
        return Err("an address's local part is a dot-atom of at most 64 characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("an address's domain is a host name of at least two labels");
    }
    let address = text.to_ascii_lowercase();
    address.parse::<lettre::Address>().map_err(|_| "not an e-mail address")?;
    Ok(address)
}

/// Sends due notifications, forever (one at a time, on the blocking pool).
pub(crate) async fn worker(state: AppState, mailer: Arc<Mailer>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let due = crate::blocking(|| {
            state.store.claim_notifications(crate::store::ChannelKind::Email, now_ms(), BATCH, LEASE_MS)
        });
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                crate::log::event(crate::log::Level::Error, "mail worker", json!({ "error": e.0 }));
                continue;
            }
        };
        for n in due {
            let (state2, mailer) = (state.clone(), mailer.clone());
            let attempt = tokio::task::spawn_blocking(move || attempt(&state2, &mailer, &n)).await;
            if let Err(e) = attempt {
                crate::log::event(crate::log::Level::Error, "mail worker", json!({ "error": e.to_string() }));
            }
        }
    }
}

/// One attempt at one notification, recorded.
fn attempt(state: &AppState, mailer: &Mailer, n: &Notification) {
    let row = match state.store.request(&n.project, &n.request) {
        Ok(row) => row,
        Err(e) => {
            crate::log::event(crate::log::Level::Error, "mail worker", json!({ "error": e.0 }));
            return; // the lease runs out and it is tried again
        }
    };
    let now = now_ms();
    let (sent, outcome, deadline_ms) = match row {
        // Decided (or gone) before it was sent: nobody needs to be asked any more.
        None => (true, "not sent: the request is gone".to_string(), 0),
        Some(row) if n.event == crate::reminders::REMINDER => remind(state, mailer, n, &row, now),
        Some(row) if row.status != Status::Pending || row.expires_at * 1000 <= now => {
            (true, format!("not sent: the request is {}", row.status), 0)
        }
        Some(row) => match send(state, mailer, n, &row) {
            Ok(()) => (true, "sent".to_string(), 0),
            Err(class) => (false, class, row.expires_at * 1000),
        },
    };
    let retry = !sent && !outcome.starts_with("refused") && now - n.created_ms < GIVE_UP_MS;
    let next = retry.then(|| now + crate::webhooks::backoff(n.attempts)).filter(|&t| t < deadline_ms);
    let level = if sent { crate::log::Level::Info } else { crate::log::Level::Warn };
    crate::log::event(
        level,
        if sent { "e-mail notification done" } else { "e-mail notification failed" },
        json!({
            "notification": n.id, "request": n.request, "event": n.event, "attempt": n.attempts + 1,
            "outcome": outcome, "retry": next.is_some(),
        }),
    );
    if let Err(e) = state.store.record_notification(&n.id, sent, &outcome, next, now) {
        crate::log::event(crate::log::Level::Error, "mail worker", json!({ "error": e.0 }));
    }
}

/// A reminder ([`crate::reminders`]): sent as the first message was, unless it no longer
/// makes sense. (sent or done, outcome, deadline of retries) as [`attempt`] records them.
fn remind(
    state: &AppState,
    mailer: &Mailer,
    n: &Notification,
    row: &RequestRow,
    now: i64,
) -> (bool, String, i64) {
    match crate::reminders::why_not(state, n, row, now) {
        Ok(Some(why)) => (true, why, 0),
        // Unknown: tried again after the backoff.
        Err(e) => {
            crate::log::event(crate::log::Level::Error, "mail worker", json!({ "error": e.0 }));
            (false, "internal: the store could not be read".into(), row.expires_at * 1000)
        }
        Ok(None) => match send(state, mailer, n, row) {
            Ok(()) => (true, "sent".to_string(), 0),
            Err(class) => (false, class, row.expires_at * 1000),
        },
    }
}

/// Builds and sends the message; the error is a class of the failure.
fn send(state: &AppState, mailer: &Mailer, n: &Notification, row: &RequestRow) -> Result<(), String> {
    let to: Mailbox = n.address.parse().map_err(|_| "refused: not an address".to_string())?;
    let link = state
        .blob_links
        .decide_link(&row.project, &row.id, &n.address, row.expires_at)
        .map_err(|_| "internal: no link".to_string())?;
    let dashboard = format!("{}/#/requests/{}", state.blob_links.base(), row.id);
    let view = View::of(row);
    let reminder = n.event == crate::reminders::REMINDER;
    let subject = format!(
        "{}[Handrail] {} approval{}: {} {}",
        if reminder { "Reminder: " } else { "" },
        view.priority,
        if n.event == "request.escalated" { " (escalated)" } else { "" },
        line(&row.service),
        line(&row.action)
    );
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(view.text(&link, &dashboard, reminder)))
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(view.html(&link, &dashboard, reminder)),
                ),
        )
        .map_err(|_| "refused: the message could not be built".to_string())?;
    match mailer.transport.send(&message) {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err("refused: the relay refused it permanently (5xx)".into()),
        Err(e) if e.is_transient() => Err("the relay deferred it (4xx)".into()),
        Err(e) if e.is_timeout() => Err("timed out".into()),
        Err(_) => Err("connection failed".into()),
    }
}

/// A single line for a header or a heading: invisible characters shown, line breaks gone.
pub(crate) fn line(text: &str) -> String {
    reveal_invisible(text).replace(['\r', '\n'], " ")
}

/// What a message and the decision page show of a request.
pub(crate) struct View {
    pub(crate) service: String,
    pub(crate) action: String,
    pub(crate) priority: String,
    pub(crate) role: String,
    /// Why the firewall held it (`context.firewall`), as lines.
    pub(crate) firewall: Vec<String>,
    /// The deadline, RFC 3339 UTC.
    pub(crate) deadline: String,
    /// The payload pretty-printed, None when it is end-to-end encrypted.
    pub(crate) payload: Option<String>,
}

impl View {
    pub(crate) fn of(row: &RequestRow) -> View {
        let summary = RequestSummary::of(row);
        let priority = serde_json::to_value(row.priority)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut firewall = Vec::new();
        if let Some(fw) = row.context.as_ref().and_then(|c| c.get("firewall")) {
            if let Some(action) = fw.get("action").and_then(Value::as_str) {
                firewall.push(format!("verdict: {}", line(action)));
            }
            if let Some(score) = fw.get("score").and_then(Value::as_f64) {
                firewall.push(format!("score: {score}"));
            }
            for reason in fw.get("reasons").and_then(Value::as_array).into_iter().flatten().take(20) {
                let text = reason.as_str().map(line).unwrap_or_else(|| line(&reason.to_string()));
                firewall.push(format!("reason: {text}"));
            }
        }
        let payload = (!summary.encrypted).then(|| {
            let text = serde_json::to_string_pretty(&row.payload).unwrap_or_default();
            reveal_invisible(&text).into_owned()
        });
        View {
            service: line(&row.service),
            action: line(&row.action),
            priority,
            role: row.role.as_deref().map_or_else(|| "(any)".to_string(), line),
            firewall,
            deadline: crate::rfc3339(row.expires_at),
            payload,
        }
    }

    fn text(&self, link: &str, dashboard: &str, reminder: bool) -> String {
        let mut out = format!(
            "{}\n\nService:  {}\nAction:   {}\nPriority: {}\nRole:     {}\nDeadline: {}\n",
            ask(reminder),
            self.service,
            self.action,
            self.priority,
            self.role,
            self.deadline
        );
        if !self.firewall.is_empty() {
            out.push_str("\nWhy it was held (firewall):\n");
            for l in &self.firewall {
                out.push_str(&format!("  - {l}\n"));
            }
        }
        match &self.payload {
            Some(p) => out.push_str(&format!("\nPayload:\n{}\n", shown(p))),
            None => out.push_str(&format!(
                "\nThe payload is end-to-end encrypted: open the dashboard to read it.\n{dashboard}\n"
            )),
        }
        out.push_str(&format!(
            "\nReview and decide (this link is yours alone; opening it decides nothing):\n{link}\n"
        ));
        out
    }

    fn html(&self, link: &str, dashboard: &str, reminder: bool) -> String {
        let mut rows = String::new();
        for (k, v) in [
            ("Service", &self.service),
            ("Action", &self.action),
            ("Priority", &self.priority),
            ("Role", &self.role),
            ("Deadline", &self.deadline),
        ] {
            rows.push_str(&format!("<tr><th align=\"left\">{k}</th><td>{}</td></tr>", escape(v)));
        }
        let mut out = format!("<!doctype html><html><body><p>{}</p><table>{rows}</table>", ask(reminder));
        if !self.firewall.is_empty() {
            out.push_str("<p>Why it was held (firewall):</p><ul>");
            for l in &self.firewall {
                out.push_str(&format!("<li>{}</li>", escape(l)));
            }
            out.push_str("</ul>");
        }
        match &self.payload {
            Some(p) => out.push_str(&format!("<p>Payload:</p><pre>{}</pre>", escape(&shown(p)))),
            None => out.push_str(&format!(
                "<p>The payload is end-to-end encrypted: <a href=\"{}\">open the dashboard</a> to read it.</p>",
                escape(dashboard)
            )),
        }
        out.push_str(&format!(
            "<p><a href=\"{}\">Review and decide</a> (this link is yours alone; opening it decides nothing).</p></body></html>",
            escape(link)
        ));
        out
    }
}

/// A message's first line.
fn ask(reminder: bool) -> &'static str {
    if reminder {
        "Reminder: an agent still waits for your approval."
    } else {
        "An agent asks for your approval."
    }
}

/// At most [`MAX_SHOWN`] bytes of a payload's text, cut at a character boundary.
fn shown(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return text.to_string();
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (cut: the decision page shows all of it)", &text[..end])
}

/// HTML text and attribute escaping.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_lowercased() {
        assert_eq!(check_address("Alice@Example.com").unwrap(), "alice@example.com");
        assert!(check_address("a.b+tag@mail.example.co").is_ok());
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "a..b@example.com",
            ".a@example.com",
            "alice@-x.example.com",
            "al ice@example.com",
            "alice@exa_mple.com",
            "alicé@example.com",
            "alice@example.com\r\nBcc: x@example.com",
            "\"quoted\"@example.com",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
        assert!(check_address(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(check_address(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn dates_and_escapes() {
        assert_eq!(escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}
