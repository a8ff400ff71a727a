//! Platform administration (internal API key): creating a shop with its owner.

use crate::auth::{InternalKey, password};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Body;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::order::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/tenants", post(create_tenant))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub timezone: Option<String>,
    pub owner: NewOwner,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOwner {
    pub email: String,
    pub password: String,
    pub name: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    _key: InternalKey,
    Body(new): Body<NewTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (tenant_id, owner_id) = insert_tenant(&state.db, new).await?;
    tracing::info!(%tenant_id, "tenant created");
    Ok((StatusCode::CREATED, Json(json!({ "tenantId": tenant_id, "ownerUserId": owner_id }))))
}

/// Create a shop and its owner in one transaction.
pub async fn insert_tenant(db: &PgPool, new: NewTenant) -> ApiResult<(Uuid, Uuid)> {
    let timezone = new.timezone.unwrap_or_else(|| "Asia/Jakarta".to_owned());
    let mut errors = Vec::new();
    if new.name.trim().is_empty() || new.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let slug_ok = !new.slug.is_empty()
        && new.slug.len() <= 63
        && new.slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !new.slug.starts_with('-');
    if !slug_ok {
        errors.push(FieldError::new("slug", "must be 1 to 63 lower-case letters, digits or dashes"));
    }
    let known_zone: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(&timezone)
        .fetch_one(db)
        .await?;
    if !known_zone {
        errors.push(FieldError::new("timezone", "is not an IANA time zone (e.g. Asia/Jakarta)"));
    }
    errors.extend(super::users::check_person(&new.owner.email, &new.owner.password, &new.owner.name, "owner."));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let hash = password::hash(new.owner.password).await.map_err(ApiError::Internal)?;
    let (tenant_id, owner_id) = (Uuid::now_v7(), Uuid::now_v7());
    // The new shop's own rows only: row-level security checks the inserts too.
    let mut tx = common::db::tenant_tx(db, &[tenant_id]).await?;
    sqlx::query("INSERT INTO tenants (id, name, slug, timezone) VALUES ($1, $2, $3, $4)")
        .bind(tenant_id)
        .bind(new.name.trim())
        .bind(&new.slug)
        .bind(&timezone)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, 'owner', $5)",
    )
    .bind(owner_id)
    .bind(tenant_id)
    .bind(new.owner.email.trim())
    .bind(new.owner.name.trim())
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((tenant_id, owner_id))
}
