//! Placeholder.

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

