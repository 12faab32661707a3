//! `handrail` — the command line of the Handrail control plane.
//!
//! `handrail serve` runs the control plane; the operator's commands (`requests`, `approve`,
//! `reject`, `keys`, `projects`, `budget`, `compat secrets`, `audit verify|export`) talk to
//! it or read its data directory; the offline tools (canonical JSON, key generation,
//! verification of decision proofs and webhook deliveries) let anyone check a Handrail
//! decision without trusting a server. Failures print the error's stable code and exit with
//! status 1 (verification failed) or 2 (bad input).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use handrail_core::canonical::canonicalize;
use handrail_core::envelope::Key;
use handrail_core::proof::{Expect, Signer, Verifier};
use handrail_core::webhook::{self, Headers, Secret};
use handrail_core::Error;

/// Handrail: the trust layer between AI agents and their dangerous tools.
#[derive(Parser)]
#[command(name = "handrail", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `handrail compat …`.
#[derive(Subcommand)]
enum CompatCommand {
    /// Print the project's compatibility secrets as JSON; `--rotate NAME` (or `all`) first
    /// replaces one with a fresh value.
    Secrets {
        /// `looppause_signing_secret`, `letsping_webhook_secret` or `all`.
        #[arg(long)]
        rotate: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane on SQLite under DIR, or on a PostgreSQL database several
    /// replicas share (first start creates a project and keys).
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: std::net::SocketAddr,
        /// Data directory.
        #[arg(long, default_value = ".handrail")]
        data: std::path::PathBuf,
        /// A PostgreSQL URL (`postgres://user@host:port/db`, also HANDRAIL_DATABASE_URL): the
        /// store, shared by every replica given it; DIR then keeps only bootstrap.json.
        #[arg(long, env = "HANDRAIL_DATABASE_URL")]
        database: Option<String>,
    },
    /// The audit log: verify its hash chain, or export it as JSONL.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// List requests (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Keys of the operator's project (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Projects: create one (admin token) or list them (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Projects {
        #[command(subcommand)]
        command: ProjectsCommand,
    },
    /// An agent's daily budget in USD (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Budget {
        #[command(subcommand)]
        command: BudgetCommand,
    },
    /// Approve a request, optionally with an edited payload (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Approve {
        id: String,
        /// The edited payload, as JSON.
        #[arg(long)]
        edit: Option<String>,
    },
    /// Reject a request with a reason (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Secrets the LetsPing and LoopPause clients need (HANDRAIL_URL, HANDRAIL_OPERATOR_TOKEN).
    Compat {
        #[command(subcommand)]
        command: CompatCommand,
    },
    /// Print the RFC 8785 canonical form of a JSON document (file, or stdin when omitted).
    Canonicalize { file: Option<String> },
    /// Generate a key or secret.
    #[command(subcommand)]
    Keygen(Keygen),
    /// Verify a decision proof offline against the server's public keys (JWKS).
    VerifyProof {
        /// The compact JWS proof.
        token: String,
        /// File with the JWKS (as served at /v1/keys/proof).
        #[arg(long)]
        jwks: String,
        /// The request id the proof must belong to.
        #[arg(long)]
        request_id: String,
        /// The project the proof must be for (its `prj`).
        #[arg(long)]
        project: Option<String>,
        /// The server that must have issued it (its `iss`: the `issuer` of /v1/keys/proof).
        #[arg(long)]
        issuer: Option<String>,
        /// Check against this Unix time instead of the clock.
        #[arg(long)]
        now: Option<i64>,
    },
    /// The behavioral firewall's offline tools.
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// Print the OpenAPI 3.1 document of v1 (as `GET /v1/openapi.json` serves it) without
    /// starting a server: the dashboard's wire types are generated from it.
    #[command(hide = true)]
    Openapi,
    /// Verify a Standard Webhooks delivery (body from a file, or stdin when omitted).
    VerifyWebhook {
        /// whsec_… or whpk_… secret.
        #[arg(long)]
        secret: String,
        /// The webhook-id header.
        #[arg(long)]
        id: String,
        /// The webhook-timestamp header.
        #[arg(long)]
        timestamp: String,
        /// The webhook-signature header.
        #[arg(long)]
        signature: String,
        /// Check against this Unix time instead of the clock.
        #[arg(long)]
        now: Option<i64>,
        body: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every project's chain in a data directory's database (and its signed
    /// checkpoints, so deleted newest entries show), in an exported JSONL file (a whole
    /// export, or one project's entries), or on a server: with HANDRAIL_URL and
    /// HANDRAIL_OPERATOR_TOKEN set and neither --data nor --file, or with --remote, the
    /// operator's project's chain and its signed head.
    Verify {
        /// The data directory (default .handrail).
        #[arg(long, conflicts_with_all = ["file", "remote", "database"])]
        data: Option<std::path::PathBuf>,
        /// A PostgreSQL database (`postgres://…`, also HANDRAIL_DATABASE_URL) instead of a
        /// data directory.
        #[arg(long, env = "HANDRAIL_DATABASE_URL", conflicts_with_all = ["file", "remote"])]
        database: Option<String>,
        /// An export (one entry per line) instead of the database.
        #[arg(long, conflicts_with = "remote")]
        file: Option<String>,
        /// Verify on the server at HANDRAIL_URL (HANDRAIL_OPERATOR_TOKEN).
        #[arg(long)]
        remote: bool,
        /// Remember where each verified chain ended in FILE; a later run fails if a chain
        /// no longer holds it (detects deleted entries even when their checkpoint went too).
        #[arg(long)]
        state: Option<std::path::PathBuf>,
    },
    /// Print the log as JSONL.
    Export {
        #[arg(long, default_value = ".handrail")]
        data: std::path::PathBuf,
        /// A PostgreSQL database (`postgres://…`, also HANDRAIL_DATABASE_URL) instead.
        #[arg(long, env = "HANDRAIL_DATABASE_URL")]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum BudgetCommand {
    /// Set the daily budget of AGENT (the agent need not have run yet).
    Set {
        agent: String,
        /// The daily limit in USD.
        #[arg(long)]
        daily_usd: f64,
    },
    /// Remove the daily budget of AGENT.
    Clear { agent: String },
    /// Show AGENT's daily budget and today's spend.
    Show { agent: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its token is printed once.
    New {
        /// agent (create and wait) or operator (decide).
        #[arg(long, default_value = "agent")]
        role: String,
        /// For an operator: the request roles it may decide, comma-separated (default *: any).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    /// List the project's keys (ids and roles, never tokens).
    Ls,
}

#[derive(Subcommand)]
enum ProjectsCommand {
    /// Create a project; its first operator token and agent key are printed once.
    New { name: String },
    /// List projects (all of them for an admin token, else the token's own).
    Ls,
    /// Show project ID as JSON, with the bound on grants in force in it.
    Show { id: String },
    /// Bound the grants given in project ID (an operator token of role * of it, or an admin).
    SetMaxGrant {
        id: String,
        /// Most seconds a grant may stand (1 to a year; the server's HANDRAIL_MAX_GRANT_SECS
        /// still caps it). Live grants that would outlast it end by it.
        #[arg(long)]
        secs: u64,
    },
    /// Remove project ID's own bound on grants (the server-wide one stays).
    ClearMaxGrant { id: String },
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// List requests, newest first.
    Ls {
        /// Only this status (PENDING, APPROVED, …).
        #[arg(long)]
        status: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum FirewallCommand {
    /// Learn TRAIN sessions as honest, then judge each TEST session alone; prints one JSON
    /// line per test session: {"session","flagged_at","verdicts":[…]}.
    Eval {
        /// JSONL of honest sessions: {"session","agent"?,"context"?,"calls":[{"tool","args","effect"?,"output"?}]}.
        #[arg(long)]
        train: String,
        /// JSONL of sessions to judge, same shape.
        #[arg(long)]
        test: String,
        /// JSON of declared effects: {"tool": {"effect": "payment"}, …}.
        #[arg(long)]
        tools: Option<String>,
        /// Ablation: no tool output taints a session (instruction-like outputs are read like
        /// any other), to measure what the taint rule adds.
        #[arg(long)]
        no_taint: bool,
    },
}

#[derive(Subcommand)]
enum Keygen {
    /// An AES-256 envelope key (hrk1.<kid>.<key>) and its JWK.
    Encryption {
        #[arg(long, default_value = "default")]
        kid: String,
    },
    /// A Standard Webhooks secret: whsec_ (HMAC), or whsk_/whpk_ with --ed25519.
    Webhook {
        #[arg(long)]
        ed25519: bool,
    },
    /// An Ed25519 proof-signing key: the private seed and the public JWK.
    Proof {
        #[arg(long, default_value = "proof-1")]
        kid: String,
    },
}

mod firewall_eval;
mod operator;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Serve { addr, data, database } = &cli.command {
        let options =
            handrail_server::ServeOptions { addr: *addr, data: data.clone(), database: database.clone() };
        few_malloc_arenas();
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error[runtime]: {e}");
                return ExitCode::from(2);
            }
        };
        return match runtime.block_on(handrail_server::serve(options)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error[serve]: {message}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Firewall(FirewallCommand::Eval { train, test, tools, no_taint }) = &cli.command {
        return match firewall_eval::run(train, test, tools.as_deref(), !no_taint) {
            Ok(lines) => {
                let mut out = std::io::stdout().lock();
                for line in lines {
                    if writeln!(out, "{line}").is_err() {
                        return ExitCode::from(2);
                    }
                }
                ExitCode::SUCCESS
            }
            Err(firewall_eval::EvalError(message)) => {
                eprintln!("error[firewall_input]: {message}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Core(e)) => {
            eprintln!("error[{}]: {e}", e.code());
            let verification = matches!(
                e,
                Error::ProofSignature
                    | Error::ProofExpired
                    | Error::ProofMismatch { .. }
                    | Error::ProofProject
                    | Error::ProofIssuer
                    | Error::WebhookSignature
                    | Error::WebhookTimestamp
                    | Error::AuditBroken { .. }
                    | Error::AuditTruncated { .. }
            );
            ExitCode::from(if verification { 1 } else { 2 })
        }
        Err(CliError::Other { code, message }) => {
            eprintln!("error[{code}]: {message}");
            ExitCode::from(2)
        }
    }
}

/// A failure of a command: the core's, or the command's own (I/O, HTTP).
pub(crate) enum CliError {
    Core(Error),
    Other { code: String, message: String },
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Core(e)
    }
}

impl CliError {
    pub(crate) fn other(code: &str, message: impl Into<String>) -> Self {
        CliError::Other { code: code.to_string(), message: message.into() }
    }
}

fn read_input(file: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    let io = |_| Error::JsonSyntax { offset: 0, reason: "cannot read the input" };
    match file {
        Some(path) => data = std::fs::read(path).map_err(io)?,
        None => {
            std::io::stdin().read_to_end(&mut data).map_err(io)?;
        }
    }
    Ok(data)
}

fn clock() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Canonicalize { file } => println!("{}", canonicalize(read_input(file.as_deref())?)?),
        Command::Keygen(Keygen::Encryption { kid }) => {
            let key = Key::generate(kid)?;
            println!("{}", key.export());
            println!("{}", key.to_jwk());
        }
        Command::Keygen(Keygen::Webhook { ed25519 }) => {
            if ed25519 {
                let secret = Secret::generate_ed25519()?;
                println!("{}", secret.export());
                println!("{}", secret.public().map(|p| p.export()).unwrap_or_default());
            } else {
                println!("{}", Secret::generate_hmac()?.export());
            }
        }
        Command::Keygen(Keygen::Proof { kid }) => {
            let signer = Signer::generate(kid)?;
            println!("{}", handrail_core::encoding::b64url_encode(signer.seed().as_slice()));
            println!("{}", serde_json::json!({ "keys": [signer.public_jwk()] }));
        }
        Command::VerifyProof { token, jwks, request_id, project, issuer, now } => {
            let text = read_input(Some(&jwks))?;
            let jwks: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|_| Error::InvalidKey { reason: "the JWKS file is not JSON" })?;
            let verifier = Verifier::from_jwks(&jwks)?;
            let expect = Expect {
                request_id: &request_id,
                project: project.as_deref(),
                issuer: issuer.as_deref(),
                ..Default::default()
            };
            let claims = verifier.verify(token.trim(), now.unwrap_or_else(clock), &expect)?;
            println!("{}", serde_json::to_string_pretty(&claims).expect("claims serialize"));
        }
        Command::Firewall(_) | Command::Serve { .. } => unreachable!("handled in main"),
        Command::Openapi => {
            let document = handrail_server::v1::openapi_document();
            println!("{}", serde_json::to_string_pretty(&document).expect("a Value serializes"));
        }
        Command::Audit(AuditCommand::Verify { data, database, file, remote, state }) => {
            let env_set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
            let source = match (data, file) {
                (Some(dir), _) => operator::AuditSource::Stored(operator::Stored::Data(dir)),
                (None, None) if database.is_some() && !remote => {
                    operator::AuditSource::Stored(operator::Stored::Database(database.unwrap_or_default()))
                }
                (None, Some(path)) => operator::AuditSource::File(path),
                (None, None) if remote || (env_set("HANDRAIL_URL") && env_set("HANDRAIL_OPERATOR_TOKEN")) => {
                    operator::AuditSource::Remote
                }
                (None, None) => operator::AuditSource::Stored(operator::Stored::Data(".handrail".into())),
            };
            operator::verify_audit(source, state.as_deref())?
        }
        Command::Audit(AuditCommand::Export { data, database }) => {
            let at = match database {
                Some(url) => operator::Stored::Database(url),
                None => operator::Stored::Data(data),
            };
            for entry in operator::read_log(&at)? {
                println!("{}", serde_json::to_string(&entry).expect("entries serialize"));
            }
        }
        Command::Requests { command: RequestsCommand::Ls { status, json } } => {
            operator::list(status.as_deref(), json)?
        }
        Command::Keys { command: KeysCommand::New { role, roles } } => {
            operator::new_key(&role, roles.as_deref())?
        }
        Command::Projects { command: ProjectsCommand::New { name } } => operator::new_project(&name)?,
        Command::Projects { command: ProjectsCommand::Ls } => operator::list_projects()?,
        Command::Projects { command: ProjectsCommand::Show { id } } => operator::project(&id, None)?,
        Command::Projects { command: ProjectsCommand::SetMaxGrant { id, secs } } => {
            operator::project(&id, Some(Some(secs)))?
        }
        Command::Projects { command: ProjectsCommand::ClearMaxGrant { id } } => {
            operator::project(&id, Some(None))?
        }
        Command::Keys { command: KeysCommand::Ls } => operator::list_keys()?,
        Command::Budget { command: BudgetCommand::Set { agent, daily_usd } } => {
            operator::budget(&agent, Some(Some(daily_usd)))?
        }
        Command::Budget { command: BudgetCommand::Clear { agent } } => operator::budget(&agent, Some(None))?,
        Command::Budget { command: BudgetCommand::Show { agent } } => operator::budget(&agent, None)?,
        Command::Approve { id, edit } => operator::resolve(&id, "approve", edit.as_deref(), None)?,
        Command::Reject { id, reason } => operator::resolve(&id, "reject", None, Some(&reason))?,
        Command::Compat { command: CompatCommand::Secrets { rotate } } => {
            operator::compat_secrets(rotate.as_deref())?
        }
        Command::VerifyWebhook { secret, id, timestamp, signature, now, body } => {
            let secret = Secret::parse(&secret)?;
            let body = read_input(body.as_deref())?;
            let headers = Headers { id: &id, timestamp: &timestamp, signature: &signature };
            webhook::verify(
                &[secret],
                &headers,
                &body,
                now.unwrap_or_else(clock),
                webhook::DEFAULT_TOLERANCE_SECS,
            )?;
            println!("verified");
        }
    }
    Ok(())
}

/// Caps glibc's malloc at two arenas. By default each of the many threads that parse
/// request bodies (runtime workers, blocking threads) may get an arena of its own, and memory
/// freed there is kept for that arena: under a burst of one-megabyte bodies the resident set
/// then grows to several times what is live (`server/benches/hostile_load.rs`: 440 MB above
/// idle with the default, 211 MB with two arenas). `MALLOC_ARENA_MAX` in the environment
/// still wins.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt(3) only changes a tuning parameter of the allocator; it is called
        // before the runtime starts any thread, and M_ARENA_MAX is a valid parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
