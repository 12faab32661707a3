//! Projects: an admin operator creates them and lists them all; any other operator sees
//! only its own. A project's keys read nothing of another project.
//!
//! A project's settings (`GET` / `PATCH /v1/projects/{id}`): today its own bound on grants,
//! `max_grant_secs`, which an operator of `*` of the project or an admin sets; every change is
//! audited (`project.max_grant_secs`). Agent keys neither read nor change them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::authority::{all_roles_required, is_project_operator};
use super::Code;
use super::{internal, not_found, parse, ApiError, ApiResult, Operator, Path};
use crate::store::{AuditEvent, Principal, Project, Role, ANY_ROLE};
use crate::{mint_key, now, random, AppState};

/// Longest project name, in bytes.
const MAX_NAME_LEN: usize = 128;

/// Largest `max_grant_secs` a project may set: a year. The server-wide bound still caps it.
const MAX_GRANT_CEILING_SECS: u64 = 365 * 86_400;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects", post(add_project).get(list_projects))
        .route("/v1/projects/{id}", get(show_project).patch(patch_project))
}

/// A project with the bound on grants in force in it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectView {
    #[serde(flatten)]
    project: Project,
    /// Most seconds a grant given now may stand in this project: the smaller of the server's
    /// `HANDRAIL_MAX_GRANT_SECS` (default 3600) and the project's `max_grant_secs`. A grant
    /// asked for longer is refused (400 `invalid_request`).
    grant_bound_secs: u64,
}

impl ProjectView {
    fn of(project: Project) -> ProjectView {
        let grant_bound_secs = crate::lifecycle::grant_bound(project.max_grant_secs);
        ProjectView { project, grant_bound_secs }
    }
}

/// A change to a project's settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectPatch {
    /// The project's own bound on grants: 1 to 31536000 seconds (a year), or `null` to leave
    /// only the server-wide one. Setting a bound shortens the project's live grants that
    /// would outlast it. Required: a patch that changes nothing is refused.
    #[serde(deserialize_with = "nullable")]
    #[schemars(schema_with = "secs_or_null")]
    max_grant_secs: Option<u64>,
}

/// The schema of `max_grant_secs` in a patch: required, an integer in range or `null`.
fn secs_or_null(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_GRANT_CEILING_SECS,
    })
}

/// A present field whose value may be `null` (a missing one is an error, not `null`).
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// A project to create.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewProject {
    /// 1 to 128 bytes, no control characters.
    name: String,
}

/// A project just created, with its first keys: the tokens are shown this once.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ProjectCreated {
    /// `prj_…`.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Unix seconds.
    pub(crate) created_at: i64,
    /// An operator token of the new project (every role, not an admin).
    pub(crate) operator_token: String,
    /// An agent key of the new project.
    pub(crate) agent_key: String,
}

/// Projects the caller may see.
#[derive(Serialize, JsonSchema)]
pub(super) struct ProjectList {
    /// Every project for an admin; the caller's own for any other operator.
    projects: Vec<Project>,
}

/// Creates a project with its first operator token (every role, not an admin) and agent
/// key, shown this once: `{"id", "name", "created_at", "operator_token", "agent_key"}`.
async fn add_project(
    State(state): State<AppState>,
    Operator(who): Operator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<ProjectCreated>)> {
    if !who.admin {
        return Err(ApiError::new(Code::Forbidden, "creating projects needs an admin token"));
    }
    let new: NewProject = parse(&bytes)?;
    let created = create(&state, &new.name, &who.key_id, json!({}))?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates project `name` with its first operator token (every role, not an admin) and
/// agent key, audited as `project.created` by `actor` with `extra`'s fields added to the
/// entry's data. Shared by `POST /v1/projects` and the LetsPing layer's admin-opened
/// sign-up.
pub(crate) fn create(
    state: &AppState,
    name: &str,
    actor: &str,
    extra: serde_json::Value,
) -> ApiResult<ProjectCreated> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("a project name is 1 to {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    let project = Project {
        id: format!("prj_{}", handrail_core::encoding::b64url_encode(random::<9>().map_err(internal)?)),
        name: name.to_string(),
        created_at: now(),
        max_grant_secs: None,
    };
    let (agent, agent_token) = mint_key(Role::Agent, Vec::new(), false).map_err(internal)?;
    let (operator, operator_token) =
        mint_key(Role::Operator, vec![ANY_ROLE.to_string()], false).map_err(internal)?;
    let mut data = json!({ "name": project.name, "keys": [&agent.key_id, &operator.key_id] });
    if let (Some(obj), serde_json::Value::Object(more)) = (data.as_object_mut(), extra) {
        obj.extend(more);
    }
    let audit = AuditEvent { at: project.created_at, actor, event: "project.created", data };
    state.store.create_project(&project, &[agent, operator], audit)?;
    Ok(ProjectCreated {
        id: project.id,
        name: project.name,
        created_at: project.created_at,
        operator_token,
        agent_key: agent_token,
    })
}

/// Project `id` if `who` may read its settings: an admin any project, another operator its
/// own; 404 `not_found` for any other (whether it exists is not the caller's to learn).
fn visible(state: &AppState, who: &Principal, id: &str) -> ApiResult<Project> {
    if !who.admin && who.project != id {
        return Err(not_found());
    }
    state.store.project(id)?.ok_or_else(not_found)
}

/// One project, with the bound on grants in force in it.
async fn show_project(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(ProjectView::of(visible(&state, &who, &id)?)))
}

/// Changes a project's settings (its bound on grants), audited as `project.max_grant_secs`:
/// an admin for any project, an operator of `*` for its own (403 `all_roles_required` for a
/// role-limited one, 403 `forbidden` for an agent key).
async fn patch_project(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<ProjectView>> {
    let before = visible(&state, &who, &id)?;
    if !who.admin && !is_project_operator(&who) {
        return Err(all_roles_required());
    }
    let patch: ProjectPatch = parse(&bytes)?;
    if let Some(secs) = patch.max_grant_secs {
        if secs == 0 || secs > MAX_GRANT_CEILING_SECS {
            return Err(ApiError::new(
                Code::InvalidRequest,
                format!("max_grant_secs is 1 to {MAX_GRANT_CEILING_SECS} seconds, or null"),
            ));
        }
    }
    let at = now();
    let audit = AuditEvent {
        at,
        actor: &who.key_id,
        event: "project.max_grant_secs",
        data: json!({ "max_grant_secs": patch.max_grant_secs, "previous": before.max_grant_secs }),
    };
    if crate::blocking(|| state.store.set_max_grant_secs(&id, patch.max_grant_secs, at, audit))?.is_none() {
        return Err(not_found());
    }
    Ok(Json(ProjectView::of(visible(&state, &who, &id)?)))
}

/// Every project for an admin; the caller's own for any other operator.
async fn list_projects(
    State(state): State<AppState>,
    Operator(who): Operator,
) -> ApiResult<Json<ProjectList>> {
    let projects = if who.admin {
        state.store.projects()?
    } else {
        state.store.project(&who.project)?.into_iter().collect()
    };
    Ok(Json(ProjectList { projects }))
}
