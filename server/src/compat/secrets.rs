//! The per-project secrets the compatibility clients are configured with: LoopPause's proof
//! signing secret and LetsPing's webhook secret. Kept in the settings table, created on
//! first use, shown and rotated only with an operator token (`handrail compat secrets`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::encoding::b64url_encode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{AuditEvent, Store, StoreError};
use crate::v1::Code;
use crate::v1::{ApiError, ApiResult, ProjectOperator};
use crate::{now, random, AppState};

/// A secret the compatibility layers keep per project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Keys the HMAC of LoopPause proofs.
    LoopPauseSigning,
    /// Keys the `x-letsping-signature` of LetsPing webhooks.
    LetsPingWebhook,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::LoopPauseSigning, Kind::LetsPingWebhook];

    /// Its name in `handrail compat secrets` and in `POST /compat/secrets/rotate`.
    fn name(self) -> &'static str {
        match self {
            Kind::LoopPauseSigning => "looppause_signing_secret",
            Kind::LetsPingWebhook => "letsping_webhook_secret",
        }
    }

    /// What a value starts with (the prefixes their dashboards used, so users recognise them).
    fn prefix(self) -> &'static str {
        match self {
            Kind::LoopPauseSigning => "lps_",
            Kind::LetsPingWebhook => "lp_whk_",
        }
    }

    fn setting(self, project: &str) -> String {
        format!("compat.{}.{project}", self.name())
    }

    fn fresh(self) -> Result<String, String> {
        Ok(format!("{}{}", self.prefix(), b64url_encode(random::<32>()?)))
    }
}

/// The project's secret of `kind` (created on first use).
pub(crate) fn secret(store: &dyn Store, project: &str, kind: Kind) -> Result<String, StoreError> {
    let fresh = kind.fresh().map_err(StoreError)?;
    store.setting_or_insert(&kind.setting(project), &fresh)
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/compat/secrets", get(show)).route("/compat/secrets/rotate", post(rotate))
}

fn all(state: &AppState, project: &str) -> ApiResult<Json<Value>> {
    let mut out = serde_json::Map::new();
    out.insert("project".into(), json!(project));
    for kind in Kind::ALL {
        out.insert(kind.name().into(), json!(secret(state.store.as_ref(), project, kind)?));
    }
    Ok(Json(Value::Object(out)))
}

/// `GET /compat/secrets`: the caller's project's secrets (operator only).
async fn show(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<Value>> {
    all(&state, &who.project)
}

/// Body of `POST /compat/secrets/rotate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// Which secret; every one when absent.
    secret: Option<String>,
}

/// `POST /compat/secrets/rotate`: replaces one secret (or all) with a fresh one; the old
/// one stops working at once. Answers with every secret, as `GET` does.
async fn rotate(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let ask: Rotate = if body.is_empty() { Rotate { secret: None } } else { crate::v1::parse(&body)? };
    let kinds: Vec<Kind> = match ask.secret.as_deref() {
        None => Kind::ALL.to_vec(),
        Some(name) => vec![Kind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            ApiError::new(
                Code::InvalidRequest,
                "secret is looppause_signing_secret or letsping_webhook_secret",
            )
        })?],
    };
    for kind in kinds {
        let fresh = kind.fresh().map_err(crate::v1::internal)?;
        let audit = AuditEvent {
            at: now(),
            actor: &who.key_id,
            event: "compat.secret_rotated",
            data: json!({ "secret": kind.name() }),
        };
        state.store.set_project_setting(&who.project, &kind.setting(&who.project), &fresh, audit)?;
    }
    all(&state, &who.project)
}
