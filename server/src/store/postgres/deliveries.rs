//! Placeholder.

use super::*;
use crate::store::*;

impl Deliveries for Postgres {
    #[allow(unused_variables)]
    fn add_webhook(&self, id: &str, project: &str, url: &str, secret: &str, roles: &[String], audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn webhooks(&self, project: &str) -> StoreResult<Vec<Webhook>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn claim_deliveries(&self, now_ms: i64, limit: usize, lease_ms: i64, room: &Room) -> StoreResult<Vec<Delivery>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn record_attempt(&self, id: &str, delivered: bool, outcome: &str, next_ms: Option<i64>, now_ms: i64, disable_after_ms: i64) -> StoreResult<Option<String>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn set_webhook_disabled(&self, project: &str, id: &str, disabled: bool, audit: AuditEvent<'_>) -> StoreResult<Option<Webhook>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<DeliveryEntry>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn request_deliveries(&self, project: &str, request: &str, limit: usize) -> StoreResult<Vec<RequestDeliveryEntry>> {
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

