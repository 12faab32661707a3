//! Placeholder.

use super::*;
use crate::store::*;

impl Agents for Postgres {
    #[allow(unused_variables)]
    fn agent_snapshot(
        &self,
        project: &str,
        agent: &str,
        event_ids: &[&str],
        sessions: &[&str],
    ) -> StoreResult<AgentSnapshot> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn commit_observations(
        &self,
        project: &str,
        agent: &str,
        update: &ObservationUpdate<'_>,
    ) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn agents(&self, project: &str) -> StoreResult<Vec<AgentRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn agent(&self, project: &str, agent: &str) -> StoreResult<Option<(AgentRow, Vec<ToolCount>)>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn agent_profile(&self, project: &str, agent: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn set_agent_mode(
        &self,
        project: &str,
        agent: &str,
        mode: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn set_budget(
        &self,
        project: &str,
        agent: &str,
        daily_usd: Option<f64>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn budget(&self, project: &str, agent: &str, day: i64) -> StoreResult<BudgetState> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn start_session(&self, project: &str, row: &SessionRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn end_session(
        &self,
        project: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn session(&self, project: &str, id: &str) -> StoreResult<Option<SessionRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn sessions(&self, project: &str, agent: &str, limit: usize) -> StoreResult<Vec<SessionRow>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn count_session_events(&self, project: &str, id: &str, events: u64, cost_usd: f64) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
}
