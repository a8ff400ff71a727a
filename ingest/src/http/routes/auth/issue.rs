//! What a sign-in hands out: an access token at the user's token version
//! (and till, for a PIN session) and a refresh token in its family.

use crate::auth::Role;
use crate::auth::tokens::Grant;
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;
use common::ids::{TenantId, UserId};
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub is_active: bool,
    pub token_version: i64,
}

/// A user who may sign in, with the token version to issue under.
pub const ACTIVE_USER: &str = "SELECT id, tenant_id, email, name, role, password_hash, is_active, token_version
                                FROM users WHERE id = $1 AND is_active";

/// An access token and a refresh token in `family`: new ones at login, or
/// (a rotation) the ones derived from the presented token and its rotation time.
pub async fn issue(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    user: &UserRow,
    family: Uuid,
    rotation: Option<(&str, chrono::DateTime<chrono::Utc>)>,
    device: Option<Uuid>,
) -> ApiResult<Value> {
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::Internal(format!("user with unknown role {}", user.role)))?;
    let (refresh, issued_at) = match rotation {
        Some((old, at)) => (state.keys.successor(old), at),
        None => (state.keys.new_refresh(TenantId(user.tenant_id)), chrono::Utc::now()),
    };
    let iat = u64::try_from(issued_at.timestamp()).unwrap_or(0);
    let (user_id, tenant) = (UserId(user.id), TenantId(user.tenant_id));
    let grant = Grant { user: user_id, tenant, role, version: user.token_version, device };
    let access = state.keys.issue_access(grant, iat).map_err(|e| ApiError::Internal(e.to_string()))?;
    let lifetime = chrono::Duration::from_std(state.keys.refresh_ttl).unwrap_or(chrono::Duration::hours(72));
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at, device_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(user.tenant_id)
    .bind(user.id)
    .bind(family)
    .bind(state.keys.refresh_digest(&refresh))
    .bind(issued_at + lifetime)
    .bind(device)
    .execute(&mut **tx)
    .await?;
    Ok(json!({
        "accessToken": access,
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": state.keys.access_ttl.as_secs(),
        "user": { "id": user.id, "tenantId": user.tenant_id, "role": role, "email": user.email, "name": user.name },
        "deviceId": device,
    }))
}
