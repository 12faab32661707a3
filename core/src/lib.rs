//! # handrail-core
//!
//! The engine behind every Handrail surface (Python, Node, browser, server). It is
//! **sans-IO**: no network, no threads, no clock. Functions that depend on time take `now`
//! (Unix seconds unless a name says otherwise) as an argument; randomness comes from the
//! operating system through `getrandom`, and every function that draws it has a twin that
//! takes the IV or key instead, so test vectors are deterministic.
//!
//! | module | what it does |
//! |---|---|
//! | [`audit`] | the hash-chained audit log |
//! | [`canonical`] | RFC 8785 canonical JSON from raw JSON text |
//! | [`crypto`] | the primitives: AES-256-GCM, AES-KW, HMAC-SHA256, Ed25519 |
//! | [`encoding`] | strict base64url, base64, hex |
//! | [`idempotency`] | keys, request fingerprints, the execution state machine |
//! | [`envelope`] | AES-256-GCM envelopes bound to their request and field |
//! | [`webhook`] | Standard Webhooks signatures (HMAC v1, Ed25519 v1a) |
//! | [`proof`] | Ed25519-signed decision proofs, verifiable offline |
//! | [`firewall`] | the behavioral firewall: learned profiles and per-call verdicts |
//! | [`guard`] | the guard before each tool call: call key, plan for a verdict, review context, what to record, the text a model reads |
//! | [`request`] | request and decision models, edit diffs, schema validation |
//! | [`protocol`] | the sans-IO client of the server API: requests built, answers interpreted |
//! | `compat` | vendor-only formats (LetsPing's signature header and legacy envelope), behind the `compat` feature |
//!
//! Every error is an [`Error`] with a stable [`Error::code`] and a stable category,
//! [`Error::kind`] ([`ErrorKind`]), from which every binding picks its exception class.
//!
//! ```
//! # fn main() -> Result<(), handrail_core::Error> {
//! use handrail_core::envelope::{self, Context, Key, Keyring};
//!
//! let key = Key::generate("team-billing")?;
//! let ctx = Context::new("req_01HZX", "payload");
//! let sealed = envelope::seal(&key, &ctx, br#"{"amount":4200}"#)?;
//! let plain = envelope::open(sealed.as_bytes(), &Keyring::new().with(key), &ctx)?;
//! # assert_eq!(plain, br#"{"amount":4200}"#);
//! # Ok(()) }
//! ```

pub mod audit;
pub mod canonical;
#[cfg(feature = "compat")]
pub mod compat;
pub mod crypto;
pub mod encoding;
pub mod envelope;
pub mod error;
pub mod firewall;
pub mod guard;
pub mod idempotency;
pub mod proof;
pub mod protocol;
pub mod request;
pub mod webhook;

pub use error::{Error, ErrorKind, Result};
