//! Placeholder.

use super::*;
use crate::store::*;

impl AuditLog for Postgres {
    #[allow(unused_variables)]
    fn append_audit(&self, project: &str, subject: &str, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn audit_log(&self) -> StoreResult<Vec<Entry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn audit_heads(&self) -> StoreResult<Vec<Entry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn audit_entry(&self, project: &str, seq: u64) -> StoreResult<Option<Entry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn audit_checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn put_audit_checkpoint(&self, checkpoint: &StoredCheckpoint) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn audit_page(&self, project: &str, after: u64, limit: usize) -> StoreResult<Vec<Entry>> {
        Err(StoreError("not built".into()))
    }
}

