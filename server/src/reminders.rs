//! Reminders: the second notification a channel with `remind_after_secs` gets about a request
//! it was told of, if nobody decided it in the meantime.
//!
//! The store queues a reminder (event [`REMINDER`]) with the notification it follows, in the
//! same transaction, due `remind_after_secs` later — only when the request's deadline is
//! later still ([`crate::store::reminder_at`]). It waits in the same durable outbox as every
//! notification: no timer in memory, so a restart loses none, and the claim's lease hands it
//! to one worker of one replica at a time. When it comes due, [`why_not`] decides whether it
//! still makes sense; the e-mail and Slack workers send it (e-mail: the message again, its
//! subject prefixed `Reminder:`, with the addressee's link; Slack: a reply in the thread of
//! the message posted about the request, also shown in the channel) or record why not.
//!
//! An escalation into another role announces the request to that role's channels, each with
//! its own reminder; the old role's reminders then find the request in another role and are
//! not sent.

use handrail_core::request::Status;

pub(crate) use crate::store::REMINDER;
use crate::store::{Notification, RequestRow, StoreResult};
use crate::AppState;

/// Why the reminder `n` about `row` is not to be sent at `now_ms` (an outcome for the log and
/// the outbox), or None to send it: the request must still be pending, before its deadline,
/// in the role it had when the reminder was queued, and a channel of that role must still
/// reach the addressee.
pub(crate) fn why_not(
    state: &AppState,
    n: &Notification,
    row: &RequestRow,
    now_ms: i64,
) -> StoreResult<Option<String>> {
    if row.status != Status::Pending {
        return Ok(Some(format!("not sent: the request is {}", row.status)));
    }
    if row.expires_at * 1000 <= now_ms {
        return Ok(Some("not sent: the request's deadline passed".into()));
    }
    if row.role != n.role {
        return Ok(Some("not sent: the request moved to another role".into()));
    }
    let role = row.role.as_deref();
    let reached =
        state.store.channels(&row.project)?.iter().any(|c| c.hears(role) && c.reaches(n.kind, &n.address));
    if !reached {
        return Ok(Some("not sent: no channel of the request's role reaches this addressee now".into()));
    }
    Ok(None)
}
