//! Products: the catalogue (owners and admins write), each product shown
//! with its stock per outlet and in total. The stock ledger and manual
//! adjustments are in `stock`.

mod stock;

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::SearchQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::order::{FieldError, limits};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

const MAX_STOCK: i64 = 1_000_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/products", post(create).get(list))
        .route("/api/products/{id}", get(show).patch(update))
        .route("/api/products/{id}/stock-movements", get(stock::movements))
        .route("/api/products/{id}/stock-adjustments", post(stock::adjust))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
    /// The sum over the shop's outlets.
    pub stock: i64,
    /// `[{"outletId", "stock"}]`, the default outlet first.
    pub stock_by_outlet: serde_json::Value,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

// A product row `p` with its stock rows (one per outlet, made by the
// schema's triggers with the product or the outlet).
macro_rules! product {
    () => {
        "p.id, p.sku, p.name, p.price, p.is_active, p.updated_at, p.created_at,
         coalesce(s.total, 0)::bigint AS stock, coalesce(s.by_outlet, '[]') AS stock_by_outlet
         FROM products p
         LEFT JOIN LATERAL (
             SELECT sum(x.stock) AS total,
                    jsonb_agg(jsonb_build_object('outletId', x.outlet_id, 'stock', x.stock)
                              ORDER BY o.is_default DESC, o.created_at, o.id) AS by_outlet
             FROM outlet_stock x JOIN outlets o ON o.tenant_id = x.tenant_id AND o.id = x.outlet_id
             WHERE x.tenant_id = p.tenant_id AND x.product_id = p.id) s ON true"
    };
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    /// Where the opening stock is (none: the default outlet).
    #[serde(default, rename = "outletId")]
    pub outlet_id: Option<Uuid>,
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() || value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be 1 to {max} characters")));
    }
}

fn check_price(errors: &mut Vec<FieldError>, price: i64) {
    if !(0..=limits::MAX_AMOUNT).contains(&price) {
        errors.push(FieldError::new("price", format!("must be between 0 and {}", limits::MAX_AMOUNT)));
    }
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(new): Body<NewProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    auth.require(MANAGERS)?;
    let product = insert(&state.db, &auth, &trail, &new).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// A new product's field errors (every one, at once).
fn check_new(new: &NewProduct) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_text(&mut errors, "sku", &new.sku, 64);
    check_text(&mut errors, "name", &new.name, 200);
    check_price(&mut errors, new.price);
    if !(0..=MAX_STOCK).contains(&new.stock) {
        errors.push(FieldError::new("stock", format!("must be between 0 and {MAX_STOCK}")));
    }
    errors
}

/// Create a product, recording its opening stock in the ledger.
pub async fn insert(db: &PgPool, auth: &AuthUser, trail: &Trail, new: &NewProduct) -> ApiResult<Product> {
    let errors = check_new(new);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = common::db::tenant_tx(db, &[auth.tenant_id.0]).await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO products (id, tenant_id, sku, name, price) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(auth.tenant_id.0)
    .bind(new.sku.trim())
    .bind(new.name.trim())
    .bind(new.price)
    .fetch_one(&mut *tx)
    .await?;
    record_price(&mut tx, auth, id, new.price).await?;
    if new.stock > 0 || new.outlet_id.is_some() {
        let outlet = stock::outlet_or_default(&mut tx, auth, new.outlet_id).await?;
        if new.stock > 0 {
            stock::change(&mut tx, auth, id, outlet, new.stock, "initial").await?;
        }
    }
    let product = fetch(&mut tx, auth, id).await?;
    let after = snapshot(&mut tx, auth, Entity::Product, id).await?;
    trail
        .record(
            &mut tx,
            auth,
            Change { action: "create", entity: Entity::Product, entity_id: id.to_string(), before: None, after },
        )
        .await?;
    tx.commit().await?;
    Ok(product)
}

/// Keep the price history: offline sales are checked against the price in
/// effect at their sale time.
async fn record_price(tx: &mut Transaction<'_, Postgres>, auth: &AuthUser, product: Uuid, price: i64) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO product_prices (tenant_id, product_id, effective_at, price) VALUES ($1, $2, now(), $3)
         ON CONFLICT (tenant_id, product_id, effective_at) DO UPDATE SET price = EXCLUDED.price",
    )
    .bind(auth.tenant_id.0)
    .bind(product)
    .bind(price)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let page = q.page()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Product>(concat!(
        "SELECT ",
        product!(),
        " WHERE p.tenant_id = $1 AND ($2::text IS NULL OR p.name ILIKE $2 OR p.sku ILIKE $2)
           AND ($3::timestamptz IS NULL OR (p.created_at, p.id) > ($3, $4))
         ORDER BY p.created_at, p.id LIMIT $5"
    ))
    .bind(auth.tenant_id.0)
    .bind(q.pattern());
    let products = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(products, |p| (p.created_at, p.id))))
}

async fn fetch(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Product> {
    sqlx::query_as::<_, Product>(concat!("SELECT ", product!(), " WHERE p.tenant_id = $1 AND p.id = $2"))
        .bind(auth.tenant_id.0)
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(ApiError::not_found("product"))
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Product>> {
    Ok(Json(fetch(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProductPatch {
    name: Option<String>,
    price: Option<i64>,
    is_active: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(patch): Body<ProductPatch>,
) -> ApiResult<Json<Product>> {
    auth.require(MANAGERS)?;
    let mut errors = Vec::new();
    if let Some(name) = &patch.name {
        check_text(&mut errors, "name", name, 200);
    }
    if let Some(price) = patch.price {
        check_price(&mut errors, price);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Product, id).await?;
    sqlx::query_scalar::<_, Uuid>(
        "UPDATE products SET name = coalesce($3, name), price = coalesce($4, price), is_active = coalesce($5, is_active), updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING id",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(patch.name.as_deref().map(str::trim))
    .bind(patch.price)
    .bind(patch.is_active)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::not_found("product"))?;
    if let Some(price) = patch.price {
        record_price(&mut tx, &auth, id, price).await?;
    }
    let product = fetch(&mut tx, &auth, id).await?;
    trail.updated(&mut tx, &auth, "update", Entity::Product, id, before).await?;
    tx.commit().await?;
    Ok(Json(product))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
