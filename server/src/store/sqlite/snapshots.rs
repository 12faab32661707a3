//! Parked state: snapshot blobs staged, committed, read and swept.

use super::*;

impl Snapshots for Sqlite {
    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>> {
        let mut id = [0u8; 18];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        let key = handrail_core::encoding::b64url_encode(id);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Only the server's user reads parked state, whatever the umask.
            options.mode(0o600);
        }
        let file = options.open(self.blobs.join(&key)).map_err(io)?;
        Ok(Box::new(FileSink {
            dir: self.blobs.clone(),
            key,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
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
        let discard = || {
            let _ = std::fs::remove_file(self.blobs.join(blob));
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM requests WHERE project = ?1 AND id = ?2",
                params![project, id],
                |r| r.get(0),
            )
            .optional()?;
        match status.as_deref() {
            None => {
                discard();
                return Ok(SnapshotCommit::NotFound);
            }
            Some("PENDING") => {}
            Some(_) => {
                discard();
                return Ok(SnapshotCommit::NotPending);
            }
        }
        let previous = snapshot_in(&tx, project, id)?;
        housekeeping::add_usage(
            &tx,
            project,
            meta.size as i64 - previous.as_ref().map_or(0, |(_, old)| old.size as i64),
        )?;
        let previous = previous.map(|(blob, _)| blob);
        tx.execute(
            "INSERT INTO snapshots (request, project, blob, size, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(request) DO UPDATE SET blob = excluded.blob, size = excluded.size,
                sha256 = excluded.sha256, created_at = excluded.created_at",
            params![id, project, blob, meta.size as i64, meta.sha256, meta.created_at],
        )?;
        append_audit(&tx, project, id, &audit)?;
        // On an error here the staged file stays: it may be referenced if the commit did land;
        // `sweep_snapshots` removes it at the next start if not.
        tx.commit()?;
        drop(conn);
        if let Some(previous) = previous.filter(|p| p != blob) {
            let _ = std::fs::remove_file(self.blobs.join(previous));
        }
        Ok(SnapshotCommit::Stored)
    }

    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        Ok(snapshot_in(&self.conn(), project, id)?.map(|(_, meta)| meta))
    }

    fn open_snapshot(
        &self,
        project: &str,
        id: &str,
    ) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>> {
        // A concurrent upload may replace (and remove) the file between the read of its name
        // and its opening: read again then. Once open, the bytes stay readable.
        for _ in 0..3 {
            let Some((blob, meta)) = snapshot_in(&self.conn(), project, id)? else { return Ok(None) };
            match std::fs::File::open(self.blobs.join(&blob)) {
                Ok(file) => return Ok(Some((meta, Box::new(file)))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            }
        }
        Err(StoreError(format!("the blob of the snapshot of {id} is missing")))
    }

    fn sweep_snapshots(&self) -> StoreResult<usize> {
        let referenced: HashSet<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT blob FROM snapshots")?;
            let blobs = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
            blobs
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.blobs).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
