//! Versioned migrations, applied at start under an advisory lock: replicas starting together
//! take turns, and each version is applied once.

use super::*;

/// Every schema version, oldest first. A release adds versions; it never edits one.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema.sql")),
    // A project's own bound on grants (`projects.max_grant_secs`).
    (2, include_str!("schema_v2.sql")),
    // Channel reminders and a request's recipients.
    (3, include_str!("schema_v3.sql")),
    // A request's own escalation time as a column (`requests.escalate_at`).
    (4, include_str!("schema_v4.sql")),
];

/// The advisory lock the migrations run under (any constant no other lock uses).
const MIGRATION_LOCK: i64 = 0x4841_4E44_5241_494C; // "HANDRAIL"

/// Brings the database up to the newest version.
pub(super) async fn migrate(c: &mut deadpool_postgres::Object) -> StoreResult<()> {
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let newest: Option<i32> = tx.query_one("SELECT max(version) FROM schema_migrations", &[]).await?.get(0);
    let newest = newest.unwrap_or(0);
    if let Some((known, _)) = MIGRATIONS.last() {
        if newest > *known {
            return Err(StoreError(format!(
                "the database is at schema version {newest}, newer than this build knows ({known}): \
                 run the newer release"
            )));
        }
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > newest) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &crate::now()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
