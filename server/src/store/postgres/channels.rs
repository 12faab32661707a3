//! Placeholder.

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
    fn claim_notifications(&self, now_ms: i64, limit: usize, lease_ms: i64) -> StoreResult<Vec<Notification>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn record_notification(&self, id: &str, sent: bool, outcome: &str, next_ms: Option<i64>, now_ms: i64) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
}

