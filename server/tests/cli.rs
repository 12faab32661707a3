//! The `handrail` binary, run as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn handrail(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn vectors(name: &str) -> serde_json::Value {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn canonicalize_from_stdin_and_bad_input_codes() {
    let out = handrail(&["canonicalize"], br#"{"b": 1.0, "a": "x"}"#);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "{\"a\":\"x\",\"b\":1}\n");
    let out = handrail(&["canonicalize"], br#"{"a":1,"a":2}"#);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().starts_with("error[duplicate_key]"));
}

#[test]
fn verify_proof_offline_with_the_shared_vectors() {
    let doc = vectors("proof.json");
    let dir = std::env::temp_dir().join(format!("handrail-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, doc["jwks"].to_string()).unwrap();
    let token = doc["sign"][0]["token"].as_str().unwrap();
    let args = |rid: &'static str, now: &'static str| {
        vec!["verify-proof", token, "--jwks", jwks.to_str().unwrap(), "--request-id", rid, "--now", now]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| handrail(&a.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    let ok = run(args("req_01HZX", "1764001000"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8(ok.stdout).unwrap().contains("\"dec\": \"APPROVED\""));
    let other = run(args("req_other", "1764001000"));
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8(other.stderr).unwrap().starts_with("error[proof_mismatch]"));
    let expired = run(args("req_01HZX", "1864001000"));
    assert!(String::from_utf8(expired.stderr).unwrap().starts_with("error[proof_expired]"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn verify_webhook_published_example() {
    let base = [
        "verify-webhook",
        "--secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "--id",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "--timestamp",
        "1614265330",
        "--signature",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "--now",
    ];
    let ok = handrail(&[&base[..], &["1614265400"]].concat(), br#"{"test": 2432232314}"#);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let tampered = handrail(&[&base[..], &["1614265400"]].concat(), br#"{"test": 2432232315}"#);
    assert!(String::from_utf8(tampered.stderr).unwrap().starts_with("error[webhook_signature]"));
}

#[test]
fn keygen_outputs_parse_back() {
    let out = handrail(&["keygen", "encryption", "--kid", "team-a"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text.lines().next().unwrap();
    assert!(key.starts_with("hrk1.team-a."));
    handrail_core::envelope::Key::parse(key).unwrap();
    let out = handrail(&["keygen", "webhook", "--ed25519"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("whsk_"));
    handrail_core::webhook::Secret::parse(lines.next().unwrap()).unwrap();
}
