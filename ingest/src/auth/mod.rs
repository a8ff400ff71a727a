//! Who is calling: bearer-token authentication, the tenant it binds the
//! request to, whether the session still stands (`sessions`), and role
//! checks. Every tenant-scoped handler takes an `AuthUser` and filters
//! every query on its `tenant_id`.

pub mod password;
pub mod sessions;
pub mod tokens;

use crate::http::error::ApiError;
use crate::http::extract::ClientIp;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use common::ids::{TenantId, UserId};
use serde::{Deserialize, Serialize};
use sessions::Sessions;
use std::sync::Arc;
use tokens::TokenKeys;

/// Roles, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Supervisor,
    Cashier,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Cashier => "cashier",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Supervisor, Role::Cashier].into_iter().find(|r| r.as_str() == text)
    }
}

/// Owners and admins manage the shop's catalogue, users and rules.
pub const MANAGERS: &[Role] = &[Role::Owner, Role::Admin];
/// Supervisors also cancel orders, adjust stock and review failed syncs.
pub const SUPERVISORS: &[Role] = &[Role::Owner, Role::Admin, Role::Supervisor];

/// An authenticated caller.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub role: Role,
    /// The registered till the session was opened on (PIN sign-in).
    pub device_id: Option<uuid::Uuid>,
}

impl AuthUser {
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the {} role may not do this", self.role.as_str())))
        }
    }
}

/// The bearer token of a request's `Authorization` header, if it has one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty())
}

/// A session ended by a role change, deactivation, password reset or a
/// revoked till.
const SESSION_ENDED: ApiError =
    ApiError::Unauthorized { code: "session_revoked", message: "this session has ended; sign in again" };

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    Arc<Sessions>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(ApiError::Unauthorized { code: "unauthorized", message: "a bearer access token is required" });
        };
        let claims = Arc::<TokenKeys>::from_ref(state).verify_access(token).map_err(|e| match e {
            tokens::TokenError::Expired => {
                ApiError::Unauthorized { code: "token_expired", message: "the access token has expired" }
            }
            tokens::TokenError::Invalid => {
                ApiError::Unauthorized { code: "invalid_token", message: "the access token is not valid" }
            }
        })?;
        if let Some(tenant) = parts.headers.get("x-tenant-id") {
            let matches = tenant.to_str().ok().and_then(|t| uuid::Uuid::parse_str(t).ok()) == Some(claims.tid.0);
            if !matches {
                return Err(ApiError::Forbidden {
                    code: "tenant_mismatch",
                    message: "X-Tenant-ID does not match the token's tenant".to_owned(),
                });
            }
        }
        let sessions = Arc::<Sessions>::from_ref(state);
        if !sessions.user_may_act(claims.tid, claims.sub, claims.ver).await? {
            return Err(SESSION_ENDED);
        }
        if let Some(device) = claims.dev
            && !sessions.device_may_act(claims.tid, device).await?
        {
            return Err(SESSION_ENDED);
        }
        Ok(AuthUser { user_id: claims.sub, tenant_id: claims.tid, role: claims.role, device_id: claims.dev })
    }
}

/// Networks the internal-key routes answer (`ADMIN_ALLOWED_CIDRS`); empty: any.
#[derive(Clone, Debug, Default)]
pub struct AdminNetworks(pub Arc<Vec<ipnet::IpNet>>);

/// Platform administration: a valid `X-Internal-Api-Key`.
pub struct InternalKey;

impl<S> FromRequestParts<S> for InternalKey
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
    AdminNetworks: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let client = parts.extensions.get::<ClientIp>().map(|c| c.0);
        let AdminNetworks(networks) = AdminNetworks::from_ref(state);
        let admitted = networks.is_empty() || client.is_some_and(|ip| networks.iter().any(|n| n.contains(&ip)));
        if !admitted {
            tracing::warn!(path = %parts.uri.path(), client = ?client, "internal API refused: address not in ADMIN_ALLOWED_CIDRS");
            return Err(ApiError::forbidden("this address may not use the internal API"));
        }
        let presented = parts.headers.get("x-internal-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        if Arc::<TokenKeys>::from_ref(state).internal_key_matches(presented) {
            tracing::info!(path = %parts.uri.path(), client = ?client, "internal API key used");
            Ok(InternalKey)
        } else {
            tracing::warn!(path = %parts.uri.path(), client = ?client, "internal API key refused");
            Err(ApiError::Unauthorized { code: "unauthorized", message: "a valid X-Internal-Api-Key is required" })
        }
    }
}
