//! The tamper-evident audit log: every entry carries the SHA-256 of the canonical JSON of
//! its fields and of the previous entry's hash, so changing, removing or reordering any
//! entry breaks every hash after it. [`verify`] names the first entry that does not fit.
//!
//! ```text
//! hash = hex(SHA-256(JCS({"actor","at","data","event","prev","project","seq","subject"})))
//! ```
//!
//! **Each project has its own chain**: `seq` counts that project's entries from 1 and `prev`
//! is the hash of that project's previous entry ([`GENESIS`], 64 zeros, for its first). So
//! an operator can check their project's chain without seeing any other project's entries,
//! while a server's whole log — the chains interleaved — is checked by [`verify_log`].
//! Anyone with an export (JSONL, one entry per line) can check it offline — the server's
//! CLI, or the browser.
//!
//! **Signed checkpoints.** A hash chain alone cannot show that its newest entries were
//! deleted: what remains is still a valid chain. So the server signs its view of each
//! project's head, `{prj, seq, hash, iat, iss}`, with its proof key as a compact JWS of
//! `typ` [`CHECKPOINT_TYP`] (a checkpoint is never taken for a decision proof, nor a proof
//! for a checkpoint). [`verify_signed_checkpoint`] checks such a token; [`check_holds`]
//! then checks that a verified chain still holds entry `seq` with exactly `hash`: a chain
//! that ends before it is [`Error::AuditTruncated`], one with another entry there is
//! [`Error::AuditBroken`]. The same check against a checkpoint remembered from an earlier
//! verification shows a chain that no longer extends what was seen before.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::canonical::{self, to_canonical};
use crate::encoding::hex_encode;
use crate::error::{Error, Result};
use crate::proof::{check_origin, Signer, Verifier};

/// The `typ` header value of a signed audit checkpoint.
pub const CHECKPOINT_TYP: &str = "handrail-audit+jws";

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in its project's log, from 1, without gaps.
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
    /// The hash of the project's previous entry ([`GENESIS`] for its first).
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

/// The entry that follows `previous`, the last entry of the same project (or starts the
/// project's chain when `None`). Chaining to another project's entry is refused.
pub fn chain(previous: Option<&Entry>, fields: Fields<'_>) -> Result<Entry> {
    let (seq, prev) = previous.map_or((1, GENESIS.to_string()), |p| (p.seq + 1, p.hash.clone()));
    if previous.is_some_and(|p| p.project != fields.project) {
        return Err(Error::AuditBroken {
            project: fields.project.to_string(),
            seq,
            reason: "chained to another project's entry",
        });
    }
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

/// Checks one project's chain from its first entry, in order; returns how many entries it
/// holds, or [`Error::AuditBroken`] naming the first entry that does not fit.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<u64> {
    verify_after(None, entries)
}

/// Checks entries that continue a project's chain after `previous` (an entry already
/// verified, e.g. the last of the page before); `None` means from the first entry. Returns
/// how many entries were checked.
pub fn verify_after<'a>(
    previous: Option<&Entry>,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<u64> {
    let at = previous.map(|p| Checkpoint { seq: p.seq, hash: p.hash.clone() });
    verify_chain(at.as_ref(), previous.map(|p| p.project.clone()), entries)
}

/// Where a verified chain stands: the `seq` and `hash` of its last entry. What a reader of
/// `GET /v1/audit` pages keeps between pages instead of the whole entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last verified entry's `seq` (0 with [`GENESIS`]: before the first entry).
    pub seq: u64,
    /// The last verified entry's `hash`.
    pub hash: String,
}

/// What a signed checkpoint asserts: project `prj`'s chain held entry `seq` with `hash` when
/// server `iss` signed it at `iat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointClaims {
    /// The project.
    pub prj: String,
    /// Its newest entry's `seq` at `iat`.
    pub seq: u64,
    /// That entry's `hash`.
    pub hash: String,
    /// Signed at, Unix seconds.
    pub iat: i64,
    /// The signing server (its public URL or `srv_…` id, as for decision proofs).
    pub iss: String,
}

impl CheckpointClaims {
    /// Where the chain stood: the `seq` and `hash` the checkpoint vouches for.
    pub fn at(&self) -> Checkpoint {
        Checkpoint { seq: self.seq, hash: self.hash.clone() }
    }
}

/// Signs a checkpoint of a project's chain head with the server's proof key.
pub fn sign_checkpoint(signer: &Signer, claims: &CheckpointClaims) -> Result<String> {
    signer.sign_typed(CHECKPOINT_TYP, claims)
}

/// Verifies a signed checkpoint: form, Ed25519 signature under a key of `verifier`, `typ`
/// [`CHECKPOINT_TYP`] (a decision proof is refused), and the project and issuer when
/// expected ([`Error::ProofProject`], [`Error::ProofIssuer`]). A checkpoint does not
/// expire: it states where a chain stood, which stays true.
pub fn verify_signed_checkpoint(
    verifier: &Verifier,
    token: &str,
    project: Option<&str>,
    issuer: Option<&str>,
) -> Result<CheckpointClaims> {
    let claims = verifier.verify_typed(token, CHECKPOINT_TYP, false)?;
    let claims: CheckpointClaims = serde_json::from_slice(&claims)
        .map_err(|_| Error::ProofMalformed { reason: "claims are not a checkpoint's" })?;
    check_origin(project, issuer, Some(&claims.prj), Some(&claims.iss))?;
    Ok(claims)
}

/// Checks that `project`'s chain holds entry `at.seq` with hash `at.hash`. `entries` must
/// already be verified ([`verify`], [`verify_log`], or page by page with [`verify_from`])
/// and run to the chain's end; entries of other projects are skipped. A chain that ends
/// before `at.seq` is [`Error::AuditTruncated`]; another entry at `at.seq` is
/// [`Error::AuditBroken`]. `at.seq == 0` (nothing vouched for yet) always holds.
pub fn check_holds<'a>(
    project: &str,
    at: &Checkpoint,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<()> {
    let mut have = 0;
    for entry in entries.into_iter().filter(|e| e.project == project) {
        have = have.max(entry.seq);
        if entry.seq == at.seq {
            if entry.hash != at.hash {
                return Err(Error::AuditBroken {
                    project: project.to_string(),
                    seq: entry.seq,
                    reason: "differs from the entry a checkpoint vouched for (the chain was rewritten)",
                });
            }
            return Ok(());
        }
    }
    if at.seq == 0 {
        return Ok(());
    }
    if at.seq <= have {
        // Entries after `at.seq` but not it: a page that starts later, nothing to compare.
        return Err(Error::AuditBroken {
            project: project.to_string(),
            seq: at.seq,
            reason: "the entries given do not include the entry a checkpoint vouched for",
        });
    }
    Err(Error::AuditTruncated { project: project.to_string(), seq: at.seq, have })
}

/// [`verify_after`] from a [`Checkpoint`] rather than an entry: the entries must continue
/// the chain at `after.seq + 1` from `after.hash`, all in one project (the first entry's,
/// as a checkpoint names none). `None`, or `{seq: 0, hash: GENESIS}`, means from the first
/// entry.
pub fn verify_from<'a>(
    after: Option<&Checkpoint>,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<u64> {
    verify_chain(after, None, entries)
}

/// Reads audit entries from JSON text: an array of entries, or a page of `GET /v1/audit`
/// (`{"entries": [...], "next": …}`), with the core's strict parser. Anything else is
/// [`Error::InvalidResponse`].
pub fn entries_from_json(text: &[u8]) -> Result<Vec<Entry>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Entries(Vec<Entry>),
        Page {
            entries: Vec<Entry>,
            #[allow(dead_code)]
            next: Option<u64>,
        },
    }
    let value = canonical::parse(text)?;
    match serde_json::from_value(value) {
        Ok(Wire::Entries(entries) | Wire::Page { entries, .. }) => Ok(entries),
        Err(_) => Err(Error::InvalidResponse {
            reason: "expected an array of audit entries or a page {entries, next}".into(),
        }),
    }
}

fn verify_chain<'a>(
    after: Option<&Checkpoint>,
    mut project: Option<String>,
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<u64> {
    let mut expected_prev = after.map_or_else(|| GENESIS.to_string(), |p| p.hash.clone());
    let first_seq = after.map_or(1, |p| p.seq + 1);
    let mut count = 0;
    for entry in entries {
        let broken =
            |reason| Err(Error::AuditBroken { project: entry.project.clone(), seq: entry.seq, reason });
        if project.as_ref().is_some_and(|p| *p != entry.project) {
            return broken("belongs to another project than the entries before it");
        }
        if entry.seq != first_seq + count {
            return broken("sequence number out of order (an entry was removed or moved)");
        }
        if entry.prev != expected_prev {
            return broken("does not follow the previous entry");
        }
        check_hash(entry)?;
        expected_prev = entry.hash.clone();
        project = Some(entry.project.clone());
        count += 1;
    }
    Ok(count)
}

/// Checks a log that interleaves several projects' chains (a server's whole log, or its
/// export), each chain on its own and in the order given. Returns the number of entries of
/// each project, by project id, or [`Error::AuditBroken`] naming the first bad entry.
pub fn verify_log<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<BTreeMap<String, u64>> {
    // Per project: the last entry seen (its seq and hash) and the count.
    let mut chains: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for entry in entries {
        let broken =
            |reason| Err(Error::AuditBroken { project: entry.project.clone(), seq: entry.seq, reason });
        let (seq, prev) = chains.get(&entry.project).map_or((1, GENESIS), |(s, h)| (s + 1, h.as_str()));
        if entry.seq != seq {
            return broken("sequence number out of order (an entry was removed or moved)");
        }
        if entry.prev != prev {
            return broken("does not follow the previous entry");
        }
        check_hash(entry)?;
        chains.insert(entry.project.clone(), (entry.seq, entry.hash.clone()));
    }
    Ok(chains.into_iter().map(|(project, (count, _))| (project, count)).collect())
}

fn check_hash(entry: &Entry) -> Result<()> {
    let fields = Fields {
        at: entry.at,
        project: &entry.project,
        actor: &entry.actor,
        event: &entry.event,
        subject: &entry.subject,
        data: &entry.data,
    };
    if digest(entry.seq, &entry.prev, &fields)? != entry.hash {
        return Err(Error::AuditBroken {
            project: entry.project.clone(),
            seq: entry.seq,
            reason: "content does not match its hash (the entry was changed)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `n` entries to `project`'s chain within `entries` (which may hold others).
    fn append(entries: &mut Vec<Entry>, project: &str, n: usize) {
        for i in 0..n {
            let data = json!({ "i": i });
            let fields =
                Fields { at: 100 + i as i64, project, actor: "op", event: "e", subject: "s", data: &data };
            let last = entries.iter().rev().find(|e| e.project == project);
            let entry = chain(last, fields).unwrap();
            entries.push(entry);
        }
    }

    fn log(n: usize) -> Vec<Entry> {
        let mut entries = Vec::new();
        append(&mut entries, "p", n);
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
            Error::AuditBroken {
                project: "p".into(),
                seq: 3,
                reason: "content does not match its hash (the entry was changed)"
            }
        );
        let mut removed = entries.clone();
        removed.remove(1);
        assert!(matches!(verify(&removed), Err(Error::AuditBroken { seq: 3, .. })));
        let mut swapped = entries;
        swapped.swap(3, 4);
        assert_eq!(verify(&swapped).unwrap_err().code(), "audit_broken");
    }

    #[test]
    fn entries_from_an_array_or_a_page() {
        let entries = log(2);
        let array = serde_json::to_string(&entries).unwrap();
        assert_eq!(entries_from_json(array.as_bytes()).unwrap(), entries);
        let page = format!(r#"{{"entries":{array},"next":null}}"#);
        assert_eq!(entries_from_json(page.as_bytes()).unwrap(), entries);
        assert_eq!(entries_from_json(b"[{\"seq\":1}]").unwrap_err().code(), "invalid_response");
        assert_eq!(entries_from_json(b"[1,").unwrap_err().code(), "json_syntax");
    }

    #[test]
    fn verify_from_a_checkpoint() {
        let entries = log(5);
        let genesis = Checkpoint { seq: 0, hash: GENESIS.into() };
        assert_eq!(verify_from(Some(&genesis), &entries).unwrap(), 5);
        assert_eq!(verify_from(None, &entries).unwrap(), 5);
        let at2 = Checkpoint { seq: entries[1].seq, hash: entries[1].hash.clone() };
        assert_eq!(verify_from(Some(&at2), &entries[2..]).unwrap(), 3);
        // A page that skips an entry, or a checkpoint with the wrong hash, names the entry.
        let err = verify_from(Some(&at2), &entries[3..]).unwrap_err();
        assert!(matches!(err, Error::AuditBroken { seq: 4, .. }), "{err}");
        let wrong = Checkpoint { seq: 2, hash: entries[0].hash.clone() };
        let err = verify_from(Some(&wrong), &entries[2..]).unwrap_err();
        assert!(matches!(err, Error::AuditBroken { seq: 3, .. }), "{err}");
        assert!(err.to_string().contains("entry 3"));
    }

    #[test]
    fn signed_checkpoints_detect_truncation_and_rewrites() {
        let signer = Signer::from_seed("proof-1", [5; 32]).unwrap();
        let verifier = Verifier::from_jwks(&signer.public_jwk()).unwrap();
        let mut entries = log(5);
        append(&mut entries, "q", 2);
        let head = &entries[4];
        let claims = CheckpointClaims {
            prj: "p".into(),
            seq: head.seq,
            hash: head.hash.clone(),
            iat: 7,
            iss: "srv_1".into(),
        };
        let token = sign_checkpoint(&signer, &claims).unwrap();
        let got = verify_signed_checkpoint(&verifier, &token, Some("p"), Some("srv_1")).unwrap();
        assert_eq!(got, claims);
        let code = |p, i| verify_signed_checkpoint(&verifier, &token, p, i).unwrap_err().code();
        assert_eq!(code(Some("q"), None), "proof_project");
        assert_eq!(code(None, Some("srv_2")), "proof_issuer");
        // A decision proof is not a checkpoint, and a checkpoint is not a decision proof.
        let proof = signer
            .sign(&crate::proof::Claims {
                rid: "r".into(),
                req: "x".into(),
                dec: "APPROVED".into(),
                act: "a".into(),
                pat: None,
                iat: 1,
                exp: 2,
                jti: "j".into(),
                prj: Some("p".into()),
                iss: Some("srv_1".into()),
                grt: None,
            })
            .unwrap();
        assert_eq!(
            verify_signed_checkpoint(&verifier, &proof, None, None).unwrap_err().code(),
            "proof_malformed"
        );
        let expect = crate::proof::Expect { request_id: "r", ..Default::default() };
        assert!(verifier.verify(&token, 1, &expect).is_err());

        // The whole chain holds it; so do later pages and a chain that grew since.
        assert!(check_holds("p", &got.at(), &entries).is_ok());
        assert!(check_holds("p", &got.at(), &entries[4..]).is_ok());
        let mut grown = entries.clone();
        append(&mut grown, "p", 3);
        assert!(check_holds("p", &got.at(), &grown).is_ok());
        // The newest two entries deleted: the remaining chain verifies, the checkpoint does not hold.
        let truncated: Vec<Entry> =
            entries.iter().filter(|e| !(e.project == "p" && e.seq > 3)).cloned().collect();
        assert_eq!(verify_log(&truncated).unwrap()["p"], 3);
        assert_eq!(
            check_holds("p", &got.at(), &truncated).unwrap_err(),
            Error::AuditTruncated { project: "p".into(), seq: 5, have: 3 }
        );
        // Rewritten from entry 3 on (re-chained consistently): another entry 5.
        let mut rewritten: Vec<Entry> =
            entries.iter().filter(|e| e.project == "p" && e.seq < 3).cloned().collect();
        append(&mut rewritten, "p", 3);
        rewritten[2].data = json!({"forged": true});
        let mut rechained = rewritten[..2].to_vec();
        for e in &rewritten[2..] {
            let fields = Fields {
                at: e.at,
                project: "p",
                actor: &e.actor,
                event: &e.event,
                subject: &e.subject,
                data: &e.data,
            };
            let next = chain(rechained.last(), fields).unwrap();
            rechained.push(next);
        }
        assert_eq!(verify(&rechained).unwrap(), 5);
        assert_eq!(check_holds("p", &got.at(), &rechained).unwrap_err().code(), "audit_broken");
        // Nothing vouched for yet always holds; an empty chain under a checkpoint is truncated.
        assert!(check_holds("p", &Checkpoint { seq: 0, hash: GENESIS.into() }, &[]).is_ok());
        assert_eq!(check_holds("p", &got.at(), &[]).unwrap_err().code(), "audit_truncated");
    }

    #[test]
    fn each_project_has_its_own_chain() {
        let mut entries = Vec::new();
        append(&mut entries, "a", 2);
        append(&mut entries, "b", 3);
        append(&mut entries, "a", 2);
        let a: Vec<Entry> = entries.iter().filter(|e| e.project == "a").cloned().collect();
        let b: Vec<Entry> = entries.iter().filter(|e| e.project == "b").cloned().collect();
        // Each project's entries alone verify, numbered from 1 without gaps.
        assert_eq!(verify(&a).unwrap(), 4);
        assert_eq!(a.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(b[0].prev, GENESIS);
        assert_eq!(verify(&b).unwrap(), 3);
        // A page continues from the entry before it.
        assert_eq!(verify_after(Some(&a[1]), &a[2..]).unwrap(), 2);
        assert!(verify_after(Some(&a[0]), &a[2..]).is_err());
        // The whole interleaved log, per project.
        let counts = verify_log(&entries).unwrap();
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), [("a".to_string(), 4), ("b".to_string(), 3)]);
        // One project's chain given the other's entries does not verify.
        assert!(matches!(verify(&entries), Err(Error::AuditBroken { seq: 1, .. })));
        // A change in b is named with its project.
        let mut changed = entries.clone();
        changed[3].actor = "someone else".into();
        assert_eq!(
            verify_log(&changed).unwrap_err(),
            Error::AuditBroken {
                project: "b".into(),
                seq: 2,
                reason: "content does not match its hash (the entry was changed)"
            }
        );
        // Removing an entry of a shows at a's next entry.
        let mut removed = entries.clone();
        removed.remove(1);
        assert!(
            matches!(verify_log(&removed), Err(Error::AuditBroken { seq: 3, ref project, .. }) if project == "a")
        );
        // Chaining onto another project's entry is refused.
        let data = json!(null);
        let fields = Fields { at: 1, project: "b", actor: "x", event: "e", subject: "s", data: &data };
        assert_eq!(chain(Some(&a[0]), fields).unwrap_err().code(), "audit_broken");
    }
}
