//! Sign-in and sessions: login with email and password, rotating refresh
//! tokens (a reused one revokes its whole family), logout.

use crate::auth::{AuthUser, Role, password, tokens};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, OptionalBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::ids::{TenantId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    is_active: bool,
}

const INVALID_CREDENTIALS: ApiError =
    ApiError::Unauthorized { code: "invalid_credentials", message: "the email or password is not correct" };
const INVALID_REFRESH: ApiError =
    ApiError::Unauthorized { code: "invalid_token", message: "the refresh token is not valid" };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: String,
}

async fn login(State(state): State<AppState>, Body(login): Body<Login>) -> ApiResult<Json<Value>> {
    // Login knows no tenant yet: the one narrow lookup across tenants.
    let user = sqlx::query_as::<_, UserRow>("SELECT * FROM auth_find_user($1)")
        .bind(login.email.trim())
        .fetch_optional(&state.db)
        .await?;
    // Unknown email and wrong password take the same time and get the same answer.
    let stored = user.as_ref().filter(|u| u.is_active).map(|u| u.password_hash.clone());
    if !password::verify(login.password, stored).await {
        tracing::info!(email_domain = login.email.rsplit('@').next(), "failed login");
        return Err(INVALID_CREDENTIALS);
    }
    let user = user.ok_or(INVALID_CREDENTIALS)?;
    let mut tx = state.tx(TenantId(user.tenant_id)).await?;
    let tokens = issue(&state, &mut tx, &user, Uuid::now_v7()).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(State(state): State<AppState>, Body(request): Body<RefreshRequest>) -> ApiResult<Json<Value>> {
    let digest = state.keys.refresh_digest(&request.refresh_token);
    let tenant = tokens::tenant_of(&request.refresh_token).ok_or(INVALID_REFRESH)?;
    let mut tx = state.tx(tenant).await?;
    let rotated: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE refresh_tokens SET rotated_at = now()
         WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         RETURNING user_id, family_id",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, family_id)) = rotated else {
        // A rotated or revoked token presented again: someone holds a copy.
        let reused = sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)")
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if reused.rows_affected() > 0 {
            tracing::warn!("refresh token reuse detected; its family is revoked");
        }
        return Err(INVALID_REFRESH);
    };
    let user = sqlx::query_as::<_, UserRow>(
        "SELECT id, tenant_id, email, name, role, password_hash, is_active FROM users WHERE id = $1 AND is_active",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(INVALID_REFRESH)?;
    let tokens = issue(&state, &mut tx, &user, family_id).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// A new access token and a new refresh token in `family`.
async fn issue(state: &AppState, tx: &mut Transaction<'_, Postgres>, user: &UserRow, family: Uuid) -> ApiResult<Value> {
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::Internal(format!("user with unknown role {}", user.role)))?;
    let access = state
        .keys
        .issue_access(UserId(user.id), TenantId(user.tenant_id), role)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (refresh, digest) = state.keys.new_refresh(TenantId(user.tenant_id));
    let lifetime = chrono::Duration::from_std(state.keys.refresh_ttl).unwrap_or(chrono::Duration::hours(72));
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user.tenant_id)
    .bind(user.id)
    .bind(family)
    .bind(digest)
    .bind(chrono::Utc::now() + lifetime)
    .execute(&mut **tx)
    .await?;
    Ok(json!({
        "accessToken": access,
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": state.keys.access_ttl.as_secs(),
        "user": { "id": user.id, "tenantId": user.tenant_id, "role": role, "email": user.email, "name": user.name },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogoutRequest {
    refresh_token: Option<String>,
}

/// Revokes the given refresh token's family, or (no body) every session of the user.
async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
    OptionalBody(body): OptionalBody<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let request = body.unwrap_or(LogoutRequest { refresh_token: None });
    let mut tx = state.tx(auth.tenant_id).await?;
    let (tenant, user) = (auth.tenant_id.0, auth.user_id.0);
    match request.refresh_token {
        Some(token) => sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL
                 AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $3)",
        )
        .bind(tenant)
        .bind(user)
        .bind(state.keys.refresh_digest(&token))
        .execute(&mut *tx)
        .await?,
        None => sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant)
        .bind(user)
        .execute(&mut *tx)
        .await?,
    };
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
