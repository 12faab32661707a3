//! The core's hot paths against what a Rust user would otherwise reach for, side by side:
//!
//! - idempotency key of a 1 KB tool call: `idempotency::tool_call_key` vs
//!   `serde_json` + `serde_json_canonicalizer` + `sha2`;
//! - envelope seal/open, 1 KB and 1 MB: `envelope::seal_with`/`open` vs the bare `aes-gcm`
//!   crate (no JSON, no base64, no key wrap: the floor the envelope adds its format to);
//! - webhook verify of a 1 KB body: `webhook::verify` vs the `standardwebhooks` crate.
//!
//! Run: `cargo bench -p handrail-core --bench core`, then `python3 scripts/bench-report.py`
//! for medians and ratios (recorded in BENCHMARKS.md).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use handrail_core::canonical::canonicalize;
use handrail_core::envelope::{self, Context, Key, Keyring};
use handrail_core::idempotency;
use handrail_core::webhook::{self, Headers, Secret};
use sha2::{Digest, Sha256};

/// A realistic ~1 KB tool call: nested objects, strings, numbers, an array.
fn tool_args_1kb() -> String {
    let mut items = Vec::new();
    for i in 0..8 {
        items.push(format!(
            r#"{{"sku": "SKU-{i:04}", "qty": {q}, "price": {p}.99, "note": "gift wrap, deliver after 5pm"}}"#,
            q = i + 1,
            p = 10 + i
        ));
    }
    let text = format!(
        r#"{{"to": "DE89370400440532013000", "amount": 1250.5, "currency": "EUR",
            "memo": "Invoice 2026-11-0042 — quarterly licence", "customer": {{"id": "cus_9f8e7d", "email": "ops@example.com", "tier": "gold"}},
            "items": [{}], "dry_run": false}}"#,
        items.join(", ")
    );
    assert!((900..1300).contains(&text.len()), "{}", text.len());
    text
}

fn bench_key(c: &mut Criterion) {
    let args = tool_args_1kb();
    let mut group = c.benchmark_group("canonical_1kb");
    group.bench_function("handrail", |b| b.iter(|| canonicalize(black_box(args.as_bytes())).unwrap()));
    group.bench_function("serde_json_canonicalizer", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(args.as_bytes())).unwrap();
            serde_json_canonicalizer::to_vec(&value).unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("key_1kb");
    group.bench_function("handrail", |b| {
        b.iter(|| idempotency::tool_call_key("agent_1", "send_money", black_box(args.as_bytes())).unwrap())
    });
    group.bench_function("serde_json_canonicalizer+sha2", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(args.as_bytes())).unwrap();
            let canonical = serde_json_canonicalizer::to_vec(&value).unwrap();
            let mut hash = Sha256::new();
            hash.update(b"agent_1");
            hash.update(b"send_money");
            hash.update(&canonical);
            hash.finalize()
        })
    });
    group.finish();
}

fn bench_envelope(c: &mut Criterion) {
    let key = Key::new("k1", [7; 32]).unwrap();
    let ring = Keyring::new().with(key.clone());
    let ctx = Context::new("req_01HZX", "payload");
    let raw = aes_gcm::Aes256Gcm::new(&[7u8; 32].into());
    for (label, size) in [("1kb", 1024usize), ("1mb", 1 << 20)] {
        let plaintext = vec![0x5a; size];
        let sealed = envelope::seal(&key, &ctx, &plaintext).unwrap();
        let aad = envelope::aad("k1", None, &ctx);
        let raw_ct = raw.encrypt(&[1u8; 12].into(), Payload { msg: &plaintext, aad: &aad }).unwrap();

        let mut group = c.benchmark_group(format!("envelope_{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 4096 {
            group.sample_size(20).measurement_time(Duration::from_secs(3));
        }
        group.bench_function(BenchmarkId::new("seal", "handrail"), |b| {
            b.iter(|| envelope::seal_with(&key, &ctx, black_box(&plaintext), [1; 12], None).unwrap())
        });
        group.bench_function(BenchmarkId::new("seal", "aes-gcm"), |b| {
            b.iter(|| {
                raw.encrypt(&[1u8; 12].into(), Payload { msg: black_box(&plaintext), aad: &aad }).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("open", "handrail"), |b| {
            b.iter(|| envelope::open(black_box(sealed.as_bytes()), &ring, &ctx).unwrap())
        });
        group.bench_function(BenchmarkId::new("open", "aes-gcm"), |b| {
            b.iter(|| raw.decrypt(&[1u8; 12].into(), Payload { msg: black_box(&raw_ct), aad: &aad }).unwrap())
        });
        group.finish();
    }
}

fn bench_webhook(c: &mut Criterion) {
    let body = tool_args_1kb().into_bytes();
    let secret_text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secrets = [Secret::parse(secret_text).unwrap()];
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let ts = now.to_string();
    let signature = webhook::sign(&secrets[0], "msg_1", now, &body).unwrap();

    let theirs = standardwebhooks::Webhook::new(secret_text).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", "msg_1".parse().unwrap());
    headers.insert("webhook-timestamp", ts.parse().unwrap());
    headers.insert("webhook-signature", signature.parse().unwrap());
    theirs.verify(&body, &headers).expect("the reference library accepts our signature");

    let mut group = c.benchmark_group("webhook_verify_1kb");
    group.bench_function("handrail", |b| {
        b.iter(|| {
            let h = Headers { id: "msg_1", timestamp: &ts, signature: &signature };
            webhook::verify(&secrets, &h, black_box(&body), now, 300).unwrap()
        })
    });
    group.bench_function("standardwebhooks", |b| {
        b.iter(|| theirs.verify(black_box(&body), &headers).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_key, bench_envelope, bench_webhook);
criterion_main!(benches);
