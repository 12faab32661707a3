//! Property tests: every parser gets random and mutated input and must answer with a
//! value or a typed error — never a panic — and the formats' invariants must hold.
//! Bounded (see `CASES`) so the test command stays fast; `HANDRAIL_PROPTEST_CASES=100000
//! cargo test -p handrail-core --test hostile_input` runs longer on demand.

use handrail_core::audit;
use handrail_core::canonical::canonicalize;
use handrail_core::envelope::{self, Context, Key, Keyring};
use handrail_core::proof::{self, Expect, Signer, Verifier};
use handrail_core::request;
use handrail_core::webhook::{self, Headers, Secret};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 512;

fn config() -> ProptestConfig {
    let cases = std::env::var("HANDRAIL_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// JSON-Schema-like values: keywords that combine, refer and constrain, nested and mixed
/// with arbitrary JSON, so compiling and validating meet hostile shapes.
fn schema_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(serde_json::json!({"type": "string"})),
        Just(serde_json::json!({"type": ["integer", "null"]})),
        Just(serde_json::json!({"$ref": "#"})),
        Just(serde_json::json!({"$ref": "#/$defs/a"})),
        Just(serde_json::json!({"$ref": "#/definitions/x/y"})),
        Just(serde_json::json!({"$ref": "https://example.com/s.json"})),
        Just(serde_json::json!({"pattern": "^(a+)+$"})),
        Just(serde_json::json!({"pattern": "(a)\\1"})),
        Just(serde_json::json!({"minLength": 2, "maxLength": 1})),
        Just(serde_json::json!({"uniqueItems": true})),
        Just(serde_json::json!(true)),
        Just(serde_json::json!(false)),
        json_value(),
    ];
    leaf.prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| serde_json::json!({"allOf": v})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| serde_json::json!({"anyOf": v})),
            inner.clone().prop_map(|v| serde_json::json!({"items": v})),
            inner.clone().prop_map(|v| serde_json::json!({"not": v})),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| serde_json::json!({"$defs": {"a": a}, "properties": {"p": b}})),
            (inner.clone(), inner)
                .prop_map(|(a, b)| serde_json::json!({"if": a, "then": b, "$ref": "#/$defs/a"})),
        ]
    })
}

/// Arbitrary JSON values whose numbers are exactly representable (no big integers).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        (-1e300f64..1e300f64)
            .prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn canonical_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = canonicalize(&bytes);
    }

    #[test]
    fn canonical_never_panics_on_json_like_text(text in "[\\[\\]{}:,\" 0-9.eE+\\-tfnrulsa\\\\u]{0,64}") {
        let _ = canonicalize(text.as_bytes());
    }

    #[test]
    fn canonical_is_idempotent_and_matches_reference(value in json_value()) {
        let text = serde_json::to_string_pretty(&value).unwrap();
        let once = canonicalize(&text).unwrap();
        prop_assert_eq!(&canonicalize(&once).unwrap(), &once);
        // The reference implementation (a dev-dependency) agrees on every valid document.
        let reference = serde_json_canonicalizer::to_string(&value).unwrap();
        prop_assert_eq!(once, reference);
    }

    #[test]
    fn decimals_take_the_ecmascript_form(neg in any::<bool>(), int in "(0|[1-9][0-9]{0,11})", frac in "[0-9]{1,12}") {
        // The canonicalizer's short-decimal fast path against the general one (parse to a
        // double, print with ryu-js).
        let literal = format!("{}{int}.{frac}", if neg { "-" } else { "" });
        let value: f64 = literal.parse().unwrap();
        let want = if value == 0.0 { "0".to_string() } else { ryu_js::Buffer::new().format_finite(value).to_string() };
        prop_assert_eq!(canonicalize(&literal).unwrap(), want);
    }

    #[test]
    fn envelope_open_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let ring = Keyring::new().with(Key::new("k", [1; 32]).unwrap());
        let _ = envelope::open(&bytes, &ring, &Context::new("r", "f"));
    }

    #[test]
    fn mutated_envelopes_never_open(pos in 0usize..200, byte in any::<u8>(), wrapped in any::<bool>()) {
        let key = Key::new("k", [1; 32]).unwrap();
        let ring = Keyring::new().with(key.clone());
        let ctx = Context::new("r", "f");
        let sealed = if wrapped {
            envelope::seal_wrapped(&key, &ctx, b"{\"amount\":10}").unwrap()
        } else {
            envelope::seal(&key, &ctx, b"{\"amount\":10}").unwrap()
        };
        let mut bytes = sealed.into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        // Either refused, or (a change the JSON or base64 layer normalizes away) the same
        // plaintext: never a different one.
        if let Ok(plain) = envelope::open(&bytes, &ring, &ctx) {
            prop_assert_eq!(plain, b"{\"amount\":10}".to_vec());
        }
    }

    #[test]
    fn webhook_headers_never_panic(id in "\\PC{0,20}", ts in "\\PC{0,20}", sig in "\\PC{0,80}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let secrets = [Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()];
        let _ = webhook::verify(&secrets, &Headers { id: &id, timestamp: &ts, signature: &sig }, &body, 0, 300);
        #[cfg(feature = "compat")]
        let _ = handrail_core::compat::letsping::verify(b"s", &sig, &body, 0, 300_000);
        let _ = Secret::parse(&sig);
    }

    #[test]
    fn proof_tokens_never_panic(token in "[A-Za-z0-9_\\-.]{0,200}") {
        let verifier = Verifier::from_jwks(&Signer::from_seed("p", [3; 32]).unwrap().public_jwk()).unwrap();
        let _ = verifier.verify(&token, 0, &Expect { request_id: "r", ..Default::default() });
    }

    #[test]
    fn mutated_proofs_never_verify(pos in 0usize..400, ch in "[A-Za-z0-9_\\-]") {
        let signer = Signer::from_seed("p", [3; 32]).unwrap();
        let verifier = Verifier::from_jwks(&signer.public_jwk()).unwrap();
        let claims = proof::Claims {
            rid: "r".into(), req: proof::digest("{}").unwrap(), dec: "APPROVED".into(), act: "op".into(),
            pat: None, iat: 0, exp: 100, jti: "j".into(), prj: Some("prj".into()), iss: Some("srv_1".into()),
            grt: None,
        };
        let token = signer.sign(&claims).unwrap();
        let mut bytes = token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != b'.' && bytes[pos] != ch.as_bytes()[0]);
        bytes[pos] = ch.as_bytes()[0];
        let mutated = String::from_utf8(bytes).unwrap();
        let result = verifier.verify(&mutated, 50, &Expect { request_id: "r", ..Default::default() });
        // base64url's last character may carry unused bits the strict decoder refuses;
        // whatever the reason, a changed token never verifies.
        prop_assert!(result.is_err());
    }

    #[test]
    fn mutated_checkpoints_never_verify(pos in 0usize..400, ch in "[A-Za-z0-9_\\-]") {
        let signer = Signer::from_seed("p", [3; 32]).unwrap();
        let verifier = Verifier::from_jwks(&signer.public_jwk()).unwrap();
        let claims = audit::CheckpointClaims {
            prj: "prj".into(), seq: 7, hash: audit::GENESIS.into(), iat: 1, iss: "srv_1".into(),
        };
        let token = audit::sign_checkpoint(&signer, &claims).unwrap();
        let mut bytes = token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != b'.' && bytes[pos] != ch.as_bytes()[0]);
        bytes[pos] = ch.as_bytes()[0];
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(audit::verify_signed_checkpoint(&verifier, &mutated, None, None).is_err());
    }

    #[test]
    fn diff_then_apply_gives_the_edit(before in json_value(), after in json_value()) {
        let d = request::diff(&before, &after);
        prop_assert_eq!(request::apply(&before, &d.ops).unwrap(), after);
    }

    #[test]
    fn schemas_compile_or_fail_with_a_code_and_validation_stays_bounded(schema in schema_like(), instance in json_value()) {
        match request::compile_schema(&schema) {
            Ok(_) => {
                if let Err(e) = request::validate_edit(&schema, &instance) {
                    prop_assert!(["edit_invalid", "schema_too_complex"].contains(&e.code()), "{}", e.code());
                }
            }
            Err(e) => prop_assert!(["schema_invalid", "schema_too_complex"].contains(&e.code()), "{}", e.code()),
        }
    }

    #[test]
    fn request_bodies_parse_and_validate_or_fail_with_a_code(value in json_value(), schema in schema_like()) {
        // A create body as a server reads it: strict parse, bounded, then the model and its
        // validation. Random members and a random schema beside a valid skeleton.
        let mut body = serde_json::json!({"service": "s", "action": "a", "payload": value, "schema": schema});
        for text in [body.to_string(), { body["extra"] = Value::Bool(true); body.to_string() }] {
            let parsed = match handrail_core::canonical::parse_bounded(text.as_bytes(), 50_000) {
                Ok(v) => v,
                Err(e) => { prop_assert!(!e.code().is_empty()); continue; }
            };
            if let Ok(new) = serde_json::from_value::<request::NewRequest>(parsed) {
                if let Err(e) = new.validate() {
                    prop_assert!(!e.code().is_empty());
                }
            }
        }
    }

    #[test]
    fn bounded_parsing_refuses_exactly_past_the_limit(value in json_value(), slack in 0usize..3) {
        let text = value.to_string();
        let count = handrail_core::canonical::parse(&text).map(|v| count(&v)).unwrap();
        prop_assert!(handrail_core::canonical::parse_bounded(&text, count + slack).is_ok());
        if count > slack {
            let refused = handrail_core::canonical::parse_bounded(&text, count - 1).unwrap_err();
            prop_assert_eq!(refused.code(), "too_many_values");
        }
    }
}

/// The vendor-only formats exist only with the `compat` feature.
#[cfg(feature = "compat")]
mod compat_formats {
    use super::*;

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn letsping_headers_never_panic(header in "\\PC{0,120}", body in prop::collection::vec(any::<u8>(), 0..64), now in any::<i64>()) {
            let _ = handrail_core::compat::letsping::verify(b"secret", &header, &body, now, 300_000);
        }
    }
}

/// How many values `v` holds, itself included.
fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(members) => members.values().map(count).sum(),
        _ => 0,
    }
}
