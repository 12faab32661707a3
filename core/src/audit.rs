//! The tamper-evident audit log: every entry carries the SHA-256 of the canonical JSON of
//! its fields and of the previous entry's hash, so changing, removing or reordering any
//! entry breaks every hash after it. [`verify`] names the first entry that does not fit.
//!
//! ```text
//! hash = hex(SHA-256(JCS({"actor","at","data","event","prev","project","seq","subject"})))
//! ```
//!
//! The first entry's `prev` is [`GENESIS`] (64 zeros). Anyone with an export (JSONL, one
//! entry per line) can check it offline — the server's CLI, or the browser.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::canonical::to_canonical;
use crate::encoding::hex_encode;
use crate::error::{Error, Result};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When, Unix seconds.
    pub at: i64,
    /// The project the change belongs to.
    pub project: String,
    /// Who made it (key id, `system`).
    pub actor: String,
    /// What happened (`request.created`, `request.resolved`, …).
    pub event: String,
    /// What it happened to (a request id…).
    pub subject: String,
    /// Details.
    pub data: Value,
    /// The previous entry's hash.
    pub prev: String,
    /// This entry's hash.
    pub hash: String,
}

/// The fields of an entry before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields<'a> {
    /// When, Unix seconds.
    pub at: i64,
    /// The project.
    pub project: &'a str,
    /// Who.
    pub actor: &'a str,
    /// What happened.
    pub event: &'a str,
    /// To what.
    pub subject: &'a str,
    /// Details.
    pub data: &'a Value,
}

fn digest(seq: u64, prev: &str, f: &Fields<'_>) -> Result<String> {
    let body = json!({
        "actor": f.actor, "at": f.at, "data": f.data, "event": f.event,
        "prev": prev, "project": f.project, "seq": seq, "subject": f.subject,
    });
    Ok(hex_encode(Sha256::digest(to_canonical(&body)?.as_bytes())))
}

/// The entry that follows `previous` (or starts the log when `None`).
pub fn chain(previous: Option<&Entry>, fields: Fields<'_>) -> Result<Entry> {
    let (seq, prev) = previous.map_or((1, GENESIS.to_string()), |p| (p.seq + 1, p.hash.clone()));
    let hash = digest(seq, &prev, &fields)?;
    Ok(Entry {
        seq,
        at: fields.at,
        project: fields.project.to_string(),
        actor: fields.actor.to_string(),
        event: fields.event.to_string(),
        subject: fields.subject.to_string(),
        data: fields.data.clone(),
        prev,
        hash,
    })
}

/// Checks a whole log in order; returns how many entries it holds, or
/// [`Error::AuditBroken`] naming the first entry that does not fit.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<u64> {
    let mut expected_prev = GENESIS.to_string();
    let mut count = 0;
    for entry in entries {
        let broken = |reason| Err(Error::AuditBroken { seq: entry.seq, reason });
        if entry.seq != count + 1 {
            return broken("sequence number out of order (an entry was removed or moved)");
        }
        if entry.prev != expected_prev {
            return broken("does not follow the previous entry");
        }
        let fields = Fields {
            at: entry.at,
            project: &entry.project,
            actor: &entry.actor,
            event: &entry.event,
            subject: &entry.subject,
            data: &entry.data,
        };
        if digest(entry.seq, &entry.prev, &fields)? != entry.hash {
            return broken("content does not match its hash (the entry was changed)");
        }
        expected_prev = entry.hash.clone();
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        for i in 0..n {
            let data = json!({ "i": i });
            let fields = Fields {
                at: 100 + i as i64,
                project: "p",
                actor: "op",
                event: "e",
                subject: "s",
                data: &data,
            };
            entries.push(chain(entries.last(), fields).unwrap());
        }
        entries
    }

    #[test]
    fn detects_changes_removals_and_reorders() {
        let entries = log(5);
        assert_eq!(verify(&entries).unwrap(), 5);
        let mut changed = entries.clone();
        changed[2].data = json!({ "i": 99 });
        assert_eq!(
            verify(&changed).unwrap_err(),
            Error::AuditBroken { seq: 3, reason: "content does not match its hash (the entry was changed)" }
        );
        let mut removed = entries.clone();
        removed.remove(1);
        assert!(matches!(verify(&removed), Err(Error::AuditBroken { seq: 3, .. })));
        let mut swapped = entries;
        swapped.swap(3, 4);
        assert_eq!(verify(&swapped).unwrap_err().code(), "audit_broken");
    }
}
