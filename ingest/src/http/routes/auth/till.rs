//! Tills sign in with their secret and get a till token; a cashier then
//! opens a session on the till with their PIN. Wrong PINs are limited per
//! cashier and per till (`PinAttempt`), so a short PIN cannot be guessed.

use super::issue::{ACTIVE_USER, UserRow, issue};
use crate::auth::password;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Body;
use crate::http::middleware::limits::{Limits, PinAttempt};
use crate::http::routes::devices::parse_secret;
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use common::ids::TenantId;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

const INVALID_DEVICE: ApiError =
    ApiError::Unauthorized { code: "invalid_device", message: "the device secret is not valid or was revoked" };
const INVALID_PIN: ApiError =
    ApiError::Unauthorized { code: "invalid_credentials", message: "the cashier or PIN is not correct" };
const TILL_TOKEN_REQUIRED: ApiError =
    ApiError::Unauthorized { code: "unauthorized", message: "a till's token (POST /api/auth/device) is required" };

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceSignIn {
    device_secret: String,
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    outlet_id: Uuid,
    name: String,
    secret_hash: String,
}

/// `POST /api/auth/device`: a till proves its secret and gets a till token.
pub async fn sign_in(State(state): State<AppState>, Body(request): Body<DeviceSignIn>) -> ApiResult<Json<Value>> {
    let (tenant, device) = parse_secret(&request.device_secret).ok_or(INVALID_DEVICE)?;
    let mut tx = state.tx(TenantId(tenant)).await?;
    let row = sqlx::query_as::<_, DeviceRow>(
        "SELECT outlet_id, name, secret_hash FROM devices WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(device)
    .fetch_optional(&mut *tx)
    .await?;
    let stored = row.as_ref().map(|r| r.secret_hash.clone());
    if !password::verify(request.device_secret, stored).await {
        tracing::info!(device_id = %device, "till sign-in refused");
        return Err(INVALID_DEVICE);
    }
    let row = row.ok_or(INVALID_DEVICE)?;
    sqlx::query("UPDATE devices SET last_seen_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(device)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let token = state.keys.issue_device(device, TenantId(tenant)).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({
        "deviceToken": token,
        "tokenType": "Bearer",
        "expiresIn": crate::auth::tokens::DEVICE_TOKEN_TTL.as_secs(),
        "device": { "id": device, "tenantId": tenant, "outletId": row.outlet_id, "name": row.name },
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PinSignIn {
    user_id: Uuid,
    pin: String,
}

/// `POST /api/auth/pin` with the till's token: a cashier's session on it.
pub async fn open_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(request): Body<PinSignIn>,
) -> ApiResult<Json<Value>> {
    let token = crate::auth::bearer(&headers).ok_or(TILL_TOKEN_REQUIRED)?;
    let till = state.keys.verify_device(token).map_err(|_| TILL_TOKEN_REQUIRED)?;
    if !state.sessions.device_may_act(till.tid, till.dev).await? {
        return Err(INVALID_DEVICE);
    }
    if !plausible_pin(&request.pin) {
        return Err(INVALID_PIN);
    }
    let limits = Limits::from_ref(&state);
    let mut attempt = PinAttempt::new(request.user_id.to_string(), till.dev.to_string());
    attempt.reserve(&limits).await?;
    let mut tx = state.tx(till.tid).await?;
    let user = sqlx::query_as::<_, UserRow>(ACTIVE_USER).bind(request.user_id).fetch_optional(&mut *tx).await?;
    let pin_hash: Option<String> = match &user {
        Some(_) => {
            sqlx::query_scalar("SELECT pin_hash FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(till.tid.0)
                .bind(request.user_id)
                .fetch_one(&mut *tx)
                .await?
        }
        None => None,
    };
    if !password::verify(request.pin, pin_hash).await {
        tracing::info!(device_id = %till.dev, "wrong till PIN");
        return Err(INVALID_PIN);
    }
    attempt.give_back(&limits).await;
    let user = user.ok_or(INVALID_PIN)?;
    let tokens = issue(&state, &mut tx, &user, Uuid::now_v7(), None, Some(till.dev)).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// 4 to 6 digits.
pub fn plausible_pin(pin: &str) -> bool {
    (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The till is registered and not revoked (a refresh on it checks).
pub async fn active(tx: &mut PgConnection, tenant: TenantId, device: Uuid) -> Result<bool, sqlx::Error> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT revoked_at IS NULL FROM devices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(device)
            .fetch_optional(tx)
            .await?;
    Ok(active.unwrap_or(false))
}
