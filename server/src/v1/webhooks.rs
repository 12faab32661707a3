//! Webhook endpoints, their delivery log and manual redelivery (operators only).

use axum::extract::State;

use super::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Code;
use super::{internal, parse, ApiError, ApiResult, ProjectOperator};
use crate::store::{AuditEvent, DeliveryEntry, RequestDeliveryEntry, Webhook};
use crate::{now, random, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", post(add_webhook).get(list_webhooks))
        .route("/v1/webhooks/{id}", axum::routing::patch(update_webhook).delete(delete_webhook))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .route("/v1/requests/{id}/deliveries", get(request_deliveries))
        .route("/v1/deliveries/{id}/redeliver", post(redeliver))
}

/// An endpoint to add.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    /// An http(s) URL of at most 2048 bytes, without credentials. An address literal or
    /// `localhost` the outbound policy (`HANDRAIL_OUTBOUND_NETWORKS`) refuses is 422
    /// `url_forbidden`; a host name is checked at every delivery, as it resolves.
    url: String,
    /// Only the events of requests of these roles (and of unrestricted requests): what an
    /// operator holding them may read. Absent: every request's.
    roles: Option<Vec<String>>,
}

/// An endpoint just added: its secret is shown this once.
#[derive(Serialize, JsonSchema)]
pub(super) struct WebhookCreated {
    /// `wh_…`.
    id: String,
    /// Where deliveries go.
    url: String,
    /// The roles it is scoped to (absent: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    /// The Standard Webhooks signing secret (`whsec_…`).
    secret: String,
}

/// The project's endpoints.
#[derive(Serialize, JsonSchema)]
pub(super) struct WebhookList {
    /// Every endpoint (without secrets).
    webhooks: Vec<Webhook>,
}

/// An endpoint's delivery log.
#[derive(Serialize, JsonSchema)]
pub(super) struct DeliveryList {
    /// Newest first, at most 200.
    deliveries: Vec<DeliveryEntry>,
}

/// Adds an endpoint; the answer carries its `whsec_` secret, shown this once.
async fn add_webhook(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let new: NewWebhook = parse(&bytes)?;
    match crate::outbound::check_url(&new.url, crate::webhooks::networks()) {
        Ok(_) => {}
        Err(crate::outbound::UrlError::Invalid(_)) => {
            return Err(ApiError::new(
                Code::InvalidUrl,
                "an http(s) URL of at most 2048 bytes with a host and no credentials",
            ))
        }
        Err(crate::outbound::UrlError::Forbidden) => {
            return Err(ApiError::new(
                Code::UrlForbidden,
                "the URL's host is an address outgoing calls may not reach (HANDRAIL_OUTBOUND_NETWORKS)",
            ))
        }
    }
    let empty = new.roles.as_ref().is_some_and(Vec::is_empty);
    let roles = new.roles.unwrap_or_default();
    if empty || new_roles_invalid(&roles) {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "roles lists 1 to 32 role names (leave it out for every role)",
        ));
    }
    for role in &roles {
        super::roles::check_role_name(role)?;
    }
    let id = format!("wh_{}", handrail_core::encoding::b64url_encode(random::<9>().map_err(internal)?));
    let secret = handrail_core::webhook::Secret::generate_hmac()?.export();
    let audit = AuditEvent {
        at: now(),
        actor: &who.key_id,
        event: "webhook.added",
        data: json!({ "url": new.url, "roles": roles }),
    };
    state.store.add_webhook(&id, &who.project, &new.url, &secret, &roles, audit)?;
    Ok((StatusCode::CREATED, Json(WebhookCreated { id, url: new.url, roles, secret })))
}

/// Whether a webhook's `roles` is out of bounds (an empty list would receive nothing).
fn new_roles_invalid(roles: &[String]) -> bool {
    roles.len() > 32 || roles.iter().any(|r| r == crate::store::ANY_ROLE)
}

async fn list_webhooks(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<WebhookList>> {
    Ok(Json(WebhookList { webhooks: state.store.webhooks(&who.project)? }))
}

async fn deliveries(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(DeliveryList { deliveries: state.store.deliveries(&who.project, &id, 200)? }))
}

/// A request's deliveries, newest first, at most 200: to every endpoint and to the callback
/// URL the request named, if any.
#[derive(Serialize, JsonSchema)]
pub(super) struct RequestDeliveryList {
    /// Newest first, at most 200.
    deliveries: Vec<RequestDeliveryEntry>,
}

async fn request_deliveries(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestDeliveryList>> {
    if state.store.request(&who.project, &id)?.is_none() {
        return Err(super::not_found());
    }
    Ok(Json(RequestDeliveryList { deliveries: state.store.request_deliveries(&who.project, &id, 200)? }))
}

async fn redeliver(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.redeliver(&who.project, &id, crate::now_ms())? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::new(Code::NotFound, "no such delivery"))
    }
}

/// A change of an endpoint.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookUpdate {
    /// `false` re-enables an endpoint disabled after failing (its waiting deliveries are sent
    /// again, its failures forgotten); `true` stops deliveries to it until then.
    disabled: bool,
}

/// Disables or re-enables an endpoint, audited `webhook.disabled` / `webhook.enabled`.
async fn update_webhook(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<Webhook>> {
    let update: WebhookUpdate = parse(&bytes)?;
    let event = if update.disabled { "webhook.disabled" } else { "webhook.enabled" };
    let audit = AuditEvent { at: now(), actor: &who.key_id, event, data: json!({}) };
    match state.store.set_webhook_disabled(&who.project, &id, update.disabled, audit)? {
        Some(webhook) => {
            state.endpoints_changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            state.store.tell(&crate::store::Change::EndpointsChanged);
            Ok(Json(webhook))
        }
        None => Err(ApiError::new(Code::NotFound, "no such webhook")),
    }
}

/// Removes an endpoint: nothing more is sent to it, and its delivery log goes with it.
async fn delete_webhook(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let audit = AuditEvent { at: now(), actor: &who.key_id, event: "webhook.deleted", data: json!({}) };
    if state.store.delete_webhook(&who.project, &id, audit)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(Code::NotFound, "no such webhook"))
    }
}
