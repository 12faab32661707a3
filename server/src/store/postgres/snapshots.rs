//! Parked state: snapshot bytes chunked in the database (any replica serves any link), and
//! thread checkpoints.

use tokio_postgres::IsolationLevel;

use super::*;
use crate::store::*;

/// Bytes per `blob_chunks` row: what a sink buffers and a reader holds at most.
const CHUNK: usize = 256 << 10;

/// How long a staged blob no snapshot names is left alone: an upload on another replica may
/// still be writing it (it writes a chunk at least every this often unless its client stalls).
const STAGED_SECS: i64 = 15 * 60;

/// Taken shared by each snapshot commit and exclusively by the sweep, so the sweep never
/// removes a blob that a commit in flight is making a snapshot of (any constant no other
/// lock uses).
const BLOBS_LOCK: i64 = 0x4841_4E44_424C_4F42; // "HANDBLOB"

impl Snapshots for Postgres {
    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>> {
        let mut id = [0u8; 18];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        Ok(Box::new(ChunkSink {
            blobs: self.blobs(),
            key: handrail_core::encoding::b64url_encode(id),
            buf: Vec::with_capacity(CHUNK),
            n: 0,
            done: false,
        }))
    }

    fn commit_snapshot(
        &self,
        project: &str,
        id: &str,
        blob: &str,
        meta: &Snapshot,
        audit: AuditEvent<'_>,
    ) -> StoreResult<SnapshotCommit> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run("SELECT pg_advisory_xact_lock_shared($1)", &[&BLOBS_LOCK]).await?;
            // The request stays pending until this commits (a decision waits for its row), and
            // two uploads to one request take turns, each replacing the one before.
            let status = tx
                .row_opt("SELECT status FROM requests WHERE project = $1 AND id = $2 FOR UPDATE", &[&project, &id])
                .await?
                .map(|r| r.try_get::<_, String>(0))
                .transpose()?;
            let answer = match status.as_deref() {
                None => Some(SnapshotCommit::NotFound),
                Some("PENDING") => None,
                Some(_) => Some(SnapshotCommit::NotPending),
            };
            if let Some(answer) = answer {
                tx.run("DELETE FROM blob_chunks WHERE blob = $1", &[&blob]).await?;
                tx.commit().await?;
                return Ok(answer);
            }
            // A sweep on a replica that did not know of this upload may have removed chunks of
            // it (an upload that stalled past `STAGED_SECS`): refuse what is no longer whole.
            let r = tx
                .row(
                    "SELECT count(*), COALESCE(max(n), -1)::bigint, COALESCE(sum(octet_length(bytes)), 0)::bigint
                     FROM blob_chunks WHERE blob = $1",
                    &[&blob],
                )
                .await?;
            let (count, last, size): (i64, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if count != last + 1 || size != meta.size as i64 {
                tx.run("DELETE FROM blob_chunks WHERE blob = $1", &[&blob]).await?;
                tx.commit().await?;
                return Err(StoreError(format!("the staged snapshot of {id} is incomplete; nothing was stored")));
            }
            let previous = snapshot_in(&tx, project, id).await?;
            housekeeping::add_usage(
                &tx,
                project,
                meta.size as i64 - previous.as_ref().map_or(0, |(_, old)| old.size as i64),
            )
            .await?;
            tx.run(
                "INSERT INTO snapshots (request, project, blob, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (request) DO UPDATE SET blob = EXCLUDED.blob, size = EXCLUDED.size,
                    sha256 = EXCLUDED.sha256, created_at = EXCLUDED.created_at",
                &[&id, &project, &blob, &(meta.size as i64), &meta.sha256, &meta.created_at],
            )
            .await?;
            if let Some((previous, _)) = previous.filter(|(p, _)| p != blob) {
                tx.run("DELETE FROM blob_chunks WHERE blob = $1", &[&previous]).await?;
            }
            append_audit(&tx, project, id, &audit).await?;
            // On an error here the staged chunks stay until a sweep finds them unreferenced.
            tx.commit().await?;
            Ok(SnapshotCommit::Stored)
        })
    }

    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        self.block(async {
            let c = self.client().await?;
            Ok(snapshot_in(&c, project, id).await?.map(|(_, meta)| meta))
        })
    }

    fn open_snapshot(
        &self,
        project: &str,
        id: &str,
    ) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>> {
        let opened: Option<(String, Snapshot, Option<Vec<u8>>)> = self.block(async {
            let mut c = self.client().await?;
            // The metadata and the first chunk as of one moment: a concurrent upload replaces
            // both together.
            let tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some((blob, meta)) = snapshot_in(&tx, project, id).await? else { return Ok(None) };
            let first = chunk(&tx, &blob, 0).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Some((blob, meta, first)))
        })?;
        let Some((blob, meta, first)) = opened else { return Ok(None) };
        if first.is_none() && meta.size > 0 {
            return Err(StoreError(format!("the blob of the snapshot of {id} is missing")));
        }
        let reader = ChunkReader {
            blobs: self.blobs(),
            blob,
            next: 1,
            chunk: first.unwrap_or_default(),
            at: 0,
            left: meta.size,
        };
        Ok(Some((meta, Box::new(reader))))
    }

    fn sweep_snapshots(&self) -> StoreResult<usize> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Commits in flight end first; what they name is then seen here.
            tx.run("SELECT pg_advisory_xact_lock($1)", &[&BLOBS_LOCK]).await?;
            // The database's clock, which every replica staged by.
            let r = tx
                .row(
                    "WITH stale AS (
                        SELECT blob FROM blob_chunks c
                        WHERE NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.blob = c.blob)
                        GROUP BY blob HAVING max(staged_at) < extract(epoch FROM now())::bigint - $1
                     ), gone AS (
                        DELETE FROM blob_chunks WHERE blob IN (SELECT blob FROM stale) RETURNING blob
                     )
                     SELECT count(DISTINCT blob) FROM gone",
                    &[&STAGED_SECS],
                )
                .await?;
            let removed: i64 = r.try_get(0)?;
            tx.commit().await?;
            Ok(removed as usize)
        })
    }
}

impl Postgres {
    fn blobs(&self) -> Blobs {
        Blobs { pool: self.pool.clone(), rt: self.runtime().handle().clone() }
    }
}

/// What a sink or a reader needs of the store, held beyond the call that made it (they are
/// used from other threads).
struct Blobs {
    pool: Pool,
    rt: tokio::runtime::Handle,
}

impl Blobs {
    /// Runs `f` to completion on the calling thread, as [`Postgres::block`] does.
    fn block<F: Future>(&self, f: F) -> F::Output {
        let _entered = self.rt.enter();
        block_on(f)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}

/// A snapshot upload written as chunks of a fresh blob key, each in its own statement:
/// nothing refers to them until [`Snapshots::commit_snapshot`]. Dropped unfinished, its
/// chunks are removed.
struct ChunkSink {
    blobs: Blobs,
    key: String,
    /// Bytes not yet stored: less than a chunk.
    buf: Vec<u8>,
    /// The number of the next chunk.
    n: i32,
    done: bool,
}

impl ChunkSink {
    fn store_chunk(&mut self) -> StoreResult<()> {
        self.blobs.block(async {
            let c = self.blobs.client().await?;
            c.run(
                "INSERT INTO blob_chunks (blob, n, bytes, staged_at) VALUES ($1, $2, $3, extract(epoch FROM now())::bigint)",
                &[&self.key, &self.n, &self.buf],
            )
            .await?;
            Ok::<_, StoreError>(())
        })?;
        self.n += 1;
        self.buf.clear();
        Ok(())
    }
}

impl BlobSink for ChunkSink {
    fn write(&mut self, mut bytes: &[u8]) -> StoreResult<()> {
        while !bytes.is_empty() {
            let take = (CHUNK - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK {
                self.store_chunk()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> StoreResult<String> {
        if !self.buf.is_empty() {
            self.store_chunk()?;
        }
        self.done = true;
        Ok(self.key.clone())
    }
}

impl Drop for ChunkSink {
    fn drop(&mut self) {
        if !self.done && self.n > 0 {
            // Best effort: what is left is swept once it is old.
            let _ = self.blobs.block(async {
                let c = self.blobs.client().await?;
                c.run("DELETE FROM blob_chunks WHERE blob = $1", &[&self.key]).await?;
                Ok::<_, StoreError>(())
            });
        }
    }
}

/// Reads a snapshot's chunks in order, one at a time.
struct ChunkReader {
    blobs: Blobs,
    blob: String,
    /// The number of the next chunk to fetch.
    next: i32,
    /// The chunk being read, from `at`.
    chunk: Vec<u8>,
    at: usize,
    /// Bytes of the snapshot not yet read.
    left: u64,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || out.is_empty() {
            return Ok(0);
        }
        if self.at == self.chunk.len() {
            let (blob, n) = (&self.blob, self.next);
            let next = self
                .blobs
                .block(async {
                    let c = self.blobs.client().await?;
                    chunk(&c, blob, n).await
                })
                .map_err(|e| std::io::Error::other(e.0))?;
            // Chunks go only with their snapshot, when a new upload replaces it or it is pruned.
            let Some(next) = next.filter(|c| !c.is_empty()) else {
                return Err(std::io::Error::other("the snapshot was replaced or removed while it was read"));
            };
            self.chunk = next;
            self.at = 0;
            self.next += 1;
        }
        let n =
            (self.chunk.len() - self.at).min(out.len()).min(usize::try_from(self.left).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Chunk `n` of `blob`, if it is stored.
async fn chunk(c: &impl GenericClient, blob: &str, n: i32) -> StoreResult<Option<Vec<u8>>> {
    let row = c.row_opt("SELECT bytes FROM blob_chunks WHERE blob = $1 AND n = $2", &[&blob, &n]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

impl Checkpoints for Postgres {
    fn put_checkpoint(&self, project: &str, put: &CheckpointPut<'_>) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The project's puts take turns on every replica, so the bounds below count what
            // is committed, and `seq` grows in the order the puts are made.
            tx.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 8))", &[&project]).await?;
            // Stored bytes count against the project's quota: what this adds less what it drops.
            let mut freed: i64 = 0;
            // A re-sent checkpoint gets a new `seq`: the last one written is the newest.
            freed += dropped(
                &tx,
                "DELETE FROM thread_checkpoints WHERE project = $1 AND thread = $2 AND id = $3
                 RETURNING octet_length(body)::bigint",
                &[&project, &put.thread, &put.id],
            )
            .await?;
            tx.run(
                "INSERT INTO thread_checkpoints (project, thread, id, body, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&project, &put.thread, &put.id, &put.body, &put.now],
            )
            .await?;
            freed += dropped(
                &tx,
                "DELETE FROM thread_checkpoints WHERE project = $1 AND thread = $2 AND seq NOT IN (
                    SELECT seq FROM thread_checkpoints WHERE project = $1 AND thread = $2 ORDER BY seq DESC LIMIT $3)
                 RETURNING octet_length(body)::bigint",
                &[&project, &put.thread, &(put.per_thread as i64)],
            )
            .await?;
            freed += dropped(
                &tx,
                "DELETE FROM thread_checkpoints WHERE project = $1 AND seq NOT IN (
                    SELECT seq FROM thread_checkpoints WHERE project = $1 ORDER BY seq DESC LIMIT $2)
                 RETURNING octet_length(body)::bigint",
                &[&project, &(put.per_project as i64)],
            )
            .await?;
            housekeeping::add_usage(&tx, project, put.body.len() as i64 - freed).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn checkpoint(&self, project: &str, thread: &str, id: Option<&str>) -> StoreResult<Option<String>> {
        self.block(async {
            let c = self.client().await?;
            let row = match id {
                Some(id) => {
                    c.row_opt(
                        "SELECT body FROM thread_checkpoints WHERE project = $1 AND thread = $2 AND id = $3",
                        &[&project, &thread, &id],
                    )
                    .await?
                }
                None => {
                    c.row_opt(
                        "SELECT body FROM thread_checkpoints WHERE project = $1 AND thread = $2
                         ORDER BY seq DESC LIMIT 1",
                        &[&project, &thread],
                    )
                    .await?
                }
            };
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn delete_checkpoints(&self, project: &str, thread: &str) -> StoreResult<usize> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let sizes = tx
                .rows(
                    "DELETE FROM thread_checkpoints WHERE project = $1 AND thread = $2
                     RETURNING octet_length(body)::bigint",
                    &[&project, &thread],
                )
                .await?
                .iter()
                .map(|r| r.try_get::<_, i64>(0))
                .collect::<Result<Vec<_>, _>>()?;
            housekeeping::add_usage(&tx, project, -sizes.iter().sum::<i64>()).await?;
            tx.commit().await?;
            Ok(sizes.len())
        })
    }
}

/// The bytes of the rows a `DELETE … RETURNING octet_length(…)::bigint` removed.
async fn dropped(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<i64> {
    let mut bytes = 0;
    for r in tx.query(sql, params).await? {
        bytes += r.try_get::<_, i64>(0)?;
    }
    Ok(bytes)
}

/// The snapshot of request `id` of `project` (its blob's key and metadata), inside `tx` or on
/// a pooled connection.
pub(super) async fn snapshot_in(
    c: &impl GenericClient,
    project: &str,
    id: &str,
) -> StoreResult<Option<(String, Snapshot)>> {
    let row = c
        .row_opt(
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
