//! Projects: an admin operator creates them and lists them all; any other operator sees
//! only its own. A project's keys read nothing of another project.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Code;
use super::{internal, parse, ApiError, ApiResult, Operator};
use crate::store::{AuditEvent, Project, Role, ANY_ROLE};
use crate::{mint_key, now, random, AppState};

/// Longest project name, in bytes.
const MAX_NAME_LEN: usize = 128;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/projects", post(add_project).get(list_projects))
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
