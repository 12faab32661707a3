//! What a tool does to the world, declared when a tool is wrapped or inferred from its name.
//!
//! The inference is a documented, deterministic heuristic over the tool name's words
//! (`send_money`, `deleteUser`, `http-get` → `send`/`money`, `delete`/`user`, `http`/`get`),
//! checked strongest first: payment, destructive, egress, write, read. A name with none of
//! the known words is treated as `write` — side-effecting, so unknown tools fail closed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The effect class of a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Reads only: recorded, never held.
    Read,
    /// Changes state inside the system.
    Write,
    /// Deletes or destroys.
    Destructive,
    /// Sends data out: e-mail, messages, posts, uploads, requests to other hosts.
    Egress,
    /// Moves money.
    Payment,
}

impl Effect {
    /// Every effect, in the order of their numeric ids.
    pub const ALL: [Effect; 5] =
        [Effect::Read, Effect::Write, Effect::Destructive, Effect::Egress, Effect::Payment];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Destructive => "destructive",
            Effect::Egress => "egress",
            Effect::Payment => "payment",
        }
    }

    /// True for everything but reads: only these calls are ever held.
    pub fn is_side_effecting(self) -> bool {
        self != Effect::Read
    }

    pub(crate) fn id(self) -> u32 {
        self as u32
    }

    pub(crate) fn from_id(id: u32) -> Option<Effect> {
        Effect::ALL.get(id as usize).copied()
    }

    /// Infers the effect of a tool from its name (see the module documentation).
    pub fn infer(tool: &str) -> Effect {
        // One pass over the name's words marks the classes they name (a bit per effect id),
        // with no allocation for ASCII names: the verdict infers the effect on every call.
        let mut named = 0u8;
        let mut mark = |word: &[u8]| {
            if let Some(effect) = word_effect(word) {
                named |= 1 << effect.id();
            }
        };
        if tool.is_ascii() {
            ascii_words(tool, |word| {
                // No keyword is longer than 12 letters; a longer word names no class.
                let mut buf = [0; 12];
                if let Some(lower) = super::values::ascii_lowercase_in(word, &mut buf) {
                    mark(lower);
                }
            });
        } else {
            words(tool).iter().for_each(|w| mark(w.as_bytes()));
        }
        let has = |effect: Effect| named & (1 << effect.id()) != 0;
        if has(Effect::Payment) {
            Effect::Payment
        } else if has(Effect::Destructive) {
            Effect::Destructive
        } else if has(Effect::Write) && !has(Effect::Egress) {
            Effect::Write
        } else if has(Effect::Egress) {
            // `http_get`/`fetch` read a page unless they carry data out; the firewall decides
            // that per call from the URL (see `values`), so the tool itself counts as egress.
            Effect::Egress
        } else if has(Effect::Read) {
            Effect::Read
        } else {
            Effect::Write
        }
    }
}

/// Whether a task's text asks for a destruction: one of its words (lowercased) is a word
/// that makes a tool destructive (`delete`, `remove`, `drop`, …), or `cancel`.
pub(crate) fn asks_destruction(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .any(|w| w == "cancel" || word_effect(w.as_bytes()) == Some(Effect::Destructive))
}

/// The class a lowercase word of a tool name names, checked strongest first by
/// [`Effect::infer`]. No word is in two classes. (`fetch_status` and `invoice_pay` can
/// never match a word, which never holds `_`; they are kept as the heuristic was published.)
fn word_effect(word: &[u8]) -> Option<Effect> {
    match word {
        b"pay" | b"payment" | b"payout" | b"transfer" | b"money" | b"refund" | b"charge" | b"wire"
        | b"invoice_pay" | b"withdraw" => Some(Effect::Payment),
        b"delete" | b"remove" | b"drop" | b"destroy" | b"purge" | b"truncate" | b"wipe" | b"erase"
        | b"terminate" | b"kill" | b"rm" | b"revoke" | b"uninstall" | b"reset" => Some(Effect::Destructive),
        b"send" | b"email" | b"mail" | b"reply" | b"forward" | b"post" | b"publish" | b"share"
        | b"upload" | b"notify" | b"message" | b"sms" | b"tweet" | b"webhook" | b"invite" | b"export"
        | b"http" | b"fetch" | b"browse" | b"request" | b"curl" => Some(Effect::Egress),
        b"update" | b"create" | b"write" | b"set" | b"put" | b"insert" | b"modify" | b"edit" | b"grant"
        | b"add" | b"change" | b"assign" | b"deploy" | b"restart" | b"scale" | b"run" | b"execute"
        | b"exec" | b"approve" | b"save" | b"merge" | b"move" | b"rename" | b"book" | b"schedule"
        | b"order" | b"cancel" | b"close" | b"open" => Some(Effect::Write),
        b"get" | b"list" | b"read" | b"search" | b"view" | b"query" | b"find" | b"lookup" | b"describe"
        | b"show" | b"fetch_status" | b"check" | b"count" | b"status" | b"inspect" | b"summarize"
        | b"load" | b"download" => Some(Effect::Read),
        _ => None,
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = Error;
    fn from_str(s: &str) -> Result<Effect> {
        Effect::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownVariant { kind: "effect", value: s.chars().take(40).collect() })
    }
}

/// The words of an ASCII tool name, as [`words`] splits them but borrowed and in their
/// original case.
fn ascii_words(name: &str, mut each: impl FnMut(&str)) {
    let mut start = 0;
    let mut prev_lower = false;
    for (i, c) in name.bytes().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if start < i {
                each(&name[start..i]);
            }
            start = i + 1;
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && start < i {
            each(&name[start..i]);
            start = i;
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if start < name.len() {
        each(&name[start..]);
    }
}

/// Splits a tool name into lowercase words at `_`, `-`, `.`, `/`, spaces and camelCase.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The borrowed split of ASCII names gives the words the general one does.
        #[test]
        fn ascii_words_agree(name in "[a-zA-Z0-9_./ -]{0,24}") {
            let mut borrowed = Vec::new();
            ascii_words(&name, |w| borrowed.push(w.to_ascii_lowercase()));
            prop_assert_eq!(borrowed, words(&name));
        }
    }

    #[test]
    fn inference() {
        for (tool, effect) in [
            ("send_money", Effect::Payment),
            ("refundOrder", Effect::Payment),
            ("delete_user", Effect::Destructive),
            ("dropTable", Effect::Destructive),
            ("send_email", Effect::Egress),
            ("http_get", Effect::Egress),
            ("update_ticket", Effect::Write),
            ("grant_role", Effect::Write),
            ("read_file", Effect::Read),
            ("list-orders", Effect::Read),
            ("frobnicate", Effect::Write),
        ] {
            assert_eq!(Effect::infer(tool), effect, "{tool}");
        }
    }
}
