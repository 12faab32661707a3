//! Parked state: snapshot bytes chunked in the database (any replica serves any link), and
//! thread checkpoints.

use super::*;
use crate::store::*;

impl Snapshots for Postgres {
    #[allow(unused_variables)]
    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn commit_snapshot(
        &self,
        project: &str,
        id: &str,
        blob: &str,
        meta: &Snapshot,
        audit: AuditEvent<'_>,
    ) -> StoreResult<SnapshotCommit> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn open_snapshot(
        &self,
        project: &str,
        id: &str,
    ) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>> {
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

/// The snapshot of request `id` of `project` (its blob's key and metadata), inside `tx` or on
/// a pooled connection.
pub(super) async fn snapshot_in(
    c: &impl GenericClient,
    project: &str,
    id: &str,
) -> StoreResult<Option<(String, Snapshot)>> {
    let row = c
        .query_opt(
            "SELECT blob, size, sha256, created_at FROM snapshots WHERE request = $1 AND project = $2",
            &[&id, &project],
        )
        .await?;
    Ok(row.map(|r| {
        (
            r.get(0),
            Snapshot { size: r.get::<_, i64>(1).max(0) as u64, sha256: r.get(2), created_at: r.get(3) },
        )
    }))
}
