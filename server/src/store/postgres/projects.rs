//! Placeholder.

use super::*;
use crate::store::*;

impl Projects for Postgres {
    #[allow(unused_variables)]
    fn principal(&self, token_hash: &str) -> StoreResult<Option<Principal>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn add_key(&self, key_id: &str, token_hash: &str, project: &str, role: Role, now: i64) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn add_key_row(&self, project: &str, key: &NewKeyRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn keys(&self, project: &str) -> StoreResult<Vec<KeyInfo>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn add_project(&self, id: &str, name: &str, now: i64) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn create_first_project(&self, project: &Project, keys: &[NewKeyRow], audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn key(&self, project: &str, key_id: &str) -> StoreResult<Option<(Role, bool)>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn revoke_key(&self, project: &str, key_id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn create_project(&self, project: &Project, keys: &[NewKeyRow], audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn projects(&self) -> StoreResult<Vec<Project>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn project(&self, id: &str) -> StoreResult<Option<Project>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn add_role(&self, project: &str, rule: &RoleRule, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn roles(&self, project: &str) -> StoreResult<Vec<RoleRule>> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn delete_role(&self, project: &str, name: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        Err(StoreError("not built".into()))
    }
    #[allow(unused_variables)]
    fn set_project_setting(&self, project: &str, name: &str, value: &str, audit: AuditEvent<'_>) -> StoreResult<()> {
        Err(StoreError("not built".into()))
    }
}

