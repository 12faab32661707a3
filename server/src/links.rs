//! Expiring, signed links to a request's parked state: `/v1/blobs/{token}` lets its holder
//! upload or download one snapshot without a key until it expires. The token is the claims
//! (`[purpose, project, id, expires_at]`, base64url JSON) and their HMAC under a server
//! secret kept in the settings table.

use handrail_core::crypto::{hmac_sha256, mac_eq};
use handrail_core::encoding::{b64url_decode, b64url_encode};
use serde_json::json;

use crate::error::{internal, ApiError, ApiResult, Code};
use crate::store::Store;
use crate::{now, random, AppState};

/// Lifetime of a link unless `?ttl=` says otherwise: 15 minutes.
pub const DEFAULT_LINK_SECS: i64 = 900;

/// Longest lifetime of a link: a day.
pub const MAX_LINK_SECS: i64 = 86_400;

/// Domain separation of the link MAC.
const LINK_LABEL: &[u8] = b"handrail-blob-link-v1.";

/// Domain separation of the decision links of e-mail channels: the same secret, another
/// label, so neither kind of token is ever taken for the other.
const DECIDE_LABEL: &[u8] = b"handrail-decide-link-v1.";

/// What a decision link names: a request of a project, the addressee it was sent to, and
/// until when it may be used (never past the request's deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecideGrant {
    pub(crate) project: String,
    pub(crate) request: String,
    pub(crate) address: String,
    pub(crate) expires_at: i64,
}

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Upload,
    Download,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Upload => "upload",
            Purpose::Download => "download",
        }
    }
}

/// The secret that signs snapshot links, and the base URL they are written with.
pub(crate) struct LinkKey {
    secret: [u8; 32],
    /// `HANDRAIL_PUBLIC_URL` without a trailing `/`, or empty (links relative to the server).
    base: String,
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey([redacted])")
    }
}

impl LinkKey {
    /// The key kept in the settings table (created on first use), like the proof seed.
    pub(crate) fn load(store: &dyn Store) -> Result<LinkKey, String> {
        let stored =
            store.setting_or_insert("blob_link_secret", &b64url_encode(random::<32>()?)).map_err(|e| e.0)?;
        let secret: [u8; 32] = b64url_decode(&stored)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("stored blob link secret is corrupt")?;
        let base = std::env::var("HANDRAIL_PUBLIC_URL").unwrap_or_default().trim_end_matches('/').to_string();
        Ok(LinkKey { secret, base })
    }

    fn mac(&self, claims: &str) -> [u8; 32] {
        hmac_sha256(&self.secret, &[LINK_LABEL, claims.as_bytes()])
    }

    /// A link for `purpose` on request `id` of `project`, valid until `expires_at`.
    pub(crate) fn link(
        &self,
        purpose: Purpose,
        project: &str,
        id: &str,
        expires_at: i64,
    ) -> ApiResult<String> {
        let claims =
            serde_json::to_vec(&json!([purpose.as_str(), project, id, expires_at])).map_err(internal)?;
        let claims = b64url_encode(claims);
        let mac = b64url_encode(self.mac(&claims));
        Ok(format!("{}/v1/blobs/{claims}.{mac}", self.base))
    }

    /// The base URL links are written with (`HANDRAIL_PUBLIC_URL`), empty when none is set.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A decision link (`{base}/decide/{token}`) for `address` on request `id` of `project`,
    /// valid until `expires_at`. The token is `claims.mac` as for blob links, with claims
    /// `["decide", project, id, address, expires_at]` under [`DECIDE_LABEL`].
    pub(crate) fn decide_link(
        &self,
        project: &str,
        id: &str,
        address: &str,
        expires_at: i64,
    ) -> ApiResult<String> {
        let claims =
            serde_json::to_vec(&json!(["decide", project, id, address, expires_at])).map_err(internal)?;
        let claims = b64url_encode(claims);
        let mac = b64url_encode(hmac_sha256(&self.secret, &[DECIDE_LABEL, claims.as_bytes()]));
        Ok(format!("{}/decide/{claims}.{mac}", self.base))
    }

    /// What a decision link's token grants at `now`: 403 `link_invalid` for a token this
    /// server did not sign (or signed for something else), 410 `link_expired` past its time.
    pub(crate) fn check_decide(&self, token: &str, now: i64) -> ApiResult<DecideGrant> {
        let invalid = || ApiError::new(Code::LinkInvalid, "this link is not valid");
        if token.len() > 2048 {
            return Err(invalid());
        }
        let (claims, mac) = token.split_once('.').ok_or_else(invalid)?;
        let mac = b64url_decode(mac).map_err(|_| invalid())?;
        if !mac_eq(&hmac_sha256(&self.secret, &[DECIDE_LABEL, claims.as_bytes()]), &mac) {
            return Err(invalid());
        }
        let claims = b64url_decode(claims).map_err(|_| invalid())?;
        let (purpose, project, request, address, expires_at): (String, String, String, String, i64) =
            serde_json::from_slice(&claims).map_err(|_| invalid())?;
        if purpose != "decide" {
            return Err(invalid());
        }
        if now >= expires_at {
            return Err(ApiError::new(Code::LinkExpired, "this link has expired"));
        }
        Ok(DecideGrant { project, request, address, expires_at })
    }

    /// The (project, request id) a token grants `purpose` on at `now`.
    pub(crate) fn check(&self, token: &str, purpose: Purpose, now: i64) -> ApiResult<(String, String)> {
        let invalid = || ApiError::new(Code::LinkInvalid, "this link is not valid");
        let (claims, mac) = token.split_once('.').ok_or_else(invalid)?;
        let mac = b64url_decode(mac).map_err(|_| invalid())?;
        if !mac_eq(&self.mac(claims), &mac) {
            return Err(invalid());
        }
        let claims = b64url_decode(claims).map_err(|_| invalid())?;
        let (granted, project, id, expires_at): (String, String, String, i64) =
            serde_json::from_slice(&claims).map_err(|_| invalid())?;
        if granted != purpose.as_str() {
            return Err(ApiError::new(Code::LinkInvalid, format!("this link is for {granted}s only")));
        }
        if now >= expires_at {
            return Err(ApiError::new(Code::LinkExpired, "this link has expired"));
        }
        Ok((project, id))
    }
}

/// An upload link (`Purpose::Upload`) for a request of `project`, valid for
/// [`DEFAULT_LINK_SECS`]: what the compatibility layers hand to clients that park state.
pub(crate) fn upload_url(state: &AppState, project: &str, id: &str) -> ApiResult<String> {
    state.blob_links.link(Purpose::Upload, project, id, now() + DEFAULT_LINK_SECS)
}

/// A download link for the snapshot of a request of `project`, valid for
/// [`DEFAULT_LINK_SECS`]; None when the request has no snapshot.
pub(crate) fn download_url(state: &AppState, project: &str, id: &str) -> ApiResult<Option<String>> {
    if state.store.snapshot(project, id)?.is_none() {
        return Ok(None);
    }
    state.blob_links.link(Purpose::Download, project, id, now() + DEFAULT_LINK_SECS).map(Some)
}
