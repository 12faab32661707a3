//! The PostgreSQL store's agents, snapshots and checkpoints, called directly on a fresh
//! database, two stores on it standing for two replicas. Runs only with
//! `HANDRAIL_TEST_POSTGRES` set.

mod common;

use std::io::Read;
use std::process::Command;

use handrail_server::store::*;
use serde_json::json;

/// A fresh database and its URL, or None (with a note) when no PostgreSQL is configured.
fn database() -> Option<String> {
    let Some(admin) = common::test_postgres() else {
        eprintln!("HANDRAIL_TEST_POSTGRES is not set: skipped");
        return None;
    };
    let name = common::new_database(&admin);
    let (server, _) = admin.rsplit_once('/').expect("a postgres:// URL");
    Some(format!("{server}/{name}"))
}

/// Runs SQL with psql (rows the store's other aggregates would write); its output.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn audit(event: &str) -> AuditEvent<'_> {
    AuditEvent { at: 1, actor: "op", event, data: json!({}) }
}

fn update<'a>(version: i64, events: Vec<(&'a str, &'a str, i64)>, cost: f64) -> ObservationUpdate<'a> {
    ObservationUpdate {
        expected_version: version,
        profile: b"HRFW",
        readiness: json!({"ready": false}),
        nodes: 2,
        edges: 1,
        events,
        sessions: vec![("s1", "{\"n\":1}".into(), version == 0)],
        counts: vec![ToolCount { tool: "t".into(), outcome: "ran".into(), calls: 1, cost_usd: cost }],
        now: 86_400 * 3 + 5,
    }
}

#[test]
fn observations_apply_once_per_version_across_replicas() {
    let Some(url) = database() else { return };
    let a = Postgres::open(&url).unwrap();
    psql(&url, "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)");

    assert!(a.commit_observations("p", "bot", &update(0, vec![("e1", "s1", 1)], 0.5)).unwrap());
    // Computed from version 0 too: lost.
    assert!(!a.commit_observations("p", "bot", &update(0, vec![("e2", "s1", 2)], 0.5)).unwrap());
    // An event id applied before: nothing of the batch is written.
    assert!(!a
        .commit_observations("p", "bot", &update(1, vec![("e3", "s1", 3), ("e1", "s1", 1)], 0.5))
        .unwrap());
    let snap = a.agent_snapshot("p", "bot", &["e1", "e3"], &["s1", "s2"]).unwrap();
    assert_eq!(snap.version, 1);
    assert_eq!(snap.profile.as_deref(), Some(&b"HRFW"[..]));
    assert_eq!(snap.seen.iter().collect::<Vec<_>>(), ["e1"]);
    assert_eq!(snap.sessions.get("s1").map(String::as_str), Some("{\"n\":1}"));
    assert_eq!(snap.sessions.len(), 1);
    assert_eq!(snap.tools.iter().collect::<Vec<_>>(), ["t"]);

    // Replicas racing from one version: exactly one wins.
    let b = Postgres::open(&url).unwrap();
    let stores = [&a, &b, &a, &b, &a, &b];
    let wins = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, store)| {
                s.spawn(move || {
                    let id = format!("r{i}");
                    store.commit_observations("p", "bot", &update(1, vec![(&id, "s1", 4)], 0.25)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).filter(|w| *w).count()
    });
    assert_eq!(wins, 1);
    let (row, counts) = b.agent("p", "bot").unwrap().unwrap();
    assert_eq!((row.calls, row.sessions, row.mode.as_str()), (2, 1, "shadow"));
    assert_eq!(row.readiness, json!({"ready": false}));
    assert_eq!(counts, [ToolCount { tool: "t".into(), outcome: "ran".into(), calls: 2, cost_usd: 0.75 }]);
    assert_eq!(b.budget("p", "bot", 3).unwrap(), BudgetState { daily_usd: None, spent_usd: 0.75 });
    assert_eq!(a.agent_profile("p", "bot").unwrap().as_deref(), Some(&b"HRFW"[..]));

    // Names sort by bytes, as SQLite sorts them, whatever the database's collation.
    for name in ["a-bot", "B-bot"] {
        assert!(a.commit_observations("p", name, &update(0, vec![], 0.0)).unwrap());
    }
    let names: Vec<String> = a.agents("p").unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["B-bot", "a-bot", "bot"]);

    assert!(a.set_agent_mode("p", "bot", "enforce", audit("agent.mode")).unwrap());
    assert!(!a.set_agent_mode("p", "nobody", "enforce", audit("agent.mode")).unwrap());
    a.set_budget("p", "bot", Some(2.5), audit("agent.budget")).unwrap();
    assert_eq!(a.budget("p", "bot", 3).unwrap().daily_usd, Some(2.5));
    a.set_budget("p", "bot", None, audit("agent.budget")).unwrap();
    assert_eq!(a.budget("p", "nobody", 3).unwrap(), BudgetState::default());
    assert_eq!(psql(&url, "SELECT count(*) FROM audit WHERE project = 'p'"), "3");
}

#[test]
fn sessions_end_once_and_list_newest_first() {
    let Some(url) = database() else { return };
    let a = Postgres::open(&url).unwrap();
    psql(&url, "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)");
    let session = |id: &str, started_at| SessionRow {
        id: id.into(),
        agent: "bot".into(),
        status: "running".into(),
        error: None,
        started_at,
        ended_at: None,
        events: 0,
        cost_usd: 0.0,
    };
    for (id, at) in [("ses_1", 10), ("ses_2", 20), ("ses_3", 20)] {
        a.start_session("p", &session(id, at), audit("session.started")).unwrap();
    }
    a.count_session_events("p", "ses_1", 3, 0.5).unwrap();
    assert!(a.end_session("p", "ses_1", "error", Some("boom"), 30).unwrap());
    assert!(!a.end_session("p", "ses_1", "success", None, 31).unwrap());
    let got = a.session("p", "ses_1").unwrap().unwrap();
    assert_eq!((got.status.as_str(), got.error.as_deref(), got.ended_at), ("error", Some("boom"), Some(30)));
    assert_eq!((got.events, got.cost_usd), (3, 0.5));
    assert!(a.session("other", "ses_1").unwrap().is_none());
    let ids: Vec<String> = a.sessions("p", "bot", 2).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["ses_3", "ses_2"]);
}

fn pending_request(url: &str, id: &str) {
    psql(
        url,
        &format!(
            "INSERT INTO requests (id, project, body, status, created_at, expires_at)
             VALUES ('{id}', 'p', '{{}}', 'PENDING', 0, 9999999999)"
        ),
    );
}

fn stage(store: &Postgres, bytes: &[u8]) -> String {
    let mut sink = store.stage_snapshot().unwrap();
    // Pieces of odd sizes, across chunk boundaries.
    for piece in bytes.chunks(100_003) {
        sink.write(piece).unwrap();
    }
    sink.finish().unwrap()
}

fn meta(bytes: &[u8]) -> Snapshot {
    Snapshot { size: bytes.len() as u64, sha256: "h".into(), created_at: 7 }
}

#[test]
fn snapshots_are_chunked_replaced_and_swept() {
    let Some(url) = database() else { return };
    let a = Postgres::open(&url).unwrap();
    let b = Postgres::open(&url).unwrap();
    psql(&url, "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)");
    pending_request(&url, "r1");

    let first: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let blob = stage(&a, &first);
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM blob_chunks WHERE blob = '{blob}'")), "3");
    assert_eq!(
        a.commit_snapshot("p", "r1", &blob, &meta(&first), audit("snapshot.stored")).unwrap(),
        SnapshotCommit::Stored
    );
    assert_eq!(b.snapshot("p", "r1").unwrap(), Some(meta(&first)));
    // Read on the other replica, in small reads.
    let (got, mut reader) = b.open_snapshot("p", "r1").unwrap().unwrap();
    assert_eq!(got, meta(&first));
    let mut read = Vec::new();
    let mut buf = [0u8; 70_000];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        read.extend_from_slice(&buf[..n]);
    }
    assert!(read == first);
    assert_eq!(Housekeeping::usage(&a, "p").unwrap().to_string(), "600000");

    // A replacement drops the previous chunks; usage follows.
    let second = b"small".to_vec();
    let blob2 = stage(&b, &second);
    assert_eq!(
        b.commit_snapshot("p", "r1", &blob2, &meta(&second), audit("snapshot.stored")).unwrap(),
        SnapshotCommit::Stored
    );
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM blob_chunks WHERE blob = '{blob}'")), "0");
    assert_eq!(Housekeeping::usage(&a, "p").unwrap().to_string(), "5");
    let mut read = Vec::new();
    a.open_snapshot("p", "r1").unwrap().unwrap().1.read_to_end(&mut read).unwrap();
    assert_eq!(read, second);
    assert!(a.open_snapshot("p", "r2").unwrap().is_none());

    // Anything but Stored discards the staged chunks.
    let staged = stage(&a, &second);
    assert_eq!(
        a.commit_snapshot("p", "r2", &staged, &meta(&second), audit("x")).unwrap(),
        SnapshotCommit::NotFound
    );
    psql(&url, "UPDATE requests SET status = 'APPROVED' WHERE id = 'r1'");
    let staged2 = stage(&a, &second);
    assert_eq!(
        a.commit_snapshot("p", "r1", &staged2, &meta(&second), audit("x")).unwrap(),
        SnapshotCommit::NotPending
    );
    // An unfinished sink leaves nothing behind.
    let mut sink = a.stage_snapshot().unwrap();
    sink.write(&first).unwrap();
    drop(sink);
    assert_eq!(psql(&url, &format!("SELECT count(*) FROM blob_chunks WHERE blob <> '{blob2}'")), "0");

    // The sweep takes unreferenced blobs staged long ago, not a fresh upload nor a snapshot.
    let fresh = stage(&a, &second);
    psql(
        &url,
        "INSERT INTO blob_chunks (blob, n, bytes, staged_at) VALUES ('old', 0, 'x', 0), ('old', 1, 'y', 0)",
    );
    psql(&url, &format!("UPDATE blob_chunks SET staged_at = 0 WHERE blob = '{blob2}'"));
    assert_eq!(b.sweep_snapshots().unwrap(), 1);
    let left = psql(&url, "SELECT string_agg(DISTINCT blob, ',' ORDER BY blob) FROM blob_chunks");
    let mut want = [blob2.clone(), fresh.clone()];
    want.sort();
    assert_eq!(left, want.join(","));

    // A staged blob that lost chunks is refused, not stored.
    pending_request(&url, "r3");
    let broken = stage(&a, &first);
    psql(&url, &format!("DELETE FROM blob_chunks WHERE blob = '{broken}' AND n = 1"));
    assert!(a.commit_snapshot("p", "r3", &broken, &meta(&first), audit("x")).is_err());
    assert!(a.snapshot("p", "r3").unwrap().is_none());
}

#[test]
fn checkpoint_bounds_hold_under_concurrent_puts() {
    let Some(url) = database() else { return };
    let a = Postgres::open(&url).unwrap();
    let b = Postgres::open(&url).unwrap();
    std::thread::scope(|s| {
        for (t, store) in [&a, &b, &a, &b].into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..20 {
                    let (thread, id) = (format!("t{}", t % 2), format!("c{t}-{i}"));
                    let put = CheckpointPut {
                        thread: &thread,
                        id: &id,
                        body: "{\"v\":1}",
                        now: 1,
                        per_thread: 5,
                        per_project: 8,
                    };
                    store.put_checkpoint("p", &put).unwrap();
                }
            });
        }
    });
    assert_eq!(psql(&url, "SELECT count(*) FROM thread_checkpoints"), "8");
    assert_eq!(
        psql(&url, "SELECT max(n) <= 5 FROM (SELECT count(*) n FROM thread_checkpoints GROUP BY thread) t"),
        "t"
    );
    assert_eq!(Housekeeping::usage(&a, "p").unwrap().to_string(), (8 * 7).to_string());

    // A re-sent checkpoint becomes the newest; an id reads that one.
    let put = |id: &'static str, body: &'static str| CheckpointPut {
        thread: "solo",
        id,
        body,
        now: 2,
        per_thread: 5,
        per_project: 100,
    };
    a.put_checkpoint("p", &put("x", "{\"x\":1}")).unwrap();
    a.put_checkpoint("p", &put("y", "{\"y\":1}")).unwrap();
    a.put_checkpoint("p", &put("x", "{\"x\":2}")).unwrap();
    assert_eq!(b.checkpoint("p", "solo", None).unwrap().as_deref(), Some("{\"x\":2}"));
    assert_eq!(b.checkpoint("p", "solo", Some("y")).unwrap().as_deref(), Some("{\"y\":1}"));
    assert_eq!(b.delete_checkpoints("p", "solo").unwrap(), 2);
    assert!(b.checkpoint("p", "solo", None).unwrap().is_none());
    assert_eq!(Housekeeping::usage(&a, "p").unwrap().to_string(), (8 * 7).to_string());
}

#[test]
fn racing_uploads_to_one_request_leave_one_snapshot_and_its_chunks_only() {
    let Some(url) = database() else { return };
    let a = Postgres::open(&url).unwrap();
    let b = Postgres::open(&url).unwrap();
    psql(&url, "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)");
    pending_request(&url, "r1");
    std::thread::scope(|s| {
        for (i, store) in [&a, &b, &a, &b].into_iter().enumerate() {
            s.spawn(move || {
                let bytes = vec![i as u8; 300_000 + i];
                let blob = stage(store, &bytes);
                let got =
                    store.commit_snapshot("p", "r1", &blob, &meta(&bytes), audit("snapshot.stored")).unwrap();
                assert_eq!(got, SnapshotCommit::Stored);
            });
        }
    });
    let kept = a.snapshot("p", "r1").unwrap().unwrap();
    let named = psql(&url, "SELECT blob FROM snapshots");
    assert_eq!(psql(&url, "SELECT string_agg(DISTINCT blob, ',') FROM blob_chunks"), named);
    assert_eq!(Housekeeping::usage(&a, "p").unwrap().to_string(), kept.size.to_string());
    assert_eq!(psql(&url, "SELECT count(*) FROM audit WHERE project = 'p'"), "4");
}
