//! Agents: firewall profiles from observations, modes, budgets and sessions.

use tokio_postgres::{IsolationLevel, Row};

use super::*;
use crate::store::*;

const AGENT_COLUMNS: &str =
    "SELECT name, mode, readiness, nodes, edges, calls, sessions, cost_usd, first_seen, last_seen
     FROM agents";

const SESSION_COLUMNS: &str =
    "SELECT id, agent, status, error, started_at, ended_at, events, cost_usd FROM sessions";

impl Agents for Postgres {
    fn agent_snapshot(
        &self,
        project: &str,
        agent: &str,
        event_ids: &[&str],
        sessions: &[&str],
    ) -> StoreResult<AgentSnapshot> {
        self.block(async {
            let mut c = self.client().await?;
            // One snapshot of the database: the version, ids and sessions are of the same moment.
            let tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let mut snap = AgentSnapshot::default();
            if let Some(r) = tx
                .row_opt("SELECT version, profile FROM agents WHERE project = $1 AND name = $2", &[&project, &agent])
                .await?
            {
                snap.version = r.try_get(0)?;
                snap.profile = Some(r.try_get(1)?);
            }
            for r in tx
                .rows(
                    "SELECT id FROM agent_events WHERE project = $1 AND agent = $2 AND id = ANY($3)",
                    &[&project, &agent, &event_ids],
                )
                .await?
            {
                snap.seen.insert(r.try_get(0)?);
            }
            for r in tx
                .rows(
                    "SELECT session, state FROM agent_sessions WHERE project = $1 AND agent = $2 AND session = ANY($3)",
                    &[&project, &agent, &sessions],
                )
                .await?
            {
                snap.sessions.insert(r.try_get(0)?, r.try_get(1)?);
            }
            for r in tx
                .rows("SELECT DISTINCT tool FROM agent_telemetry WHERE project = $1 AND agent = $2", &[&project, &agent])
                .await?
            {
                snap.tools.insert(r.try_get(0)?);
            }
            tx.commit().await?;
            Ok(snap)
        })
    }

    fn commit_observations(
        &self,
        project: &str,
        agent: &str,
        u: &ObservationUpdate<'_>,
    ) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let readiness = serde_json::to_string(&u.readiness)?;
            let calls: u64 = u.counts.iter().map(|c| c.calls).sum();
            let cost: f64 = u.counts.iter().map(|c| c.cost_usd).sum();
            let new_sessions = u.sessions.iter().filter(|s| s.2).count() as i64;
            let (nodes, edges, calls) = (u.nodes as i64, u.edges as i64, calls as i64);
            // Only one batch per agent version wins, on any replica: the insert of a new agent
            // conflicts with a concurrent one, and the update matches only the version the batch
            // was computed from (a concurrent update holds the row until it commits, after which
            // the version no longer matches). The winner holds the agent's row until it commits,
            // so the batches of one agent are applied one at a time.
            let changed = if u.expected_version == 0 {
                tx.run(
                    "INSERT INTO agents (project, name, mode, profile, version, readiness, nodes, edges,
                     calls, sessions, cost_usd, first_seen, last_seen)
                     VALUES ($1, $2, 'shadow', $3, 1, $4, $5, $6, $7, $8, $9, $10, $10)
                     ON CONFLICT DO NOTHING",
                    &[&project, &agent, &u.profile, &readiness, &nodes, &edges, &calls, &new_sessions, &cost, &u.now],
                )
                .await?
            } else {
                tx.run(
                    "UPDATE agents SET profile = $3, version = version + 1, readiness = $4, nodes = $5, edges = $6,
                     calls = calls + $7, sessions = sessions + $8, cost_usd = cost_usd + $9,
                     last_seen = GREATEST(last_seen, $10)
                     WHERE project = $1 AND name = $2 AND version = $11",
                    &[
                        &project,
                        &agent,
                        &u.profile,
                        &readiness,
                        &nodes,
                        &edges,
                        &calls,
                        &new_sessions,
                        &cost,
                        &u.now,
                        &u.expected_version,
                    ],
                )
                .await?
            };
            if changed != 1 {
                tx.rollback().await?;
                return Ok(false); // another batch came first
            }
            // An event id applied in between (or twice in this batch) inserts fewer rows.
            let ids: Vec<&str> = u.events.iter().map(|e| e.0).collect();
            let event_sessions: Vec<&str> = u.events.iter().map(|e| e.1).collect();
            let ats: Vec<i64> = u.events.iter().map(|e| e.2).collect();
            let inserted = tx
                .run(
                    "INSERT INTO agent_events (project, agent, id, session, at, received_at)
                     SELECT $1, $2, e.id, e.session, e.at, $6
                     FROM unnest($3::text[], $4::text[], $5::bigint[]) AS e(id, session, at)
                     ON CONFLICT DO NOTHING",
                    &[&project, &agent, &ids, &event_sessions, &ats, &u.now],
                )
                .await?;
            if inserted != u.events.len() as u64 {
                tx.rollback().await?;
                return Ok(false);
            }
            let stmt = tx
                .prepare(
                    "INSERT INTO agent_sessions (project, agent, session, state, last_seen) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (project, agent, session) DO UPDATE SET state = $4, last_seen = $5",
                )
                .await?;
            for (session, state, _) in &u.sessions {
                tx.execute(&stmt, &[&project, &agent, session, state, &u.now]).await?;
            }
            let stmt = tx
                .prepare(
                    "INSERT INTO agent_telemetry (project, agent, tool, outcome, calls, cost_usd)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (project, agent, tool, outcome)
                     DO UPDATE SET calls = agent_telemetry.calls + $5, cost_usd = agent_telemetry.cost_usd + $6",
                )
                .await?;
            for c in &u.counts {
                tx.execute(&stmt, &[&project, &agent, &c.tool, &c.outcome, &(c.calls as i64), &c.cost_usd]).await?;
            }
            if cost > 0.0 {
                // Spend by the server's UTC day, what the budget guardrail compares.
                tx.run(
                    "INSERT INTO agent_spend (project, agent, day, usd) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (project, agent, day) DO UPDATE SET usd = agent_spend.usd + $4",
                    &[&project, &agent, &u.now.div_euclid(86_400), &cost],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn agents(&self, project: &str) -> StoreResult<Vec<AgentRow>> {
        self.block(async {
            let c = self.client().await?;
            // Byte order, as SQLite sorts text, whatever the database's collation.
            let rows = c
                .query(
                    &format!("{AGENT_COLUMNS} WHERE project = $1 ORDER BY name COLLATE \"C\""),
                    &[&project],
                )
                .await?;
            rows.iter().map(agent_row).collect()
        })
    }

    fn agent(&self, project: &str, agent: &str) -> StoreResult<Option<(AgentRow, Vec<ToolCount>)>> {
        self.block(async {
            let mut c = self.client().await?;
            // The agent and its telemetry as of one moment.
            let tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let Some(row) =
                tx.query_opt(&format!("{AGENT_COLUMNS} WHERE project = $1 AND name = $2"), &[&project, &agent]).await?
            else {
                return Ok(None);
            };
            let counts = tx
                .rows(
                    "SELECT tool, outcome, calls, cost_usd FROM agent_telemetry WHERE project = $1 AND agent = $2
                     ORDER BY tool COLLATE \"C\", outcome COLLATE \"C\"",
                    &[&project, &agent],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(ToolCount {
                        tool: r.try_get(0)?,
                        outcome: r.try_get(1)?,
                        calls: r.try_get::<_, i64>(2)? as u64,
                        cost_usd: r.try_get(3)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            tx.commit().await?;
            Ok(Some((agent_row(&row)?, counts)))
        })
    }

    fn agent_profile(&self, project: &str, agent: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt("SELECT profile FROM agents WHERE project = $1 AND name = $2", &[&project, &agent])
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn set_agent_mode(
        &self,
        project: &str,
        agent: &str,
        mode: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = tx
                .run(
                    "UPDATE agents SET mode = $3 WHERE project = $1 AND name = $2",
                    &[&project, &agent, &mode],
                )
                .await?;
            if n != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            append_audit(&tx, project, agent, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn set_budget(
        &self,
        project: &str,
        agent: &str,
        daily_usd: Option<f64>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            match daily_usd {
                Some(usd) => {
                    tx.run(
                        "INSERT INTO agent_budgets (project, agent, daily_usd) VALUES ($1, $2, $3)
                         ON CONFLICT (project, agent) DO UPDATE SET daily_usd = $3",
                        &[&project, &agent, &usd],
                    )
                    .await?
                }
                None => {
                    tx.run("DELETE FROM agent_budgets WHERE project = $1 AND agent = $2", &[&project, &agent])
                        .await?
                }
            };
            append_audit(&tx, project, agent, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn budget(&self, project: &str, agent: &str, day: i64) -> StoreResult<BudgetState> {
        self.block(async {
            let c = self.client().await?;
            let r = c
                .row(
                    "SELECT (SELECT daily_usd FROM agent_budgets WHERE project = $1 AND agent = $2),
                            (SELECT usd FROM agent_spend WHERE project = $1 AND agent = $2 AND day = $3)",
                    &[&project, &agent, &day],
                )
                .await?;
            Ok(BudgetState {
                daily_usd: r.try_get(0)?,
                spent_usd: r.try_get::<_, Option<f64>>(1)?.unwrap_or(0.0),
            })
        })
    }

    fn start_session(&self, project: &str, row: &SessionRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run(
                "INSERT INTO sessions (project, id, agent, status, error, started_at, ended_at, events, cost_usd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &project,
                    &row.id,
                    &row.agent,
                    &row.status,
                    &row.error,
                    &row.started_at,
                    &row.ended_at,
                    &(row.events as i64),
                    &row.cost_usd,
                ],
            )
            .await?;
            append_audit(&tx, project, &row.id, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn end_session(
        &self,
        project: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        self.block(async {
            let c = self.client().await?;
            // Only the first end of a running session matches, on any replica.
            let n = c
                .run(
                    "UPDATE sessions SET status = $3, error = $4, ended_at = $5
                     WHERE project = $1 AND id = $2 AND status = 'running'",
                    &[&project, &id, &status, &error, &now],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn session(&self, project: &str, id: &str) -> StoreResult<Option<SessionRow>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt(&format!("{SESSION_COLUMNS} WHERE project = $1 AND id = $2"), &[&project, &id])
                .await?;
            row.as_ref().map(session_row).transpose()
        })
    }

    fn sessions(&self, project: &str, agent: &str, limit: usize) -> StoreResult<Vec<SessionRow>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!(
                        "{SESSION_COLUMNS} WHERE project = $1 AND agent = $2 ORDER BY started_at DESC, rowid DESC LIMIT $3"
                    ),
                    &[&project, &agent, &(limit as i64)],
                )
                .await?;
            rows.iter().map(session_row).collect()
        })
    }

    fn count_session_events(&self, project: &str, id: &str, events: u64, cost_usd: f64) -> StoreResult<()> {
        self.block(async {
            let c = self.client().await?;
            c.run(
                "UPDATE sessions SET events = events + $3, cost_usd = cost_usd + $4 WHERE project = $1 AND id = $2",
                &[&project, &id, &(events as i64), &cost_usd],
            )
            .await?;
            Ok(())
        })
    }
}

fn agent_row(r: &Row) -> StoreResult<AgentRow> {
    Ok(AgentRow {
        name: r.try_get(0)?,
        mode: r.try_get(1)?,
        readiness: serde_json::from_str(r.try_get::<_, &str>(2)?)?,
        nodes: r.try_get::<_, i64>(3)? as u64,
        edges: r.try_get::<_, i64>(4)? as u64,
        calls: r.try_get::<_, i64>(5)? as u64,
        sessions: r.try_get::<_, i64>(6)? as u64,
        cost_usd: r.try_get(7)?,
        first_seen: r.try_get(8)?,
        last_seen: r.try_get(9)?,
    })
}

fn session_row(r: &Row) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        id: r.try_get(0)?,
        agent: r.try_get(1)?,
        status: r.try_get(2)?,
        error: r.try_get(3)?,
        started_at: r.try_get(4)?,
        ended_at: r.try_get(5)?,
        events: r.try_get::<_, i64>(6)? as u64,
        cost_usd: r.try_get(7)?,
    })
}
