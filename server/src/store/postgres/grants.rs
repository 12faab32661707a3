//! Placeholder.

use super::*;
use crate::store::*;

impl Grants for Postgres {
    #[allow(unused_variables)]
    fn add_grant(&self, project: &str, grant: &Grant, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn grants(&self, project: &str, limit: usize) -> StoreResult<Vec<Grant>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn revoke_grant(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn live_grant(&self, project: &str, request: &RequestRow, now: i64) -> StoreResult<Option<Grant>> {
        Err(StoreError("not built".into()))
    }
}
