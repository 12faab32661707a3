//! Agents: firewall profiles from observations, modes, budgets and sessions.

use super::*;

impl Agents for Sqlite {
    fn agent_snapshot(
        &self,
        project: &str,
        agent: &str,
        event_ids: &[&str],
        sessions: &[&str],
    ) -> StoreResult<AgentSnapshot> {
        let mut conn = self.conn();
        // One read transaction: the version, ids and sessions are of the same moment.
        let tx = conn.transaction()?;
        let mut snap = AgentSnapshot::default();
        if let Some((version, profile)) = tx
            .query_row(
                "SELECT version, profile FROM agents WHERE project = ?1 AND name = ?2",
                params![project, agent],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
        {
            snap.version = version;
            snap.profile = Some(profile);
        }
        {
            let mut stmt =
                tx.prepare("SELECT 1 FROM agent_events WHERE project = ?1 AND agent = ?2 AND id = ?3")?;
            for id in event_ids {
                if stmt.exists(params![project, agent, id])? {
                    snap.seen.insert((*id).to_string());
                }
            }
            let mut stmt = tx.prepare(
                "SELECT state FROM agent_sessions WHERE project = ?1 AND agent = ?2 AND session = ?3",
            )?;
            for session in sessions {
                if let Some(state) =
                    stmt.query_row(params![project, agent, session], |r| r.get::<_, String>(0)).optional()?
                {
                    snap.sessions.insert((*session).to_string(), state);
                }
            }
            let mut stmt =
                tx.prepare("SELECT DISTINCT tool FROM agent_telemetry WHERE project = ?1 AND agent = ?2")?;
            snap.tools = stmt
                .query_map(params![project, agent], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
        }
        tx.commit()?;
        Ok(snap)
    }

    fn commit_observations(
        &self,
        project: &str,
        agent: &str,
        u: &ObservationUpdate<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let readiness = serde_json::to_string(&u.readiness)?;
        let calls: u64 = u.counts.iter().map(|c| c.calls).sum();
        let cost: f64 = u.counts.iter().map(|c| c.cost_usd).sum();
        let new_sessions = u.sessions.iter().filter(|s| s.2).count() as i64;
        let changed = if u.expected_version == 0 {
            tx.execute(
                "INSERT OR IGNORE INTO agents (project, name, mode, profile, version, readiness, nodes, edges,
                 calls, sessions, cost_usd, first_seen, last_seen)
                 VALUES (?1, ?2, 'shadow', ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                params![project, agent, u.profile, readiness, u.nodes as i64, u.edges as i64, calls as i64,
                    new_sessions, cost, u.now],
            )?
        } else {
            tx.execute(
                "UPDATE agents SET profile = ?3, version = version + 1, readiness = ?4, nodes = ?5, edges = ?6,
                 calls = calls + ?7, sessions = sessions + ?8, cost_usd = cost_usd + ?9, last_seen = MAX(last_seen, ?10)
                 WHERE project = ?1 AND name = ?2 AND version = ?11",
                params![project, agent, u.profile, readiness, u.nodes as i64, u.edges as i64, calls as i64,
                    new_sessions, cost, u.now, u.expected_version],
            )?
        };
        if changed != 1 {
            return Ok(false); // another batch came first; the transaction rolls back
        }
        {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO agent_events (project, agent, id, session, at, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, session, at) in &u.events {
                if stmt.execute(params![project, agent, id, session, at, u.now])? != 1 {
                    return Ok(false);
                }
            }
            let mut stmt = tx.prepare(
                "INSERT INTO agent_sessions (project, agent, session, state, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, agent, session) DO UPDATE SET state = ?4, last_seen = ?5",
            )?;
            for (session, state, _) in &u.sessions {
                stmt.execute(params![project, agent, session, state, u.now])?;
            }
            let mut stmt = tx.prepare(
                "INSERT INTO agent_telemetry (project, agent, tool, outcome, calls, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project, agent, tool, outcome) DO UPDATE SET calls = calls + ?5, cost_usd = cost_usd + ?6",
            )?;
            for c in &u.counts {
                stmt.execute(params![project, agent, c.tool, c.outcome, c.calls as i64, c.cost_usd])?;
            }
            if cost > 0.0 {
                // Spend by the server's UTC day, what the budget guardrail compares.
                tx.execute(
                    "INSERT INTO agent_spend (project, agent, day, usd) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, agent, day) DO UPDATE SET usd = usd + ?4",
                    params![project, agent, u.now.div_euclid(86_400), cost],
                )?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    fn agents(&self, project: &str) -> StoreResult<Vec<AgentRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{AGENT_COLUMNS} WHERE project = ?1 ORDER BY name"))?;
        let rows = stmt.query_map([project], agent_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(row, readiness)| finish_agent(row, &readiness)).collect()
    }

    fn agent(&self, project: &str, agent: &str) -> StoreResult<Option<(AgentRow, Vec<ToolCount>)>> {
        let conn = self.conn();
        let Some((row, readiness)) = conn
            .query_row(
                &format!("{AGENT_COLUMNS} WHERE project = ?1 AND name = ?2"),
                params![project, agent],
                agent_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT tool, outcome, calls, cost_usd FROM agent_telemetry WHERE project = ?1 AND agent = ?2
             ORDER BY tool, outcome",
        )?;
        let counts = stmt
            .query_map(params![project, agent], |r| {
                Ok(ToolCount {
                    tool: r.get(0)?,
                    outcome: r.get(1)?,
                    calls: r.get::<_, i64>(2)? as u64,
                    cost_usd: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((finish_agent(row, &readiness)?, counts)))
    }

    fn agent_profile(&self, project: &str, agent: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT profile FROM agents WHERE project = ?1 AND name = ?2",
                params![project, agent],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_agent_mode(
        &self,
        project: &str,
        agent: &str,
        mode: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE agents SET mode = ?3 WHERE project = ?1 AND name = ?2",
            params![project, agent, mode],
        )?;
        if n != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, agent, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    /// An `agents` row; its readiness JSON is parsed outside rusqlite's error type.
    fn set_budget(
        &self,
        project: &str,
        agent: &str,
        daily_usd: Option<f64>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match daily_usd {
            Some(usd) => tx.execute(
                "INSERT INTO agent_budgets (project, agent, daily_usd) VALUES (?1, ?2, ?3)
                 ON CONFLICT (project, agent) DO UPDATE SET daily_usd = ?3",
                params![project, agent, usd],
            )?,
            None => tx.execute(
                "DELETE FROM agent_budgets WHERE project = ?1 AND agent = ?2",
                params![project, agent],
            )?,
        };
        append_audit(&tx, project, agent, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn budget(&self, project: &str, agent: &str, day: i64) -> StoreResult<BudgetState> {
        let conn = self.conn();
        let daily_usd = conn
            .query_row(
                "SELECT daily_usd FROM agent_budgets WHERE project = ?1 AND agent = ?2",
                params![project, agent],
                |r| r.get(0),
            )
            .optional()?;
        let spent_usd = conn
            .query_row(
                "SELECT usd FROM agent_spend WHERE project = ?1 AND agent = ?2 AND day = ?3",
                params![project, agent, day],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0.0);
        Ok(BudgetState { daily_usd, spent_usd })
    }

    fn start_session(&self, project: &str, row: &SessionRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO sessions (project, id, agent, status, error, started_at, ended_at, events, cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                project,
                row.id,
                row.agent,
                row.status,
                row.error,
                row.started_at,
                row.ended_at,
                row.events as i64,
                row.cost_usd
            ],
        )?;
        append_audit(&tx, project, &row.id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn end_session(
        &self,
        project: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE sessions SET status = ?3, error = ?4, ended_at = ?5
             WHERE project = ?1 AND id = ?2 AND status = 'running'",
            params![project, id, status, error, now],
        )?;
        Ok(n == 1)
    }

    fn session(&self, project: &str, id: &str) -> StoreResult<Option<SessionRow>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("{SESSION_COLUMNS} WHERE project = ?1 AND id = ?2"),
                params![project, id],
                session_row,
            )
            .optional()?)
    }

    fn sessions(&self, project: &str, agent: &str, limit: usize) -> StoreResult<Vec<SessionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{SESSION_COLUMNS} WHERE project = ?1 AND agent = ?2 ORDER BY started_at DESC, rowid DESC LIMIT ?3"
        ))?;
        let rows =
            stmt.query_map(params![project, agent, limit as i64], session_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn count_session_events(&self, project: &str, id: &str, events: u64, cost_usd: f64) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE sessions SET events = events + ?3, cost_usd = cost_usd + ?4 WHERE project = ?1 AND id = ?2",
            params![project, id, events as i64, cost_usd],
        )?;
        Ok(())
    }
}
