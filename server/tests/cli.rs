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

fn run_args(args: &[String]) -> Output {
    handrail(&args.iter().map(String::as_str).collect::<Vec<_>>(), b"")
}

#[test]
fn firewall_eval_judges_the_shared_vectors() {
    let doc = vectors("firewall.json");
    let dir = std::env::temp_dir().join(format!("handrail-fw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = |sessions: Vec<&serde_json::Value>| {
        sessions.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n") + "\n"
    };
    let cases = doc["cases"].as_array().unwrap();
    std::fs::write(dir.join("train.jsonl"), lines(doc["train"].as_array().unwrap().iter().collect()))
        .unwrap();
    std::fs::write(dir.join("test.jsonl"), lines(cases.iter().map(|c| &c["session"]).collect())).unwrap();
    std::fs::write(dir.join("tools.json"), doc["tools"].to_string()).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let args = |test: &str| {
        [
            "firewall",
            "eval",
            "--train",
            &path("train.jsonl"),
            "--test",
            &path(test),
            "--tools",
            &path("tools.json"),
        ]
        .map(String::from)
        .to_vec()
    };
    let out = run_args(&args("test.jsonl"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let results: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), cases.len());
    for (case, result) in cases.iter().zip(&results) {
        assert_eq!(result["session"], case["session"]["session"]);
        let expected = case["expect"].as_array().unwrap().iter().position(|e| e["action"] != "allow");
        assert_eq!(result["flagged_at"].as_u64().map(|i| i as usize), expected, "{}", case["name"]);
        assert_eq!(result["verdicts"].as_array().unwrap().len(), case["expect"].as_array().unwrap().len());
    }

    // A malformed line: a clear error naming it, and nothing on stdout.
    let bad = format!("{}\n{{\"session\":\"x\",\"calls\":[{{\"args\":{{}}}}]}}\n", cases[0]["session"]);
    std::fs::write(dir.join("bad.jsonl"), bad).unwrap();
    let out = run_args(&args("bad.jsonl"));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.jsonl line 2: call 0: \"tool\" must be a string"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
