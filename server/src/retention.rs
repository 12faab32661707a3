//! What a project may store and how long it is kept: the per-project quota on stored bytes
//! (checked before a create or a snapshot is written) and the retention sweep, from the
//! environment:
//!
//! | variable | default | |
//! |---|---|---|
//! | `HANDRAIL_PROJECT_QUOTA_BYTES` | 1 GiB | requests as stored plus parked snapshots, per project; past it 507 `quota_exceeded` |
//! | `HANDRAIL_RETAIN_SNAPSHOTS_SECS` | 7 days | a decided request's parked state, from its decision |
//! | `HANDRAIL_RETAIN_DELIVERIES_SECS` | 30 days | finished deliveries and their bodies, from the last attempt |
//! | `HANDRAIL_RETAIN_IDEMPOTENCY_SECS` | 24 hours | idempotency records (a retry after that is a new create, or 409 `id_taken`) |
//! | `HANDRAIL_RETAIN_OBSERVATIONS_SECS` | 7 days | observation ids kept to drop resent batches |
//! | `HANDRAIL_PRUNE_EVERY_SECS` | 1 hour | how often the sweep runs |
//!
//! Requests, decisions and the audit log are never dropped: they are the record.

use std::time::Duration;

use crate::error::{ApiError, ApiResult, Code};
use crate::store::{Retention, Store};

/// The configured quota and retention.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) quota_bytes: u64,
    pub(crate) retention: Retention,
    pub(crate) every: Duration,
}

/// Rows of each kind one sweep drops at most (the next sweep takes the rest).
const PRUNE_LIMIT: usize = 10_000;

impl Policy {
    pub(crate) fn from_env() -> Policy {
        let var = |name: &str, default: u64| {
            std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(default)
        };
        let secs = |name: &str, default: u64| var(name, default).min(i64::MAX as u64 / 1000) as i64;
        Policy {
            quota_bytes: var("HANDRAIL_PROJECT_QUOTA_BYTES", 1 << 30),
            retention: Retention {
                snapshots_after_decision: secs("HANDRAIL_RETAIN_SNAPSHOTS_SECS", 7 * 86_400),
                deliveries: secs("HANDRAIL_RETAIN_DELIVERIES_SECS", 30 * 86_400),
                idempotency: secs("HANDRAIL_RETAIN_IDEMPOTENCY_SECS", 86_400),
                observations: secs("HANDRAIL_RETAIN_OBSERVATIONS_SECS", 7 * 86_400),
            },
            every: Duration::from_secs(var("HANDRAIL_PRUNE_EVERY_SECS", 3_600).max(1)),
        }
    }

    /// 507 `quota_exceeded` when `project` storing `more` bytes would pass its quota. Checked
    /// before the write, so concurrent writes may pass it by one body each.
    pub(crate) fn check(&self, store: &dyn Store, project: &str, more: u64) -> ApiResult<()> {
        let used = store.usage(project)?;
        if crate::store::over_quota(used, more, self.quota_bytes) {
            return Err(self.exceeded(used));
        }
        Ok(())
    }

    /// 507 `quota_exceeded`: the project stores `used` bytes, and more would pass its quota.
    pub(crate) fn exceeded(&self, used: u64) -> ApiError {
        ApiError::new(
            Code::QuotaExceeded,
            format!("the project stores {used} bytes of its {} byte quota", self.quota_bytes),
        )
    }
}

/// Runs the retention sweep every `policy.every`.
pub(crate) async fn prune_loop(state: crate::AppState) {
    let mut tick = tokio::time::interval(state.policy.every);
    loop {
        tick.tick().await;
        let (store, policy) = (state.store.clone(), state.policy);
        let pruned =
            tokio::task::spawn_blocking(move || store.prune(crate::now(), &policy.retention, PRUNE_LIMIT))
                .await;
        match pruned {
            Ok(Ok(pruned)) if pruned != Default::default() => {
                crate::log::event(crate::log::Level::Info, "retention sweep", serde_json::json!(pruned))
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => crate::log::event(
                crate::log::Level::Error,
                "retention sweep failed",
                serde_json::json!({ "error": e.0 }),
            ),
            Err(e) => crate::log::event(
                crate::log::Level::Error,
                "retention sweep failed",
                serde_json::json!({ "error": e.to_string() }),
            ),
        }
    }
}
