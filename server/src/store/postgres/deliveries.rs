//! Webhook endpoints and the durable outbox of deliveries, claimed by one replica at a time.

use super::*;
use crate::store::*;

impl Deliveries for Postgres {
    #[allow(unused_variables)]
    fn add_webhook(
        &self,
        id: &str,
        project: &str,
        url: &str,
        secret: &str,
        roles: &[String],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn webhooks(&self, project: &str) -> StoreResult<Vec<Webhook>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn claim_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        room: &Room,
    ) -> StoreResult<Vec<Delivery>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
        disable_after_ms: i64,
    ) -> StoreResult<Option<String>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn set_webhook_disabled(
        &self,
        project: &str,
        id: &str,
        disabled: bool,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<Webhook>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<DeliveryEntry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn request_deliveries(
        &self,
        project: &str,
        request: &str,
        limit: usize,
    ) -> StoreResult<Vec<RequestDeliveryEntry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn redeliver(&self, project: &str, id: &str, now_ms: i64) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn delete_webhook(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
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
    // An endpoint scoped to roles hears of unrestricted requests and of its roles' ones:
    // what an operator holding those roles may read.
    let hooks: Vec<String> = tx
        .query(
            "SELECT id FROM webhooks WHERE project = $1
             AND (roles IS NULL OR $2::text IS NULL
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(roles::jsonb) r WHERE r = $2::text))",
            &[&project, &role],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
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
        tx.query_one("INSERT INTO event_bodies (body) VALUES ($1) RETURNING id", &[&body]).await?.get(0);
    let now_ms = at * 1000;
    let targets =
        hooks.into_iter().map(|h| (Some(h), None)).chain(callback.map(|url| (None, Some(url.to_string()))));
    for (hook, url) in targets {
        tx.execute(
            "INSERT INTO deliveries (id, webhook, url, request, project, event, body, body_id, state, attempts,
                next_ms, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, '', $7, 'pending', 0, $8, $8, $8)",
            &[&random_id("msg_")?, &hook, &url, &request, &project, &event, &body_id, &now_ms],
        )
        .await?;
    }
    Ok(())
}
