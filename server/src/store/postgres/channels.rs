//! Channels (e-mail) and their notification outbox.

use super::*;
use crate::store::*;

impl Channels for Postgres {
    #[allow(unused_variables)]
    fn add_channel(&self, project: &str, channel: &Channel, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn channels(&self, project: &str) -> StoreResult<Vec<Channel>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn delete_channel(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn addressee(&self, project: &str, role: Option<&str>, address: &str) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn claim_notifications(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<Notification>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn record_notification(
        &self,
        id: &str,
        sent: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
}

/// Whether `address` is on an e-mail channel of `project` hearing `role` (see
/// [`Channels::addressee`]), inside `tx` or on a pooled connection.
pub(super) async fn is_addressee(
    c: &impl GenericClient,
    project: &str,
    role: Option<&str>,
    address: &str,
) -> StoreResult<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM channels c WHERE c.project = $1 AND c.kind = 'email'
         AND (c.roles IS NULL OR $2::text IS NULL
              OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.roles::jsonb) r WHERE r = $2::text))
         AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.target::jsonb -> 'to') t WHERE t = $3)",
        &[&project, &role, &address],
    )
    .await?
    .is_some())
}

/// Queues `event` on `request` for every addressee of the channels of `project` that hear
/// `role` (each address once), inside the transaction that writes the request.
pub(super) async fn notify(
    tx: &impl GenericClient,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
) -> StoreResult<()> {
    let addresses: Vec<String> = tx
        .query(
            "SELECT DISTINCT t FROM channels c, jsonb_array_elements_text(c.target::jsonb -> 'to') t
             WHERE c.project = $1 AND c.kind = 'email'
             AND (c.roles IS NULL OR $2::text IS NULL
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.roles::jsonb) r WHERE r = $2::text))",
            &[&project, &role],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let now_ms = at * 1000;
    for address in addresses {
        tx.execute(
            "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
                created_ms, updated_ms)
             VALUES ($1, $2, $3, 'email', $4, $5, 'pending', 0, $6, $6, $6)",
            &[&random_id("ntf_")?, &project, &request, &address, &event, &now_ms],
        )
        .await?;
    }
    Ok(())
}
