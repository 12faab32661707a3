//! Placeholder.

use super::*;
use crate::store::*;

impl Snapshots for Postgres {
    #[allow(unused_variables)]
    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn commit_snapshot(&self, project: &str, id: &str, blob: &str, meta: &Snapshot, audit: AuditEvent<'_>) -> StoreResult<SnapshotCommit> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn open_snapshot(&self, project: &str, id: &str) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn sweep_snapshots(&self) -> StoreResult<usize> {
        Err(StoreError("not built".into()))
    }
}

impl Checkpoints for Postgres {
    #[allow(unused_variables)]
    fn put_checkpoint(&self, project: &str, put: &CheckpointPut<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn checkpoint(&self, project: &str, thread: &str, id: Option<&str>) -> StoreResult<Option<String>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn delete_checkpoints(&self, project: &str, thread: &str) -> StoreResult<usize> {
        Err(StoreError("not built".into()))
    }
}

