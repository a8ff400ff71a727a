//! Tills: registered devices of an outlet. An owner or admin registers one
//! and gets its secret once (only an argon2 hash is kept); the till signs in
//! with it (`POST /api/auth/device`) and cashiers open their sessions on it
//! by PIN. Revoking a till ends its sessions on every replica within the
//! session cache's bound, tokens issued before included.

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::sessions::{Standing, Subject};
use crate::auth::{AuthUser, MANAGERS, password};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::PageQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use common::order::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/devices", get(list).post(register)).route("/api/devices/{id}/revoke", post(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewDevice {
    outlet_id: Uuid,
    name: String,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Device {
    id: Uuid,
    outlet_id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    created_by: Uuid,
    revoked_at: Option<DateTime<Utc>>,
    revoked_by: Option<Uuid>,
    last_seen_at: Option<DateTime<Utc>>,
}

/// The columns a `Device` reads (a macro, so queries stay literal SQL).
macro_rules! columns {
    () => {
        "id, outlet_id, name, created_at, created_by, revoked_at, revoked_by, last_seen_at"
    };
}

/// A till's secret: `<tenant>.<device>.<random>`. The ids let sign-in find
/// the row inside its shop; the 256 random bits are what it proves.
fn new_secret(tenant: Uuid, device: Uuid) -> String {
    format!("{tenant}.{device}.{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

/// The tenant and device a secret names, when it is well formed.
pub fn parse_secret(secret: &str) -> Option<(Uuid, Uuid)> {
    let mut parts = secret.splitn(3, '.');
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let device = Uuid::parse_str(parts.next()?).ok()?;
    parts.next().filter(|random| random.len() >= 32)?;
    Some((tenant, device))
}

async fn register(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(new): Body<NewDevice>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require(MANAGERS)?;
    let name = new.name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::Validation(vec![FieldError::new("name", "must be 1 to 100 characters")]));
    }
    let id = Uuid::now_v7();
    let secret = new_secret(auth.tenant_id.0, id);
    let hash = password::hash(secret.clone()).await.map_err(ApiError::Internal)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let device = sqlx::query_as::<_, Device>(concat!(
        "INSERT INTO devices (id, tenant_id, outlet_id, name, secret_hash, created_by)
         SELECT $1, $2, o.id, $4, $5, $6 FROM outlets o WHERE o.tenant_id = $2 AND o.id = $3 AND o.is_active
         RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(auth.tenant_id.0)
    .bind(new.outlet_id)
    .bind(&name)
    .bind(hash)
    .bind(auth.user_id.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::Unprocessable {
        code: "unknown_outlet",
        message: "outletId is not an active outlet of this shop".to_owned(),
    })?;
    let after = snapshot(&mut tx, &auth, Entity::Device, id).await?;
    let change = Change { action: "register", entity: Entity::Device, entity_id: id.to_string(), before: None, after };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    let mut body = serde_json::to_value(&device).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Shown once: it is not kept anywhere it could be read back from.
    body["secret"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    auth.require(MANAGERS)?;
    let page = q.page()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Device>(concat!(
        "SELECT ",
        columns!(),
        " FROM devices
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(auth.tenant_id.0);
    let devices = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(devices, |d| (d.created_at, d.id))))
}

async fn revoke(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    auth.require(MANAGERS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Device, id).await?.ok_or(ApiError::not_found("device"))?;
    let revoked = sqlx::query(
        "UPDATE devices SET revoked_at = now(), revoked_by = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(auth.user_id.0)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if revoked == 1 {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL")
            .bind(auth.tenant_id.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        trail.updated(&mut tx, &auth, "revoke", Entity::Device, id, Some(before)).await?;
    }
    let device =
        sqlx::query_as::<_, Device>(concat!("SELECT ", columns!(), " FROM devices WHERE tenant_id = $1 AND id = $2"))
            .bind(auth.tenant_id.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    state.sessions.changed(Subject::Device(id), Standing { version: 0, active: false }).await;
    Ok(Json(json!(device)))
}
