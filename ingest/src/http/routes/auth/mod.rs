//! Sign-in and sessions: login with email and password, rotating refresh
//! tokens (a reused one revokes its whole family), logout; tills sign in
//! with their secret and cashiers open sessions on them by PIN (`till`).

mod issue;
mod till;

use issue::{UserRow, issue};
pub use till::plausible_pin;

use crate::auth::{AuthUser, password, tokens};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, ClientIp, OptionalBody};
use crate::http::middleware::limits::{Limits, LoginAttempt};
use crate::state::AppState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use common::ids::TenantId;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/device", post(till::sign_in))
        .route("/api/auth/pin", post(till::open_session))
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

async fn login(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    Body(login): Body<Login>,
) -> ApiResult<Json<Value>> {
    let email = login.email.trim().to_lowercase();
    if email.len() > 254 || login.password.chars().count() > password::MAX_PASSWORD_CHARS {
        return Err(INVALID_CREDENTIALS);
    }
    // Failed logins are limited per address and per account: a brute force
    // stops, a shift of cashiers signing in (successfully) never does.
    let limits = Limits::from_ref(&state);
    let mut attempt = LoginAttempt::new(ip.to_string(), email.clone());
    attempt.reserve(&limits).await?;
    // Login knows no tenant yet: the one narrow lookup across tenants.
    let found = sqlx::query_as::<_, UserRow>("SELECT *, 0::bigint AS token_version FROM auth_find_user($1)")
        .bind(&email)
        .fetch_optional(&state.db)
        .await;
    let user = match found {
        Ok(user) => user,
        Err(error) => {
            attempt.give_back(&limits).await;
            return Err(error.into());
        }
    };
    // Unknown email and wrong password take the same time and get the same answer.
    let stored = user.as_ref().filter(|u| u.is_active).map(|u| u.password_hash.clone());
    if !password::verify(login.password, stored).await {
        tracing::info!(email_domain = email.rsplit('@').next(), "failed login");
        return Err(INVALID_CREDENTIALS);
    }
    attempt.give_back(&limits).await;
    let user = user.ok_or(INVALID_CREDENTIALS)?;
    let mut tx = state.tx(TenantId(user.tenant_id)).await?;
    // The version the token is issued under, read inside the shop's rows.
    let user = sqlx::query_as::<_, UserRow>(issue::ACTIVE_USER)
        .bind(user.id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(INVALID_CREDENTIALS)?;
    let tokens = issue(&state, &mut tx, &user, Uuid::now_v7(), None, None).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

/// A till whose refresh response was lost resends the same token: within
/// this window it gets the same new pair instead of being logged out.
const REFRESH_GRACE: chrono::Duration = chrono::Duration::seconds(30);

#[derive(sqlx::FromRow)]
struct Presented {
    user_id: Uuid,
    family_id: Uuid,
    device_id: Option<Uuid>,
    rotated_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

async fn refresh(State(state): State<AppState>, Body(request): Body<RefreshRequest>) -> ApiResult<Json<Value>> {
    let token = request.refresh_token;
    let tenant = tokens::tenant_of(&token).ok_or(INVALID_REFRESH)?;
    let mut tx = state.tx(tenant).await?;
    let presented = sqlx::query_as::<_, Presented>(
        "SELECT user_id, family_id, device_id, rotated_at, revoked_at, expires_at FROM refresh_tokens
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(state.keys.refresh_digest(&token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(INVALID_REFRESH)?;
    let now = chrono::Utc::now();
    if presented.revoked_at.is_some() || presented.expires_at <= now {
        return Err(INVALID_REFRESH);
    }
    let rotated_at = match presented.rotated_at {
        None => {
            sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
                .bind(state.keys.refresh_digest(&token))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            now
        }
        Some(at) if now - at <= REFRESH_GRACE && successor_unused(&mut tx, &state, &token).await? => at,
        Some(_) => {
            // A rotated token presented again: someone holds a copy.
            sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(presented.family_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::warn!(tenant_id = %tenant, "refresh token reuse detected; its family is revoked");
            return Err(INVALID_REFRESH);
        }
    };
    let user = sqlx::query_as::<_, UserRow>(issue::ACTIVE_USER)
        .bind(presented.user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(INVALID_REFRESH)?;
    if let Some(device) = presented.device_id
        && !till::active(&mut tx, tenant, device).await?
    {
        return Err(INVALID_REFRESH);
    }
    let rotation = Some((token.as_str(), rotated_at));
    let tokens = issue(&state, &mut tx, &user, presented.family_id, rotation, presented.device_id).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// The token that replaced `token` has not been used or revoked itself.
async fn successor_unused(tx: &mut Transaction<'_, Postgres>, state: &AppState, token: &str) -> ApiResult<bool> {
    let successor = state.keys.refresh_digest(&state.keys.successor(token));
    let unused: Option<bool> = sqlx::query_scalar(
        "SELECT rotated_at IS NULL AND revoked_at IS NULL FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(successor)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(unused.unwrap_or(false))
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
