//! Usage counts and retention (pruned by one replica at a time).

use super::*;
use crate::store::*;

impl Housekeeping for Postgres {
    #[allow(unused_variables)]
    fn usage(&self, project: &str) -> StoreResult<u64> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn prune(&self, now: i64, policy: &Retention, limit: usize) -> StoreResult<Pruned> {
        Err(StoreError("not built".into()))
    }
}

/// Adds `delta` bytes to `project`'s usage (never below 0), inside the transaction that
/// stores or drops them.
pub(super) async fn add_usage(tx: &impl GenericClient, project: &str, delta: i64) -> StoreResult<()> {
    if delta != 0 {
        tx.execute(
            "INSERT INTO usage (project, bytes) VALUES ($1, GREATEST($2::bigint, 0))
             ON CONFLICT (project) DO UPDATE SET bytes = GREATEST(usage.bytes + $2, 0)",
            &[&project, &delta],
        )
        .await?;
    }
    Ok(())
}
