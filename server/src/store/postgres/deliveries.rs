//! Webhook endpoints and the durable outbox of deliveries, claimed by one replica at a time.

use super::*;
use crate::store::*;

impl Deliveries for Postgres {
    fn add_webhook(
        &self,
        id: &str,
        project: &str,
        url: &str,
        secret: &str,
        roles: &[String],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let roles = (!roles.is_empty()).then(|| serde_json::to_string(roles)).transpose()?;
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run(
                "INSERT INTO webhooks (id, project, url, secret, created_at, roles) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &project, &url, &secret, &audit.at, &roles],
            )
            .await?;
            append_audit(&tx, project, id, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn webhooks(&self, project: &str) -> StoreResult<Vec<Webhook>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!("{WEBHOOK_COLUMNS} WHERE project = $1 ORDER BY created_at, rowid"),
                    &[&project],
                )
                .await?;
            rows.iter().map(webhook).collect()
        })
    }

    fn claim_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        room: &Room,
    ) -> StoreResult<Vec<Delivery>> {
        let endpoints = serde_json::to_string(&room.endpoints)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let per_endpoint = i64::try_from(room.per_endpoint).unwrap_or(i64::MAX);
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // A callback delivery has its own URL and no endpoint (nor an endpoint secret). Each
            // endpoint gets at most its room, numbered oldest first, so one endpoint's backlog
            // never fills the batch. The numbering reads without locks (window functions cannot
            // lock); the rows are then locked, skipping those another replica is claiming, and
            // checked again on their newest version: one claimed and committed meanwhile is no
            // longer due, so no row is handed to two replicas within its lease.
            let rows = tx
                .rows(
                    "WITH due AS (
                        SELECT d.id, COALESCE(d.webhook, 'url:' || d.url) AS endpoint,
                               ROW_NUMBER() OVER (PARTITION BY COALESCE(d.webhook, 'url:' || d.url)
                                                  ORDER BY d.next_ms, d.rowid) AS n
                        FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook
                        WHERE d.state = 'pending' AND d.next_ms <= $1 AND COALESCE(d.url, w.url) IS NOT NULL
                          AND w.disabled_at IS NULL
                          AND (($5 AND d.url IS NOT NULL) OR ($6 AND d.url IS NULL)))
                     SELECT d.id, COALESCE(d.url, w.url), w.secret, COALESCE(b.body, d.body), d.attempts,
                            d.created_ms, d.url IS NOT NULL, d.webhook
                     FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook
                       LEFT JOIN event_bodies b ON b.id = d.body_id
                     WHERE d.id IN (
                         SELECT id FROM due
                         WHERE n <= COALESCE(
                             (SELECT value::bigint FROM jsonb_each_text($3::text::jsonb) WHERE key = due.endpoint),
                             $4))
                       AND d.state = 'pending' AND d.next_ms <= $1
                     ORDER BY d.next_ms, d.rowid LIMIT $2
                     FOR UPDATE OF d SKIP LOCKED",
                    &[&now_ms, &limit, &endpoints, &per_endpoint, &room.callbacks, &room.webhooks],
                )
                .await?;
            let due = rows
                .iter()
                .map(|r| {
                    Ok(Delivery {
                        id: r.try_get(0)?,
                        url: r.try_get(1)?,
                        secret: r.try_get(2)?,
                        body: r.try_get(3)?,
                        attempts: u32::try_from(r.try_get::<_, i32>(4)?).unwrap_or_default(),
                        created_ms: r.try_get(5)?,
                        callback: r.try_get(6)?,
                        webhook: r.try_get(7)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            if !due.is_empty() {
                let ids: Vec<&str> = due.iter().map(|d| d.id.as_str()).collect();
                tx.run("UPDATE deliveries SET next_ms = $2 WHERE id = ANY($1)", &[&ids, &(now_ms + lease_ms)])
                    .await?;
            }
            tx.commit().await?;
            Ok(due)
        })
    }

    fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
        disable_after_ms: i64,
    ) -> StoreResult<Option<String>> {
        let state = if delivered {
            "delivered"
        } else if next_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let endpoint = tx
                .row_opt(
                    "SELECT w.id, w.project FROM deliveries d JOIN webhooks w ON w.id = d.webhook WHERE d.id = $1",
                    &[&id],
                )
                .await?
                .map(|r| Ok::<_, StoreError>((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)))
                .transpose()?;
            if let Some((webhook, _)) = &endpoint {
                // Attempts recorded at once by several replicas for this endpoint take turns,
                // so its failing-since and disabling see each other's. Locks are taken in the
                // order of every write (the endpoint, its deliveries, the project's audit
                // chain), so none waits on another in a circle; queuing deliveries to it
                // (FOR KEY SHARE) goes on meanwhile.
                tx.run("SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE", &[webhook]).await?;
            }
            tx.run(
                "UPDATE deliveries SET state = $2, attempts = attempts + 1, next_ms = $3, last_outcome = $4,
                    updated_ms = $5
                 WHERE id = $1",
                &[&id, &state, &next_ms, &outcome, &now_ms],
            )
            .await?;
            let Some((webhook, project)) = endpoint else {
                tx.commit().await?;
                return Ok(None);
            };
            if delivered {
                tx.run(
                    "UPDATE webhooks SET failing_since_ms = NULL WHERE id = $1 AND failing_since_ms IS NOT NULL",
                    &[&webhook],
                )
                .await?;
                tx.commit().await?;
                return Ok(None);
            }
            tx.run(
                "UPDATE webhooks SET failing_since_ms = COALESCE(failing_since_ms, $2) WHERE id = $1",
                &[&webhook, &now_ms],
            )
            .await?;
            // Only the attempt that finds it still enabled disables it (and audits that).
            let disabled = tx
                .row_opt(
                    "UPDATE webhooks SET disabled_at = $2
                     WHERE id = $1 AND disabled_at IS NULL AND failing_since_ms <= $2::bigint - $3::bigint
                     RETURNING failing_since_ms",
                    &[&webhook, &now_ms, &disable_after_ms],
                )
                .await?;
            if let Some(r) = &disabled {
                let since: i64 = r.try_get(0)?;
                let data = serde_json::json!({ "reason": "failing", "failing_since_ms": since, "delivery": id });
                let audit = AuditEvent { at: now_ms / 1000, actor: "system", event: "webhook.disabled", data };
                append_audit(&tx, &project, &webhook, &audit).await?;
            }
            tx.commit().await?;
            Ok(disabled.map(|_| webhook))
        })
    }

    fn set_webhook_disabled(
        &self,
        project: &str,
        id: &str,
        disabled: bool,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<Webhook>> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = if disabled {
                tx.run(
                    "UPDATE webhooks SET disabled_at = COALESCE(disabled_at, $3) WHERE project = $1 AND id = $2",
                    &[&project, &id, &(audit.at * 1000)],
                )
                .await?
            } else {
                let n = tx
                    .run(
                        "UPDATE webhooks SET disabled_at = NULL, failing_since_ms = NULL
                         WHERE project = $1 AND id = $2",
                        &[&project, &id],
                    )
                    .await?;
                // What waited is sent now, not at the end of its last backoff.
                tx.run(
                    "UPDATE deliveries SET next_ms = $3 WHERE project = $1 AND webhook = $2 AND state = 'pending'",
                    &[&project, &id, &(audit.at * 1000)],
                )
                .await?;
                n
            };
            if n != 1 {
                return Ok(None); // the transaction rolls back
            }
            append_audit(&tx, project, id, &audit).await?;
            let row = tx.query_one(&format!("{WEBHOOK_COLUMNS} WHERE id = $1"), &[&id]).await?;
            let hook = webhook(&row)?;
            tx.commit().await?;
            Ok(Some(hook))
        })
    }

    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<DeliveryEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!(
                        "{ENTRY_COLUMNS} WHERE project = $1 AND webhook = $2
                         ORDER BY created_ms DESC, rowid DESC LIMIT $3"
                    ),
                    &[&project, &webhook, &limit],
                )
                .await?;
            rows.iter().map(entry).collect()
        })
    }

    fn request_deliveries(
        &self,
        project: &str,
        request: &str,
        limit: usize,
    ) -> StoreResult<Vec<RequestDeliveryEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!(
                        "{ENTRY_COLUMNS} WHERE project = $1 AND request = $2
                         ORDER BY created_ms DESC, rowid DESC LIMIT $3"
                    ),
                    &[&project, &request, &limit],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let webhook: Option<String> = r.try_get(7)?;
                    Ok(RequestDeliveryEntry {
                        delivery: entry(r)?,
                        target: if webhook.is_some() {
                            DeliveryTarget::Webhook
                        } else {
                            DeliveryTarget::Callback
                        },
                        webhook,
                    })
                })
                .collect()
        })
    }

    fn redeliver(&self, project: &str, id: &str, now_ms: i64) -> StoreResult<bool> {
        self.block(async {
            let c = self.client().await?;
            let n = c
                .run(
                    "UPDATE deliveries SET state = 'pending', next_ms = $3, updated_ms = $3
                     WHERE project = $1 AND id = $2",
                    &[&project, &id, &now_ms],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn delete_webhook(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The endpoint first, as every write takes it before its deliveries and the audit
            // chain: a write queuing deliveries to it (holding it FOR KEY SHARE) commits first
            // and its deliveries go too; one queuing after finds it gone.
            if tx
                .row_opt("SELECT 1 FROM webhooks WHERE project = $1 AND id = $2 FOR UPDATE", &[&project, &id])
                .await?
                .is_none()
            {
                return Ok(false); // the transaction rolls back
            }
            tx.run("DELETE FROM deliveries WHERE project = $1 AND webhook = $2", &[&project, &id]).await?;
            tx.run("DELETE FROM webhooks WHERE project = $1 AND id = $2", &[&project, &id]).await?;
            append_audit(&tx, project, id, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// The columns of a webhook endpoint ([`webhook`]).
const WEBHOOK_COLUMNS: &str = "SELECT id, url, created_at, roles, disabled_at IS NOT NULL FROM webhooks";

fn webhook(r: &tokio_postgres::Row) -> StoreResult<Webhook> {
    let roles: Option<String> = r.try_get(3)?;
    let roles = roles.map(|t| serde_json::from_str(&t)).transpose()?.unwrap_or_default();
    Ok(Webhook {
        id: r.try_get(0)?,
        url: r.try_get(1)?,
        roles,
        created_at: r.try_get(2)?,
        disabled: r.try_get(4)?,
    })
}

/// The columns of a delivery log entry ([`entry`]), then the endpoint.
const ENTRY_COLUMNS: &str =
    "SELECT id, event, state, attempts, last_outcome, created_ms, updated_ms, webhook FROM deliveries";

fn entry(r: &tokio_postgres::Row) -> StoreResult<DeliveryEntry> {
    Ok(DeliveryEntry {
        id: r.try_get(0)?,
        event: r.try_get(1)?,
        state: r.try_get(2)?,
        attempts: r.try_get::<_, i32>(3)?.into(),
        last_outcome: r.try_get(4)?,
        created_ms: r.try_get(5)?,
        updated_ms: r.try_get(6)?,
    })
}

/// Queues the event for every webhook of the project that may hear of a request of `role`
/// and, when given, for the request's own callback URL, inside `tx` (a change and its
/// deliveries are committed together or not at all). `row` is read only when some endpoint
/// is to hear of it: a project without webhooks never builds an event body.
#[allow(clippy::too_many_arguments)]
pub(super) async fn enqueue(
    tx: &impl GenericClient,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
    callback: Option<&str>,
    row: impl AsyncFnOnce() -> StoreResult<RequestRow>,
) -> StoreResult<()> {
    let hooks = hearing(tx, project, role).await?;
    enqueue_to(tx, hooks, project, request, event, at, callback, row).await
}

/// The webhooks of `project` that hear of a request of `role`, locked until `tx` ends: the
/// first half of [`enqueue`], for a write that sends it together with its own statements.
pub(super) async fn hearing(
    tx: &impl GenericClient,
    project: &str,
    role: Option<&str>,
) -> StoreResult<Vec<String>> {
    // An endpoint scoped to roles hears of unrestricted requests and of its roles' ones:
    // what an operator holding those roles may read. Held until the commit (as its deliveries'
    // references would be): an endpoint being deleted is waited for and then skipped, so the
    // write never fails on a vanished reference.
    Ok(tx
        .rows(
            "SELECT id FROM webhooks WHERE project = $1
             AND (roles IS NULL OR $2::text IS NULL
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(roles::jsonb) r WHERE r = $2::text))
             ORDER BY rowid FOR KEY SHARE",
            &[&project, &role],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The second half of [`enqueue`]: queues the event for `hooks` (from [`hearing`]) and the
/// callback URL.
#[allow(clippy::too_many_arguments)]
pub(super) async fn enqueue_to(
    tx: &impl GenericClient,
    hooks: Vec<String>,
    project: &str,
    request: &str,
    event: &str,
    at: i64,
    callback: Option<&str>,
    row: impl AsyncFnOnce() -> StoreResult<RequestRow>,
) -> StoreResult<()> {
    if hooks.is_empty() && callback.is_none() {
        return Ok(());
    }
    let mut data = serde_json::to_value(row().await?)?;
    // Snapshot metadata travels with the event; its bytes are fetched with a key or a link.
    if let (Some((_, meta)), Some(obj)) =
        (snapshots::snapshot_in(tx, project, request).await?, data.as_object_mut())
    {
        obj.insert("snapshot".into(), serde_json::to_value(meta)?);
    }
    let body = serde_json::to_string(&serde_json::json!({ "type": event, "timestamp": at, "data": data }))?;
    // Stored once, however many endpoints hear of it.
    let body_id: i64 =
        tx.row("INSERT INTO event_bodies (body) VALUES ($1) RETURNING id", &[&body]).await?.try_get(0)?;
    let now_ms = at * 1000;
    let targets: Vec<(Option<String>, Option<&str>, String)> = hooks
        .into_iter()
        .map(|h| (Some(h), None))
        .chain(callback.map(|url| (None, Some(url))))
        .map(|(hook, url)| Ok((hook, url, random_id("msg_")?)))
        .collect::<StoreResult<_>>()?;
    // Sent together: one round trip however many endpoints hear of it.
    futures_util::future::try_join_all(targets.iter().map(|(hook, url, id)| async move {
        tx.run(
            "INSERT INTO deliveries (id, webhook, url, request, project, event, body, body_id, state, attempts,
                next_ms, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, '', $7, 'pending', 0, $8, $8, $8)",
            &[id, hook, url, &request, &project, &event, &body_id, &now_ms],
        )
        .await
    }))
    .await?;
    Ok(())
}

/// Against the PostgreSQL server `HANDRAIL_TEST_POSTGRES` names (skipped without one), two
/// replicas on one fresh database.
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Two stores (replicas) on a new database, dropped with the returned guard; None without
    /// a server to test on.
    fn replicas() -> Option<(Postgres, Postgres, Database)> {
        let admin = std::env::var("HANDRAIL_TEST_POSTGRES").ok().filter(|u| !u.is_empty())?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("hdl_unit_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Some((Postgres::open(&url).unwrap(), Postgres::open(&url).unwrap(), Database { admin, name }))
    }

    fn psql(admin: &str, command: &str) {
        let out = std::process::Command::new("psql")
            .args([admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", command])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A test's database, dropped when the test ends (passed or not), so the shared server
    /// keeps none.
    struct Database {
        admin: String,
        name: String,
    }

    impl Drop for Database {
        fn drop(&mut self) {
            // Best effort: a panic here, while a failed test unwinds, would abort the run.
            let _ = std::process::Command::new("psql")
                .args([
                    &self.admin,
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .output();
        }
    }

    fn sql(store: &Postgres, sql: &str) {
        store
            .block(async { store.client().await?.batch_execute(sql).await.map_err(StoreError::from) })
            .unwrap();
    }

    fn number(store: &Postgres, sql: &str) -> i64 {
        store
            .block(async { Ok::<i64, StoreError>(store.client().await?.query_one(sql, &[]).await?.get(0)) })
            .unwrap()
    }

    fn audit(event: &str) -> AuditEvent<'_> {
        AuditEvent { at: 1_000, actor: "key_op", event, data: serde_json::json!({}) }
    }

    const ALL: fn() -> Room =
        || Room { per_endpoint: 1_000, webhooks: true, callbacks: true, ..Room::default() };

    /// Claims from `threads` threads per replica until `total` rows were handed out; each
    /// thread's claims.
    fn claim_all(
        replicas: [&Postgres; 2],
        threads: usize,
        total: usize,
        claim: impl Fn(&Postgres) -> Vec<String> + Sync,
    ) -> Vec<String> {
        let claimed = AtomicUsize::new(0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let got: Vec<Vec<String>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads * 2)
                .map(|i| {
                    let (store, claimed, claim) = (replicas[i % 2], &claimed, &claim);
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        while claimed.load(Ordering::SeqCst) < total && std::time::Instant::now() < deadline {
                            let ids = claim(store);
                            claimed.fetch_add(ids.len(), Ordering::SeqCst);
                            mine.extend(ids);
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        got.concat()
    }

    #[test]
    fn concurrent_claims_hand_each_delivery_to_one_replica() {
        let Some((a, b, _db)) = replicas() else { return };
        sql(
            &a,
            "INSERT INTO deliveries (id, url, project, event, body, state, attempts, next_ms, created_ms, updated_ms)
             SELECT 'msg_' || i, 'http://h' || (i % 5) || '/', 'p', 'request.created', '{}', 'pending', 0, i, 0, 0
             FROM generate_series(1, 400) i",
        );
        let ids = claim_all([&a, &b], 3, 400, |s| {
            s.claim_deliveries(1_000, 7, 60_000, &ALL()).unwrap().into_iter().map(|d| d.id).collect()
        });
        assert_eq!(ids.len(), 400, "every delivery claimed once");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 400, "no delivery claimed twice");
        assert_eq!(number(&a, "SELECT count(*) FROM deliveries WHERE next_ms = 61000"), 400, "each leased");
        assert!(a.claim_deliveries(60_999, 100, 60_000, &ALL()).unwrap().is_empty());
        assert_eq!(
            a.claim_deliveries(61_000, 1_000, 60_000, &ALL()).unwrap().len(),
            400,
            "due again after the lease"
        );
    }

    #[test]
    fn concurrent_claims_hand_each_notification_to_one_replica() {
        let Some((a, b, _db)) = replicas() else { return };
        sql(
            &a,
            "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
                created_ms, updated_ms)
             SELECT 'ntf_' || i, 'p', 'req_' || i, 'email', 'a@example.com', 'request.created', 'pending', 0, i, 0, 0
             FROM generate_series(1, 400) i",
        );
        let ids = claim_all([&a, &b], 3, 400, |s| {
            s.claim_notifications(crate::store::ChannelKind::Email, 1_000, 7, 60_000)
                .unwrap()
                .into_iter()
                .map(|n| n.id)
                .collect()
        });
        assert_eq!(ids.len(), 400, "every notification claimed once");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 400, "no notification claimed twice");
        assert!(a
            .claim_notifications(crate::store::ChannelKind::Email, 60_999, 100, 60_000)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn claims_keep_each_endpoints_room_and_their_order() {
        let Some((a, _, _db)) = replicas() else { return };
        sql(
            &a,
            "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0);
             INSERT INTO webhooks (id, project, url, secret, created_at) VALUES ('wh_a', 'p', 'http://a/', 's_a', 0);
             INSERT INTO webhooks (id, project, url, secret, created_at, disabled_at)
                VALUES ('wh_off', 'p', 'http://off/', 's_off', 0, 5);
             INSERT INTO event_bodies (id, body) VALUES (1, '{\"type\":\"request.created\"}');
             INSERT INTO deliveries (id, webhook, url, project, event, body, body_id, state, attempts, next_ms,
                created_ms, updated_ms) VALUES
                ('msg_a30', 'wh_a', NULL, 'p', 'e', '', 1, 'pending', 0, 30, 1, 1),
                ('msg_a10', 'wh_a', NULL, 'p', 'e', '', 1, 'pending', 2, 10, 2, 2),
                ('msg_a20', 'wh_a', NULL, 'p', 'e', '', 1, 'pending', 0, 20, 3, 3),
                ('msg_off', 'wh_off', NULL, 'p', 'e', '', 1, 'pending', 0, 1, 4, 4),
                ('msg_x1', NULL, 'http://x/', 'p', 'e', 'own', NULL, 'pending', 0, 20, 5, 5),
                ('msg_x2', NULL, 'http://x/', 'p', 'e', 'own', NULL, 'pending', 0, 5, 6, 6),
                ('msg_late', NULL, 'http://y/', 'p', 'e', 'own', NULL, 'pending', 0, 5000, 7, 7),
                ('msg_done', NULL, 'http://y/', 'p', 'e', 'own', NULL, 'delivered', 1, 1, 8, 8);",
        );
        let mut room = Room { per_endpoint: 2, webhooks: true, callbacks: true, ..Room::default() };
        room.endpoints.insert("url:http://x/".into(), 1);
        let due = a.claim_deliveries(1_000, 10, 60_000, &room).unwrap();
        let ids: Vec<&str> = due.iter().map(|d| d.id.as_str()).collect();
        // Oldest first; wh_a within its 2, x within its 1; never the disabled endpoint.
        assert_eq!(ids, ["msg_x2", "msg_a10", "msg_a20"]);
        let x = &due[0];
        assert_eq!((x.url.as_str(), x.secret.as_deref(), x.body.as_str()), ("http://x/", None, "own"));
        assert!(x.callback && x.webhook.is_none());
        let a10 = &due[1];
        assert_eq!((a10.url.as_str(), a10.secret.as_deref()), ("http://a/", Some("s_a")));
        assert_eq!(
            (a10.body.as_str(), a10.attempts, a10.created_ms),
            ("{\"type\":\"request.created\"}", 2, 2)
        );
        assert!(!a10.callback && a10.webhook.as_deref() == Some("wh_a"));
        // The switches: endpoints only, then callbacks only.
        let hooks = Room { webhooks: true, callbacks: false, ..room.clone() };
        let ids: Vec<String> =
            a.claim_deliveries(1_000, 10, 60_000, &hooks).unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["msg_a30"]);
        let calls = Room { webhooks: false, callbacks: true, ..room.clone() };
        let ids: Vec<String> =
            a.claim_deliveries(1_000, 10, 60_000, &calls).unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["msg_x1"]);
        // An endpoint with no room gets nothing; the limit counts across endpoints.
        sql(
            &a,
            "UPDATE deliveries SET next_ms = 1 WHERE state = 'pending' AND webhook IS DISTINCT FROM 'wh_off'",
        );
        room.endpoints.insert("wh_a".into(), 0);
        let ids: Vec<String> =
            a.claim_deliveries(1_000, 1, 60_000, &room).unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["msg_x1"], "next_ms ties go in insertion order");
    }

    #[test]
    fn concurrent_failures_disable_an_endpoint_once() {
        let Some((a, b, _db)) = replicas() else { return };
        sql(
            &a,
            "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0);
             INSERT INTO webhooks (id, project, url, secret, created_at) VALUES ('wh_a', 'p', 'http://a/', 's', 0);
             INSERT INTO deliveries (id, webhook, project, event, body, state, attempts, next_ms, created_ms,
                updated_ms)
             SELECT 'msg_' || i, 'wh_a', 'p', 'e', '{}', 'pending', 0, 0, 0, 0 FROM generate_series(1, 40) i",
        );
        // Every attempt fails; the endpoint has failed for long enough from the first one on.
        let disabled: Vec<Option<String>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|t| {
                    let store = if t % 2 == 0 { &a } else { &b };
                    s.spawn(move || {
                        (0..10)
                            .map(|i| {
                                let id = format!("msg_{}", t * 10 + i + 1);
                                store.record_attempt(&id, false, "HTTP 500", Some(9_000), 5_000, 0).unwrap()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(
            disabled.iter().flatten().collect::<Vec<_>>(),
            ["wh_a"],
            "disabled by exactly one attempt"
        );
        let audited = "SELECT count(*) FROM audit WHERE entry::jsonb ->> 'event' = 'webhook.disabled'
                       AND entry::jsonb ->> 'actor' = 'system'";
        assert_eq!(number(&a, audited), 1);
        assert_eq!(number(&a, "SELECT count(*) FROM deliveries WHERE attempts = 1 AND next_ms = 9000"), 40);
        assert_eq!(number(&a, "SELECT failing_since_ms FROM webhooks"), 5_000);
        // A success clears the failures (the endpoint stays disabled until re-enabled).
        assert_eq!(b.record_attempt("msg_1", true, "HTTP 200", None, 6_000, 0).unwrap(), None);
        assert_eq!(number(&a, "SELECT count(*) FROM webhooks WHERE failing_since_ms IS NULL"), 1);
        assert_eq!(
            number(&a, "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND next_ms IS NULL"),
            1
        );
        // A callback delivery has no endpoint to keep.
        sql(
            &a,
            "INSERT INTO deliveries (id, url, project, event, body, state, attempts, next_ms, created_ms, updated_ms)
             VALUES ('msg_cb', 'http://x/', 'p', 'e', '{}', 'pending', 0, 0, 0, 0)",
        );
        assert_eq!(a.record_attempt("msg_cb", false, "refused", None, 7_000, 0).unwrap(), None);
        assert_eq!(number(&a, "SELECT count(*) FROM deliveries WHERE id = 'msg_cb' AND state = 'failed'"), 1);
    }

    #[test]
    fn endpoints_are_added_disabled_redelivered_and_deleted_with_their_log() {
        let Some((a, _, _db)) = replicas() else { return };
        sql(&a, "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0), ('q', 'q', 0)");
        a.add_webhook("wh_a", "p", "http://a/", "s_a", &["ops".into()], audit("webhook.created")).unwrap();
        a.add_webhook("wh_b", "p", "http://b/", "s_b", &[], audit("webhook.created")).unwrap();
        let hooks = a.webhooks("p").unwrap();
        assert_eq!(hooks.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["wh_a", "wh_b"]);
        assert_eq!((hooks[0].roles.clone(), hooks[1].roles.is_empty()), (vec!["ops".to_string()], true));
        assert!(a.webhooks("q").unwrap().is_empty());
        sql(
            &a,
            "INSERT INTO deliveries (id, webhook, url, request, project, event, body, state, attempts, next_ms,
                created_ms, updated_ms) VALUES
                ('msg_1', 'wh_a', NULL, 'req_1', 'p', 'request.created', '{}', 'pending', 3, 99999, 10, 10),
                ('msg_2', 'wh_a', NULL, 'req_1', 'p', 'request.resolved', '{}', 'delivered', 1, NULL, 20, 20),
                ('msg_3', NULL, 'http://cb/', 'req_1', 'p', 'request.resolved', '{}', 'failed', 9, NULL, 20, 20)",
        );
        assert!(a.set_webhook_disabled("q", "wh_a", true, audit("webhook.disabled")).unwrap().is_none());
        assert!(
            a.set_webhook_disabled("p", "wh_a", true, audit("webhook.disabled")).unwrap().unwrap().disabled
        );
        let on = a.set_webhook_disabled("p", "wh_a", false, audit("webhook.enabled")).unwrap().unwrap();
        assert!(!on.disabled);
        assert_eq!(number(&a, "SELECT next_ms FROM deliveries WHERE id = 'msg_1'"), 1_000_000, "sent now");
        let log = a.deliveries("p", "wh_a", 10).unwrap();
        assert_eq!(log.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["msg_2", "msg_1"]);
        assert_eq!((log[1].attempts, log[1].state.as_str()), (3, "pending"));
        assert_eq!(a.deliveries("p", "wh_a", 1).unwrap().len(), 1);
        let of_request = a.request_deliveries("p", "req_1", 10).unwrap();
        // Newest first, ties newest inserted first.
        assert_eq!(
            of_request.iter().map(|e| e.delivery.id.as_str()).collect::<Vec<_>>(),
            ["msg_3", "msg_2", "msg_1"]
        );
        assert_eq!(
            (of_request[0].target, of_request[0].webhook.as_deref()),
            (DeliveryTarget::Callback, None)
        );
        assert_eq!(
            (of_request[1].target, of_request[1].webhook.as_deref()),
            (DeliveryTarget::Webhook, Some("wh_a"))
        );
        assert!(!a.redeliver("q", "msg_3", 2_000).unwrap());
        assert!(a.redeliver("p", "msg_3", 2_000).unwrap());
        assert_eq!(
            number(
                &a,
                "SELECT count(*) FROM deliveries WHERE id = 'msg_3' AND state = 'pending' AND next_ms = 2000"
            ),
            1
        );
        assert!(!a.delete_webhook("q", "wh_a", audit("webhook.deleted")).unwrap());
        assert!(a.delete_webhook("p", "wh_a", audit("webhook.deleted")).unwrap());
        assert!(!a.delete_webhook("p", "wh_a", audit("webhook.deleted")).unwrap());
        assert_eq!(number(&a, "SELECT count(*) FROM deliveries"), 1, "its log went with it");
        // Read through the log, which chains what is committed first.
        let chain: Vec<String> = a.audit_log().unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(
            chain,
            ["webhook.created", "webhook.created", "webhook.disabled", "webhook.enabled", "webhook.deleted"]
        );
    }

    #[test]
    fn channels_are_added_listed_addressed_and_deleted() {
        let Some((a, b, _db)) = replicas() else { return };
        let ch = |id: &str, to: &[&str], roles: &[&str], at| Channel {
            id: id.into(),
            kind: ChannelKind::Email,
            to: to.iter().map(|s| s.to_string()).collect(),
            channel: None,
            members: Vec::new(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            remind_after_secs: None,
            created_at: at,
        };
        a.add_channel("p", &ch("ch_2", &["x@e.com"], &["ops"], 5), audit("channel.created")).unwrap();
        a.add_channel("p", &ch("ch_1", &["y@e.com", "z@e.com"], &[], 5), audit("channel.created")).unwrap();
        a.add_channel("p", &ch("ch_0", &["w@e.com"], &[], 1), audit("channel.created")).unwrap();
        let listed = b.channels("p").unwrap();
        assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ch_0", "ch_2", "ch_1"]);
        assert_eq!(listed[1], ch("ch_2", &["x@e.com"], &["ops"], 5));
        assert!(b.addressee("p", Some("ops"), "x@e.com").unwrap());
        assert!(!b.addressee("p", Some("billing"), "x@e.com").unwrap());
        assert!(b.addressee("p", None, "x@e.com").unwrap(), "unrestricted requests reach every channel");
        assert!(b.addressee("p", Some("billing"), "z@e.com").unwrap());
        assert!(!b.addressee("q", None, "z@e.com").unwrap());
        assert!(!a.delete_channel("q", "ch_1", audit("channel.deleted")).unwrap());
        assert!(a.delete_channel("p", "ch_1", audit("channel.deleted")).unwrap());
        assert!(!b.addressee("p", None, "z@e.com").unwrap());
        assert_eq!(number(&a, "SELECT count(*) FROM audit WHERE project = 'p'"), 4);
        // Attempts are recorded: retried, sent, given up.
        sql(
            &a,
            "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
                created_ms, updated_ms) VALUES
                ('ntf_1', 'p', 'req_1', 'email', 'x@e.com', 'request.created', 'pending', 0, 1, 1, 1),
                ('ntf_2', 'p', 'req_1', 'email', 'y@e.com', 'request.created', 'pending', 0, 1, 2, 2)",
        );
        let due = a.claim_notifications(crate::store::ChannelKind::Email, 10, 10, 100).unwrap();
        assert_eq!(due.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["ntf_1", "ntf_2"]);
        assert_eq!(
            (due[0].address.as_str(), due[0].request.as_str(), due[0].created_ms),
            ("x@e.com", "req_1", 1)
        );
        a.record_notification("ntf_1", false, "421", Some(50), 20).unwrap();
        a.record_notification("ntf_2", true, "250", None, 20).unwrap();
        assert_eq!(a.claim_notifications(crate::store::ChannelKind::Email, 49, 10, 100).unwrap().len(), 0);
        let again = a.claim_notifications(crate::store::ChannelKind::Email, 50, 10, 100).unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        a.record_notification("ntf_1", false, "550", None, 60).unwrap();
        assert_eq!(
            number(&a, "SELECT count(*) FROM notifications WHERE state = 'failed' AND attempts = 2"),
            1
        );
        assert_eq!(number(&a, "SELECT count(*) FROM notifications WHERE state = 'sent'"), 1);
    }

    /// A request write queuing deliveries while its endpoint is deleted, in either order:
    /// never a failed reference, never a delivery left to a deleted endpoint.
    #[test]
    fn an_endpoint_deleted_while_a_write_queues_to_it() {
        let Some((a, b, _db)) = replicas() else { return };
        sql(
            &a,
            "INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0);
             INSERT INTO webhooks (id, project, url, secret, created_at) VALUES
                ('wh_1', 'p', 'http://a/', 's', 0), ('wh_2', 'p', 'http://b/', 's', 0)",
        );
        let row = || -> StoreResult<RequestRow> {
            Ok(serde_json::from_value(serde_json::json!({
                "id": "req_1", "project": "p", "service": "s", "action": "a", "payload": {},
                "priority": "medium", "status": "PENDING", "created_at": 1, "expires_at": 2
            }))?)
        };
        // The write queues first and commits while the delete waits for it: both go.
        let queued = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                a.block(async {
                    let mut c = a.client().await?;
                    let tx = c.transaction().await?;
                    enqueue(&tx, "p", "req_1", None, "request.created", 1, None, async || row()).await?;
                    queued.wait();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.commit().await?;
                    Ok::<_, StoreError>(())
                })
                .unwrap()
            });
            queued.wait();
            assert!(b.delete_webhook("p", "wh_1", audit("webhook.deleted")).unwrap());
        });
        let to = "SELECT string_agg(webhook, ',' ORDER BY webhook) FROM deliveries";
        let left = |s: &Postgres| -> String {
            s.block(async { Ok::<String, StoreError>(s.client().await?.query_one(to, &[]).await?.get(0)) })
                .unwrap()
        };
        assert_eq!(left(&a), "wh_2", "the queued delivery went with its endpoint");
        // The delete holds the endpoint first: the write waits, then skips it.
        let locked = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                b.block(async {
                    let mut c = b.client().await?;
                    let tx = c.transaction().await?;
                    tx.run("SELECT 1 FROM webhooks WHERE id = 'wh_2' FOR UPDATE", &[]).await?;
                    locked.wait();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.run("DELETE FROM deliveries WHERE webhook = 'wh_2'", &[]).await?;
                    tx.run("DELETE FROM webhooks WHERE id = 'wh_2'", &[]).await?;
                    tx.commit().await?;
                    Ok::<_, StoreError>(())
                })
                .unwrap()
            });
            locked.wait();
            a.block(async {
                let mut c = a.client().await?;
                let tx = c.transaction().await?;
                enqueue(&tx, "p", "req_2", None, "request.created", 2, Some("http://cb/"), async || row())
                    .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        });
        assert_eq!(number(&a, "SELECT count(*) FROM deliveries WHERE webhook IS NOT NULL"), 0);
        assert_eq!(
            number(&a, "SELECT count(*) FROM deliveries WHERE url = 'http://cb/'"),
            1,
            "the callback still goes"
        );
    }
}
