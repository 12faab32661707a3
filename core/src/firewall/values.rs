//! What a call's arguments look like (the skeleton) and which of its values matter for
//! provenance (recipients, accounts, URLs, e-mail addresses, phone numbers, paths).
//!
//! A *skeleton* is the shape of the arguments: member names and JSON types, recursively,
//! every array collapsed to the union of its elements' shapes. Two calls of a tool with
//! the same skeleton are the same node of the profile, whatever their values.
//!
//! A *sensitive value* is a string that names where something goes: an e-mail address, a
//! URL (its host counts), an IBAN, a phone number, a path, or any string under a member
//! named like a destination (`to`, `recipient`, `account`, `iban`, `url`, `webhook`, `user`,
//! …). Values are normalized (lowercase, no spaces for IBANs and phone numbers) and hashed,
//! so a profile stores no plaintext values.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Member names whose string values are destinations whatever they look like.
const DESTINATION_KEYS: &[&str] = &[
    "to",
    "cc",
    "bcc",
    "recipient",
    "recipients",
    "account",
    "account_id",
    "iban",
    "destination",
    "dest",
    "target",
    "email",
    "url",
    "uri",
    "webhook",
    "endpoint",
    "host",
    "user",
    "username",
    "member",
    "phone",
    "number",
    "path",
    "file",
    "channel",
    "address",
    "payee",
    "beneficiary",
    "bucket",
    "repo",
    "repository",
    // What a destructive or privileged call acts on.
    "service",
    "env",
    "environment",
    "database",
    "db",
    "table",
    "cluster",
    "deployment",
    "namespace",
    "resource",
    "role",
    "permission",
    "permissions",
    "scope",
    "group",
];

/// The kind of a sensitive value, for the human sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// e-mail address
    Email,
    /// URL (host compared)
    Url,
    /// IBAN
    Iban,
    /// phone number
    Phone,
    /// file or object path
    Path,
    /// any other destination-like string
    Name,
}

impl Kind {
    /// How the reason sentence names it.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Email => "e-mail address",
            Kind::Url => "URL host",
            Kind::Iban => "IBAN",
            Kind::Phone => "phone number",
            Kind::Path => "path",
            Kind::Name => "recipient",
        }
    }
}

/// One sensitive value found in a call's arguments.
#[derive(Debug, Clone)]
pub struct Sensitive {
    /// Argument path (`to`, `payee.iban`, `cc[]`).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// The normalized value.
    pub normalized: String,
    /// For URLs: whether the query string carries data out.
    pub carries_data: bool,
    /// For URLs: the whole URL, lowercased (a host the task names may still receive data
    /// the task never mentioned).
    pub url: Option<String>,
}

/// 64-bit hash of the skeleton of `args` (stable across languages: SHA-256 of its text).
pub fn skeleton_hash(args: &Value) -> u64 {
    let mut text = String::new();
    skeleton(args, &mut text);
    hash64(text.as_bytes())
}

/// First 8 bytes of SHA-256, big-endian.
pub fn hash64(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Writes the skeleton: `{"a":s,"b":[n|s]}` with members sorted (as canonical JSON sorts
/// ASCII names), types `n` number, `s` string, `b` bool, `z` null, arrays as the sorted
/// union of their element skeletons.
fn skeleton(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push('z'),
        Value::Bool(_) => out.push('b'),
        Value::Number(_) => out.push('n'),
        Value::String(_) => out.push('s'),
        Value::Array(items) => {
            let shapes: BTreeSet<String> = items
                .iter()
                .map(|item| {
                    let mut s = String::new();
                    skeleton(item, &mut s);
                    s
                })
                .collect();
            out.push('[');
            for (i, shape) in shapes.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                out.push_str(shape);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("a string serializes"));
                out.push(':');
                skeleton(&map[key.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// Every sensitive value in `args`.
pub fn sensitive_values(args: &Value) -> Vec<Sensitive> {
    let mut found = Vec::new();
    walk(args, "", None, &mut found);
    found
}

fn walk(value: &Value, path: &str, key: Option<&str>, found: &mut Vec<Sensitive>) {
    match value {
        Value::String(s) => {
            if let Some(item) = classify(s, key) {
                found.push(Sensitive { path: path.to_string(), ..item });
            }
        }
        Value::Array(items) => {
            let inner = format!("{path}[]");
            for item in items {
                walk(item, &inner, key, found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let inner = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(v, &inner, Some(k), found);
            }
        }
        _ => {}
    }
}

fn classify(raw: &str, key: Option<&str>) -> Option<Sensitive> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 2048 {
        return None;
    }
    let lower = text.to_lowercase();
    let make = |kind, normalized: String, carries_data| {
        Some(Sensitive { path: String::new(), kind, normalized, carries_data, url: None })
    };
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let host = authority.rsplit('@').next().unwrap_or(authority).to_string();
        let query = tail.split_once('?').map(|(_, q)| q).unwrap_or("");
        let carries_data = query.len() >= 16 || query.split('&').count() >= 3;
        return make(Kind::Url, host, carries_data).map(|v| Sensitive { url: Some(lower.clone()), ..v });
    }
    // `Bob <bob@acme.com>`: the address is what matters.
    if let Some(inner) =
        lower.strip_suffix('>').and_then(|l| l.rsplit_once('<')).map(|(_, inner)| inner.trim())
    {
        if is_email(inner) {
            return make(Kind::Email, inner.to_string(), false);
        }
    }
    if is_email(&lower) {
        return make(Kind::Email, lower, false);
    }
    let compact: String = lower.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    if is_iban(&compact) {
        return make(Kind::Iban, compact, false);
    }
    let digits = compact.trim_start_matches('+');
    if (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && key_is(key, &["phone", "number", "to", "sms", "mobile"])
    {
        return make(Kind::Phone, compact, false);
    }
    if (lower.starts_with('/') || lower.starts_with("~/") || lower.starts_with("s3://"))
        && !lower.contains(' ')
    {
        return make(Kind::Path, lower, false);
    }
    if key.is_some_and(|k| DESTINATION_KEYS.contains(&k.to_ascii_lowercase().as_str())) && text.len() <= 256 {
        return make(Kind::Name, lower, false);
    }
    None
}

fn key_is(key: Option<&str>, names: &[&str]) -> bool {
    key.is_some_and(|k| names.iter().any(|n| k.to_ascii_lowercase().contains(n)))
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !s.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

fn is_iban(s: &str) -> bool {
    let b = s.as_bytes();
    (15..=34).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_alphabetic()
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
        && b[4..].iter().all(u8::is_ascii_alphanumeric)
        && b[4..].iter().filter(|c| c.is_ascii_digit()).count() >= 8
}

/// Normalizes free text (a task, a tool output) so sensitive values can be searched in it:
/// lowercase, plus a copy without spaces and dashes so `DE89 3704 …` matches `de893704…`.
pub fn searchable(text: &str) -> (String, String) {
    let lower = text.to_lowercase();
    let compact = lower.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    (lower, compact)
}

/// True when the normalized value occurs in searchable text.
///
/// E-mail addresses, hosts, paths and names must occur as a whole token — `bob@acme.co` does
/// not occur in `bob@acme.com`. IBANs and phone numbers are searched in the compact text
/// (people write them in groups), where token edges are lost; their check digits make a
/// truncated look-alike unlikely to be a valid account.
pub fn occurs_in(value: &Sensitive, text: &(String, String)) -> bool {
    match value.kind {
        Kind::Iban | Kind::Phone => text.1.contains(&value.normalized),
        _ => occurs_as_token(&text.0, &value.normalized),
    }
}

fn occurs_as_token(text: &str, needle: &str) -> bool {
    let part_of_token = |c: char| c.is_alphanumeric() || matches!(c, '@' | '_' | '%' | '+' | '-');
    // A trailing dot ends a sentence; a dot followed by more of the name continues it.
    let continues = |rest: &str| {
        let mut chars = rest.chars();
        match chars.next() {
            None => false,
            Some('.') => chars.next().is_some_and(part_of_token),
            Some(c) => part_of_token(c),
        }
    };
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + needle.len()..];
        !before.is_some_and(|c| part_of_token(c) || c == '.') && !continues(after)
    })
}

/// The sensitive values inside free text (a tool's output): e-mail addresses, URLs, IBANs.
pub fn values_in_text(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for token in
        text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ',' | ';' | '(' | ')'))
    {
        let token = token.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?'));
        if let Some(found) = classify(token, None) {
            out.push(found.normalized);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn skeleton_ignores_values_and_order() {
        let a = json!({"to": "a@b.co", "amount": 5, "tags": ["x", 1]});
        let b = json!({"amount": 7.5, "tags": [2, "y", "z"], "to": "c@d.co"});
        assert_eq!(skeleton_hash(&a), skeleton_hash(&b));
        assert_ne!(skeleton_hash(&a), skeleton_hash(&json!({"to": "a@b.co"})));
    }

    #[test]
    fn finds_destinations() {
        let v = sensitive_values(&json!({
            "to": "Bob@Example.com", "iban": "DE89 3704 0044 0532 0130 00",
            "url": "https://evil.example/c?d=aGVsbG8gd29ybGQgc2VjcmV0", "note": "hello"
        }));
        let kinds: Vec<(Kind, &str)> = v.iter().map(|s| (s.kind, s.normalized.as_str())).collect();
        assert!(kinds.contains(&(Kind::Email, "bob@example.com")));
        assert!(kinds.contains(&(Kind::Iban, "de89370400440532013000")));
        assert!(kinds.contains(&(Kind::Url, "evil.example")));
        assert!(v.iter().any(|s| s.kind == Kind::Url && s.carries_data));
        assert_eq!(v.len(), 3);
    }
}
