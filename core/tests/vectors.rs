//! Replays the shared vectors in `tests/vectors/*.json` — the same files the Python, Node
//! and browser tests replay. All but canonical.json were computed with node:crypto by
//! `tests/vectors/generate.mjs`, so these tests check the core against an independent
//! implementation.

use std::collections::HashMap;
use std::path::PathBuf;

use handrail_core::canonical::canonicalize;
use handrail_core::encoding::{b64url_decode, hex_decode};
use handrail_core::envelope::{self, Context, Key, Keyring};
use handrail_core::idempotency::{self, Begin, Execution, Fingerprint, Stored};
use handrail_core::proof::{self, Claims, Expect, Signer, Verifier};
use handrail_core::request::{self, Diff, PatchOp, Priority, Status};
use handrail_core::webhook::{self, Headers, Secret};
use handrail_core::Error;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn i(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Checks one case's outcome: `ok`/`output` against `Ok`, `error` against the code.
fn expect_outcome<T: std::fmt::Debug>(case: &Value, result: Result<T, Error>) -> Option<T> {
    let name = s(case, "name");
    match case.get("error").and_then(Value::as_str) {
        Some(code) => {
            let err = result.err().unwrap_or_else(|| panic!("{name}: expected error {code}"));
            assert_eq!(err.code(), code, "{name}: {err}");
            None
        }
        None => Some(result.unwrap_or_else(|e| panic!("{name}: unexpected error {e}"))),
    }
}

fn report(module: &str, count: usize) {
    println!("vectors {module}: {count} cases passed");
    assert!(count > 0);
}

#[test]
fn canonical() {
    let doc = load("canonical.json");
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let input = match case.get("input_hex") {
            Some(h) => hex_decode(h.as_str().unwrap()).unwrap(),
            None => s(case, "input").as_bytes().to_vec(),
        };
        if let Some(out) = expect_outcome(case, canonicalize(&input)) {
            assert_eq!(out, s(case, "output"), "{}", s(case, "name"));
        }
    }
    report("canonical", cases.len());
}

fn ctx(case: &Value) -> (String, String) {
    (s(&case["context"], "request_id").to_string(), s(&case["context"], "field").to_string())
}

#[test]
fn envelope() {
    let doc = load("envelope.json");
    let mut ring = Keyring::new();
    let mut keys = HashMap::new();
    for k in doc["keys"].as_array().unwrap() {
        let key = Key::from_b64url(s(k, "kid"), s(k, "key")).unwrap();
        keys.insert(s(k, "kid").to_string(), key.clone());
        ring.insert(key);
    }
    #[cfg(feature = "compat")]
    let legacy = Key::from_b64url("legacy", s(&doc, "legacy_key")).unwrap();
    #[cfg(feature = "compat")]
    ring.set_legacy(legacy.clone());
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let name = s(case, "name");
        let (rid, field) = ctx(case);
        let context = Context::new(&rid, &field);
        let sealed = s(case, "envelope");
        let opened = envelope::open(sealed.as_bytes(), &ring, &context);
        // Without `compat` the legacy form is unknown: a member `_lp_enc` is malformed.
        #[cfg(not(feature = "compat"))]
        if sealed.contains("\"_lp_enc\"") {
            assert_eq!(opened.unwrap_err().code(), "envelope_malformed", "{name}: legacy without compat");
            continue;
        }
        let Some(plaintext) = expect_outcome(case, opened) else {
            continue;
        };
        let want = b64url_decode(s(case, "plaintext_b64url")).unwrap();
        assert_eq!(plaintext, want, "{name}: opened plaintext");
        let iv: [u8; 12] = b64url_decode(s(case, "iv")).unwrap().try_into().unwrap();
        #[cfg(feature = "compat")]
        if case.get("legacy").is_some() {
            let resealed = handrail_core::compat::letsping::seal_legacy_with(&legacy, &want, iv).unwrap();
            assert_eq!(resealed, sealed, "{name}: sealing reproduces the envelope");
            continue;
        }
        let resealed = {
            let data_key: Option<[u8; 32]> =
                case.get("data_key").map(|d| b64url_decode(d.as_str().unwrap()).unwrap().try_into().unwrap());
            envelope::seal_with(&keys[s(case, "kid")], &context, &want, iv, data_key.as_ref()).unwrap()
        };
        assert_eq!(resealed, sealed, "{name}: sealing reproduces the envelope");
    }
    report("envelope", cases.len());
}

/// Slack request signatures. The file lives in `core/tests/data/`, not `tests/vectors/`: the
/// bindings do not expose `verify_slack`, and every file in `tests/vectors/` must be replayed
/// by every binding.
#[test]
fn slack() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/slack.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases = doc["verify"].as_array().unwrap();
    for case in cases {
        let result = webhook::slack::verify_slack(
            s(case, "secret").as_bytes(),
            s(case, "timestamp"),
            s(case, "body").as_bytes(),
            s(case, "signature"),
            i(case, "now"),
        );
        expect_outcome(case, result);
    }
    report("slack", cases.len());
}

#[test]
fn webhook() {
    let doc = load("webhook.json");
    let mut count = 0;
    for case in doc["sign"].as_array().unwrap() {
        let secret = Secret::parse(s(case, "secret")).unwrap();
        let sig =
            webhook::sign(&secret, s(case, "id"), i(case, "timestamp"), s(case, "body").as_bytes()).unwrap();
        assert_eq!(sig, s(case, "signature"), "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["verify"].as_array().unwrap() {
        let secrets: Vec<Secret> = case["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| Secret::parse(x.as_str().unwrap()).unwrap())
            .collect();
        let h = &case["headers"];
        let headers = Headers { id: s(h, "id"), timestamp: s(h, "timestamp"), signature: s(h, "signature") };
        let tolerance = case["tolerance"].as_u64().unwrap();
        let result =
            webhook::verify(&secrets, &headers, s(case, "body").as_bytes(), i(case, "now"), tolerance);
        expect_outcome(case, result);
        count += 1;
    }
    #[cfg(feature = "compat")]
    for case in doc["letsping"].as_array().unwrap() {
        let result = handrail_core::compat::letsping::verify(
            s(case, "secret").as_bytes(),
            s(case, "header"),
            s(case, "body").as_bytes(),
            i(case, "now_ms"),
            case["tolerance_ms"].as_u64().unwrap(),
        );
        expect_outcome(case, result);
        count += 1;
    }
    for case in doc["secrets"].as_array().unwrap() {
        if let Some(secret) = expect_outcome(case, Secret::parse(s(case, "secret"))) {
            assert_eq!(secret.export(), s(case, "secret"), "{}: export round-trips", s(case, "name"));
        }
        count += 1;
    }
    report("webhook", count);
}

#[test]
fn proof() {
    let doc = load("proof.json");
    let seed: [u8; 32] = b64url_decode(s(&doc, "seed")).unwrap().try_into().unwrap();
    let signer = Signer::from_seed(s(&doc, "kid"), seed).unwrap();
    assert_eq!(serde_json::json!({ "keys": [signer.public_jwk()] }), doc["jwks"]);
    let verifier = Verifier::from_jwks(&doc["jwks"]).unwrap();
    let mut count = 0;
    for case in doc["digests"].as_array().unwrap() {
        assert_eq!(proof::digest(s(case, "json")).unwrap(), s(case, "digest"));
        count += 1;
    }
    for case in doc["sign"].as_array().unwrap() {
        let claims: Claims = serde_json::from_value(case["claims"].clone()).unwrap();
        assert_eq!(signer.sign(&claims).unwrap(), s(case, "token"), "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["verify"].as_array().unwrap() {
        let e = &case["expect"];
        let opt = |f: &str| e.get(f).and_then(Value::as_str);
        let expect = Expect {
            request_id: s(e, "request_id"),
            request_digest: opt("request_digest"),
            decision: opt("decision"),
            patched_digest: opt("patched_digest"),
            project: opt("project"),
            issuer: opt("issuer"),
        };
        if let Some(claims) = expect_outcome(case, verifier.verify(s(case, "token"), i(case, "now"), &expect))
        {
            // What was expected is what the proof names.
            assert!(expect.project.is_none() || claims.prj.as_deref() == expect.project);
            assert!(expect.issuer.is_none() || claims.iss.as_deref() == expect.issuer);
        }
        count += 1;
    }
    report("proof", count);
}

#[test]
fn idempotency() {
    let doc = load("idempotency.json");
    let mut count = 0;
    for case in doc["keys"].as_array().unwrap() {
        let parts: Vec<&[u8]> =
            case["parts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().as_bytes()).collect();
        assert_eq!(idempotency::derive_key(&parts), s(case, "key"), "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["tool_calls"].as_array().unwrap() {
        let key = idempotency::tool_call_key(s(case, "scope"), s(case, "tool"), s(case, "args").as_bytes());
        if let Some(key) = expect_outcome(case, key) {
            assert_eq!(key, s(case, "key"));
        }
        count += 1;
    }
    for case in doc["fingerprints"].as_array().unwrap() {
        let fp = Fingerprint::new(s(case, "method"), s(case, "path"), s(case, "body").as_bytes());
        if let Some(fp) = expect_outcome(case, fp) {
            assert_eq!(fp.to_hex(), s(case, "fingerprint"), "{}", s(case, "name"));
        }
        count += 1;
    }
    let stored =
        |v: &Value| Stored { status: v["status"].as_u64().unwrap() as u16, body: s(v, "body").to_string() };
    for scenario in doc["scenarios"].as_array().unwrap() {
        let name = s(scenario, "name");
        let key = s(scenario, "key");
        let lease = i(scenario, "lease");
        let mut current: Option<Execution> = None;
        for step in scenario["steps"].as_array().unwrap() {
            let now = i(step, "now");
            match s(step, "op") {
                "begin" => {
                    let fp = Fingerprint::new(s(step, "method"), s(step, "path"), s(step, "body").as_bytes())
                        .unwrap();
                    let outcome = idempotency::begin(current.as_ref(), key, fp, now, lease);
                    let want = s(step, "expect");
                    match (want, outcome) {
                        ("error", Err(e)) => assert_eq!(e.code(), s(step, "error"), "{name}"),
                        ("proceed", Ok(Begin::Proceed(exec))) => {
                            assert_eq!(exec.attempts as i64, i(step, "attempts"), "{name}");
                            current = Some(exec);
                        }
                        ("replay", Ok(Begin::Replay(result))) => {
                            assert_eq!(result, stored(&step["result"]), "{name}")
                        }
                        ("conflict", Ok(b @ Begin::Conflict { lease_until })) => {
                            assert_eq!(lease_until, i(step, "lease_until"), "{name}");
                            assert_eq!(b.refusal_status(), Some(409));
                        }
                        ("mismatch", Ok(b @ Begin::Mismatch)) => {
                            assert_eq!(b.refusal_status(), Some(422))
                        }
                        (want, got) => panic!("{name}: expected {want}, got {got:?}"),
                    }
                }
                op @ ("commit" | "fail") => {
                    let exec = current.clone().expect("a stored execution");
                    let result = stored(&step["result"]);
                    let next = if op == "commit" {
                        exec.commit(result, now)
                    } else {
                        exec.fail(result, step["retryable"].as_bool().unwrap(), now)
                    };
                    match step.get("error") {
                        Some(code) => {
                            assert_eq!(next.unwrap_err().code(), code.as_str().unwrap(), "{name}")
                        }
                        None => current = Some(next.unwrap()),
                    }
                }
                other => panic!("unknown op {other}"),
            }
            count += 1;
        }
    }
    report("idempotency", count);
}

#[test]
fn request() {
    let doc = load("request.json");
    let mut count = 0;
    for case in doc["diffs"].as_array().unwrap() {
        let d = request::diff(&case["before"], &case["after"]);
        let ops: Vec<PatchOp> = serde_json::from_value(case["ops"].clone()).unwrap();
        assert_eq!(
            d,
            Diff { ops: ops.clone(), summary: s(case, "summary").to_string() },
            "{}",
            s(case, "name")
        );
        assert_eq!(request::apply(&case["before"], &ops).unwrap(), case["after"], "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["validation"].as_array().unwrap() {
        expect_outcome(case, request::validate_edit(&case["schema"], &case["payload"]));
        count += 1;
    }
    for case in doc["statuses"].as_array().unwrap() {
        match case.get("error") {
            Some(code) => {
                assert_eq!(s(case, "input").parse::<Status>().unwrap_err().code(), code.as_str().unwrap())
            }
            None => assert_eq!(s(case, "input").parse::<Status>().unwrap().as_str(), s(case, "value")),
        }
        count += 1;
    }
    for case in doc["priorities"].as_array().unwrap() {
        match case.get("error") {
            Some(code) => {
                assert_eq!(s(case, "input").parse::<Priority>().unwrap_err().code(), code.as_str().unwrap())
            }
            None => assert_eq!(s(case, "input").parse::<Priority>().unwrap().as_str(), s(case, "value")),
        }
        count += 1;
    }
    for case in doc["names"].as_array().unwrap() {
        let new: request::NewRequest = serde_json::from_value(case["request"].clone()).unwrap();
        expect_outcome(case, new.validate());
        count += 1;
    }
    for case in doc["reveal"].as_array().unwrap() {
        assert_eq!(request::reveal_invisible(s(case, "input")), s(case, "output"));
        count += 1;
    }
    report("request", count);
}

#[test]
fn guard() {
    use handrail_core::firewall::{Action, Effect, Outcome, Verdict};
    use handrail_core::guard::{self, Observed, Plan};

    let doc = load("guard.json");
    let canon = |v: &Value| handrail_core::canonical::to_canonical(v).unwrap();
    let mut count = 0;
    for case in doc["keys"].as_array().unwrap() {
        let key = guard::call_key(
            s(case, "scope"),
            s(case, "service"),
            s(case, "tool"),
            s(case, "args").as_bytes(),
        );
        if let Some(key) = expect_outcome(case, key) {
            assert_eq!(key, s(case, "key"), "{}", s(case, "name"));
        }
        count += 1;
    }
    for case in doc["calls"].as_array().unwrap() {
        let name = s(case, "name");
        let action: Action = s(case, "action").parse().unwrap();
        let enforced = case["enforced"].as_bool().unwrap();
        assert_eq!(enforced, s(case, "mode") == "enforce", "{name}");
        let plan = Plan::for_action(action, enforced);
        assert_eq!(plan.as_str(), s(case, "plan"), "{name}");
        let decision = case["decision"].as_str().map(|d| d.parse::<Status>().unwrap());
        let runs = plan.runs_now() || decision.is_some_and(Status::allows_action);
        assert_eq!(runs, case["runs"].as_bool().unwrap(), "{name}");
        if let Some(outcome) = expect_outcome(case, guard::outcome(plan, decision)) {
            let want = case["outcome"].as_str().map(|o| o.parse::<Outcome>().unwrap());
            assert_eq!(outcome, want, "{name}");
        }
        count += 1;
    }
    for case in doc["contexts"].as_array().unwrap() {
        let verdict: Verdict = serde_json::from_value(case["verdict"].clone()).unwrap();
        assert_eq!(Plan::of(&verdict), Plan::Ask);
        let context = guard::review_context(&verdict, case["task"].as_str());
        assert_eq!(canon(&context), canon(&case["context"]), "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["observations"].as_array().unwrap() {
        let input = &case["input"];
        let effect = input["effect"].as_str().map(|e| e.parse::<Effect>().unwrap());
        let event = guard::observation(&Observed {
            key: s(input, "key"),
            session: s(input, "session"),
            tool: s(input, "tool"),
            args: &input["args"],
            outcome: s(input, "outcome").parse().unwrap(),
            at: i(input, "at"),
            context: input["context"].as_str(),
            effect,
            output: input["output"].as_str(),
        });
        assert_eq!(canon(&event), canon(&case["event"]), "{}", s(case, "name"));
        count += 1;
    }
    for case in doc["texts"].as_array().unwrap() {
        let status: Status = s(case, "status").parse().unwrap();
        let payload = Some(&case["payload"]).filter(|p| !p.is_null());
        let text =
            guard::decision_text(status, case["reason"].as_str(), case["summary"].as_str(), payload).unwrap();
        assert_eq!(text, s(case, "text"), "{}", s(case, "name"));
        count += 1;
    }
    report("guard", count);
}

/// The answer of a vector (`status`, `headers` as `[name, value]` pairs, `body` text).
fn answer(v: &Value) -> handrail_core::protocol::HttpResponse {
    let headers = v["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| (h[0].as_str().unwrap().to_string(), h[1].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default();
    handrail_core::protocol::HttpResponse {
        status: i(v, "status") as u16,
        headers,
        body: s(v, "body").as_bytes().to_vec(),
    }
}

/// Runs the trigger of an errors.json case; it must fail.
fn trigger(t: &Value) -> Error {
    use handrail_core::protocol::{verify_webhook, Client};
    let client = || Client::new("http://127.0.0.1:7777/", "hr_agent_test").unwrap();
    let result: Result<(), Error> = match s(t, "op") {
        "canonicalize" => canonicalize(s(t, "input").as_bytes()).map(drop),
        "response" => client().parse_record(&answer(t)).map(drop),
        "payload" => {
            let mut c = client();
            if let Some(key) = t["encryption_key"].as_str() {
                c = c.with_encryption_key(Key::parse(key).unwrap());
            }
            let record =
                c.parse_record(&answer(&serde_json::json!({"status": 200, "body": t["record"]}))).unwrap();
            c.payload(&record).map(drop)
        }
        "wait" => {
            let c = client();
            let mut w = c.wait(s(t, "id"), 0, t["timeout_ms"].as_u64()).unwrap();
            match t.get("response") {
                Some(r) => w.on_response(&c, &answer(r), 0).map(drop),
                None => w.request(&c, 0).map(drop),
            }
        }
        "webhook" => {
            let headers: Vec<(String, String)> = t["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_string(), h[1].as_str().unwrap().to_string()))
                .collect();
            verify_webhook(s(t, "secret"), &headers, s(t, "body").as_bytes(), i(t, "now")).map(drop)
        }
        op => panic!("unknown trigger {op}"),
    };
    result.expect_err("the trigger should fail")
}

#[test]
fn errors() {
    let doc = load("errors.json");
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let name = s(case, "name");
        let err = trigger(&case["trigger"]);
        let want = &case["expect"];
        assert_eq!(err.code(), s(want, "code"), "{name}: {err}");
        assert_eq!(err.kind().as_str(), s(want, "kind"), "{name}: {err}");
        assert_eq!(err.status().map(i64::from), want["status"].as_i64(), "{name}: status");
        assert_eq!(err.id(), want["id"].as_str(), "{name}: id");
        assert_eq!(err.field(), want["field"].as_str(), "{name}: field");
        assert_eq!(err.reason(), want["reason"].as_str(), "{name}: reason");
        assert_eq!(err.retry_after(), want["retry_after"].as_u64(), "{name}: retry_after");
    }
    report("errors", cases.len());
}
