//! Placeholder.

use super::*;
use crate::store::*;

impl Requests for Postgres {
    #[allow(unused_variables)]
    fn execution(&self, project: &str, key: &str) -> StoreResult<Option<Execution>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn insert_request(
        &self,
        row: &RequestRow,
        body: &str,
        claim: Option<Claim<'_>>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Inserted> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn request(&self, project: &str, id: &str) -> StoreResult<Option<RequestRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn list(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn decide(
        &self,
        project: &str,
        id: &str,
        status: Status,
        decision: &Decision,
        callback: Option<&str>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<(String, String)>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn due_escalations(
        &self,
        now: i64,
        max_hops: usize,
        limit: usize,
    ) -> StoreResult<Vec<(DueEscalation, String)>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn escalate(
        &self,
        project: &str,
        id: &str,
        step: &EscalationStep<'_>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<RequestRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn due_own_escalations(&self, now: i64, limit: usize) -> StoreResult<Vec<DueEscalation>> {
        Err(StoreError("not built".into()))
    }
}
