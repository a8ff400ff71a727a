//! Outlets: a shop's stalls or branches. Every shop has a default outlet
//! (made with the shop), where orders sent without an `outletId` go.
//! Everyone in the shop reads them; owners and admins add and change them.
//! An outlet is never deleted (its orders name it): it is deactivated, and
//! the default outlet stays active.

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::SearchQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::order::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/outlets", get(list).post(create)).route("/api/outlets/{id}", get(show).patch(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutletInput {
    name: Option<String>,
    address: Option<Option<String>>,
    timezone: Option<Option<String>>,
    is_active: Option<bool>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Outlet {
    id: Uuid,
    name: String,
    address: Option<String>,
    /// `null`: the shop's timezone.
    timezone: Option<String>,
    is_active: bool,
    is_default: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "id, name, address, timezone, is_active, is_default, created_at, updated_at"
    };
}

/// Apply `input` over `outlet` and check the result as a whole.
async fn merge(db: &mut PgConnection, mut outlet: Outlet, input: OutletInput) -> ApiResult<Outlet> {
    let mut errors = Vec::new();
    outlet.name = input.name.map(|n| n.trim().to_owned()).unwrap_or(outlet.name);
    if let Some(address) = input.address {
        outlet.address = address.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    }
    if let Some(timezone) = input.timezone {
        outlet.timezone = timezone.map(|t| t.trim().to_owned());
    }
    outlet.is_active = input.is_active.unwrap_or(outlet.is_active);
    if !(1..=100).contains(&outlet.name.chars().count()) {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    if outlet.address.as_ref().is_some_and(|a| a.chars().count() > 500) {
        errors.push(FieldError::new("address", "must be at most 500 characters"));
    }
    if let Some(zone) = &outlet.timezone {
        let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(zone)
            .fetch_one(&mut *db)
            .await?;
        if !known {
            errors.push(FieldError::new("timezone", "must be an IANA timezone such as Asia/Makassar, or null"));
        }
    }
    if outlet.is_default && !outlet.is_active {
        errors.push(FieldError::new("isActive", "the default outlet stays active"));
    }
    if errors.is_empty() { Ok(outlet) } else { Err(ApiError::Validation(errors)) }
}

async fn save(db: &mut PgConnection, auth: &AuthUser, o: &Outlet) -> ApiResult<Outlet> {
    sqlx::query_as::<_, Outlet>(concat!(
        "INSERT INTO outlets (id, tenant_id, name, address, timezone, is_active)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET name = $3, address = $4, timezone = $5, is_active = $6, updated_at = now()
         WHERE outlets.tenant_id = $2
         RETURNING ",
        columns!()
    ))
    .bind(o.id)
    .bind(auth.tenant_id.0)
    .bind(&o.name)
    .bind(&o.address)
    .bind(&o.timezone)
    .bind(o.is_active)
    .fetch_one(&mut *db)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("outlets_name_key") => ApiError::conflict("name_taken", "an outlet with this name already exists"),
        _ => e.into(),
    })
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(input): Body<OutletInput>,
) -> ApiResult<(StatusCode, Json<Outlet>)> {
    auth.require(MANAGERS)?;
    if input.name.is_none() {
        return Err(ApiError::Validation(vec![FieldError::new("name", "is required")]));
    }
    let blank = Outlet {
        id: Uuid::now_v7(),
        name: String::new(),
        address: None,
        timezone: None,
        is_active: true,
        is_default: false,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let mut tx = state.tx(auth.tenant_id).await?;
    let outlet = merge(&mut tx, blank, input).await?;
    let outlet = save(&mut tx, &auth, &outlet).await?;
    let after = snapshot(&mut tx, &auth, Entity::Outlet, outlet.id).await?;
    let change =
        Change { action: "create", entity: Entity::Outlet, entity_id: outlet.id.to_string(), before: None, after };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    state.outlets.forget(auth.tenant_id);
    Ok((StatusCode::CREATED, Json(outlet)))
}

async fn fetch(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Outlet> {
    sqlx::query_as::<_, Outlet>(concat!("SELECT ", columns!(), " FROM outlets WHERE tenant_id = $1 AND id = $2"))
        .bind(auth.tenant_id.0)
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(ApiError::not_found("outlet"))
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Outlet>> {
    Ok(Json(fetch(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?))
}

async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(input): Body<OutletInput>,
) -> ApiResult<Json<Outlet>> {
    auth.require(MANAGERS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Outlet, id).await?;
    let current = fetch(&mut tx, &auth, id).await?;
    let outlet = merge(&mut tx, current, input).await?;
    let saved = save(&mut tx, &auth, &outlet).await?;
    trail.updated(&mut tx, &auth, "update", Entity::Outlet, id, before).await?;
    tx.commit().await?;
    state.outlets.forget(auth.tenant_id);
    Ok(Json(saved))
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<SearchQuery>) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Outlet>(concat!(
        "SELECT ",
        columns!(),
        " FROM outlets WHERE tenant_id = $1
           AND ($2::text IS NULL OR name ILIKE $2 OR address ILIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(auth.tenant_id.0)
    .bind(q.pattern());
    let outlets = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(outlets, |o| (o.created_at, o.id))))
}
