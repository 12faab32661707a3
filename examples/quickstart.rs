//! Quickstart: one guarded action end to end, with the core alone (no server yet).
//!
//! An agent wants to send money. The payload is sealed end to end, a person edits the
//! amount and approves, the decision is signed, the agent verifies the proof offline, the
//! webhook that announces it is signed and verified, and a retried call replays the stored
//! result instead of paying twice.
//!
//! Run: `make quickstart` (or `cargo run -p handrail-core --example quickstart`).

use handrail_core::canonical::canonicalize;
use handrail_core::envelope::{self, Context, Key, Keyring};
use handrail_core::idempotency::{self, Begin, Fingerprint, Stored};
use handrail_core::proof::{self, Claims, Expect, Signer, Verifier};
use handrail_core::request::{self, Status};
use handrail_core::webhook::{self, Headers, Secret};
use serde_json::json;

fn main() -> Result<(), handrail_core::Error> {
    let now = 1_764_000_000; // the core never reads the clock: callers pass `now`

    // 1. The agent's tool call, and the key that makes it run at most once.
    let args = r#"{ "to": "DE89370400440532013000", "amount": 4200, "currency": "EUR" }"#;
    println!("1. tool call send_money {}", canonicalize(args)?);
    let key = idempotency::tool_call_key("agent_billing", "send_money", args.as_bytes())?;
    println!("   idempotency key {key}");

    // 2. The payload is sealed with a key only the agent and the approver's browser hold,
    //    bound to this request and field.
    let client_key = Key::generate("team-billing")?;
    let ctx = Context::new("req_01HZX", "payload");
    let sealed = envelope::seal(&client_key, &ctx, canonicalize(args)?.as_bytes())?;
    println!("2. sealed payload {}…", &sealed[..72]);
    let moved = envelope::open(
        sealed.as_bytes(),
        &Keyring::new().with(client_key.clone()),
        &Context::new("req_other", "payload"),
    );
    println!("   the same ciphertext pasted into another request: {}", moved.unwrap_err());

    // 3. The approver opens it, lowers the amount (checked against the agent's schema), approves.
    let original: serde_json::Value =
        serde_json::from_slice(&envelope::open(sealed.as_bytes(), &Keyring::new().with(client_key), &ctx)?)
            .unwrap();
    let schema = json!({"type": "object", "required": ["to", "amount"],
                        "properties": {"amount": {"type": "number", "maximum": 5000}}});
    let too_much = json!({"to": "DE89370400440532013000", "amount": 9000, "currency": "EUR"});
    println!("3. an edit to 9000 is refused: {}", request::validate_edit(&schema, &too_much).unwrap_err());
    let edited = json!({"to": "DE89370400440532013000", "amount": 420, "currency": "EUR"});
    let diff = request::review_edit(&original, &edited, Some(&schema))?;
    println!("   approved with edits: {}", diff.summary);
    println!("   RFC 6902: {}", serde_json::to_string(&diff.ops).unwrap());

    // 4. The server signs the decision; the agent verifies it offline with the public JWKS.
    let signer = Signer::generate("proof-2026-11")?;
    let request_json = json!({"service": "bank", "action": "send_money", "payload": original}).to_string();
    let claims = Claims {
        rid: "req_01HZX".into(),
        req: proof::digest(&request_json)?,
        dec: Status::ApprovedWithModifications.as_str().into(),
        act: "op_alice".into(),
        pat: Some(proof::digest(edited.to_string())?),
        iat: now,
        exp: now + 3600,
        jti: proof::new_jti()?,
        prj: Some("prj_demo".into()),
        iss: Some("https://handrail.example".into()),
        grt: None,
    };
    let token = signer.sign(&claims)?;
    let verifier = Verifier::from_jwks(&json!({"keys": [signer.public_jwk()]}))?;
    let expect = Expect { request_id: "req_01HZX", request_digest: Some(&claims.req), ..Default::default() };
    let verified = verifier.verify(&token, now + 5, &expect)?;
    println!("4. proof verified offline: {} by {}", verified.dec, verified.act);
    let wrong = Expect { request_id: "req_other", ..Default::default() };
    println!("   presented for another request: {}", verifier.verify(&token, now + 5, &wrong).unwrap_err());

    // 5. The decision goes out as a Standard Webhooks delivery.
    let secret = Secret::generate_hmac()?;
    let body =
        json!({"type": "request.resolved", "data": {"id": "req_01HZX", "status": verified.dec}}).to_string();
    let signature = webhook::sign(&secret, "msg_1", now, body.as_bytes())?;
    let ts = now.to_string();
    let headers = Headers { id: "msg_1", timestamp: &ts, signature: &signature };
    webhook::verify(
        std::slice::from_ref(&secret),
        &headers,
        body.as_bytes(),
        now + 2,
        webhook::DEFAULT_TOLERANCE_SECS,
    )?;
    println!("5. webhook {signature} verified");
    let late =
        webhook::verify(&[secret], &headers, body.as_bytes(), now + 3600, webhook::DEFAULT_TOLERANCE_SECS);
    println!("   the same delivery replayed an hour later: {}", late.unwrap_err());

    // 6. The tool runs once; a retry with the same key replays the result.
    let fp = Fingerprint::new("POST", "/tools/send_money", edited.to_string().as_bytes())?;
    let Begin::Proceed(exec) = idempotency::begin(None, &key, fp, now, 30)? else { unreachable!() };
    let done = exec.commit(Stored { status: 200, body: r#"{"transfer":"tr_77"}"#.into() }, now + 1)?;
    match idempotency::begin(Some(&done), &key, fp, now + 60, 30)? {
        Begin::Replay(stored) => println!("6. retried call did not pay twice; replayed {}", stored.body),
        other => println!("6. unexpected: {other:?}"),
    }
    Ok(())
}
