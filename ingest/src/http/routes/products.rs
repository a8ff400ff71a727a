//! Products and their stock: the catalogue (owners and admins write), the
//! stock ledger, and manual stock adjustments. Every change of stock writes
//! a stock movement in the same transaction, so the ledger sums to the stock.

use crate::auth::{AuthUser, MANAGERS, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::{PageQuery, SearchQuery};
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
        .route("/api/products/{id}/stock-movements", get(movements))
        .route("/api/products/{id}/stock-adjustments", post(adjust))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub is_active: bool,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

macro_rules! product {
    () => {
        "id, sku, name, price, stock, is_active, updated_at, created_at"
    };
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
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
    Body(new): Body<NewProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    auth.require(MANAGERS)?;
    let product = insert(&state.db, &auth, &new).await?;
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
pub async fn insert(db: &PgPool, auth: &AuthUser, new: &NewProduct) -> ApiResult<Product> {
    let errors = check_new(new);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = common::db::tenant_tx(db, &[auth.tenant_id.0]).await?;
    let product = sqlx::query_as::<_, Product>(concat!(
        "INSERT INTO products (id, tenant_id, sku, name, price, stock) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        product!()
    ))
    .bind(Uuid::now_v7())
    .bind(auth.tenant_id.0)
    .bind(new.sku.trim())
    .bind(new.name.trim())
    .bind(new.price)
    .bind(new.stock)
    .fetch_one(&mut *tx)
    .await?;
    record_price(&mut tx, auth, product.id, new.price).await?;
    if new.stock > 0 {
        record_movement(&mut tx, auth, product.id, new.stock, "initial").await?;
    }
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

async fn record_movement(
    tx: &mut Transaction<'_, Postgres>,
    auth: &AuthUser,
    product: Uuid,
    delta: i64,
    reason: &str,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO stock_movements (id, tenant_id, product_id, kind, delta, reason, by_user) VALUES ($1, $2, $3, 'adjustment', $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(auth.tenant_id.0)
    .bind(product)
    .bind(delta)
    .bind(reason)
    .bind(auth.user_id.0)
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
        " FROM products
         WHERE tenant_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR sku ILIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(auth.tenant_id.0)
    .bind(q.pattern());
    let products = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(products, |p| (p.created_at, p.id))))
}

async fn fetch(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Product> {
    sqlx::query_as::<_, Product>(concat!("SELECT ", product!(), " FROM products WHERE tenant_id = $1 AND id = $2"))
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
    let product = sqlx::query_as::<_, Product>(concat!(
        "UPDATE products SET name = coalesce($3, name), price = coalesce($4, price), is_active = coalesce($5, is_active), updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        product!()
    ))
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
    tx.commit().await?;
    Ok(Json(product))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Movement {
    id: Uuid,
    kind: String,
    delta: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<Uuid>,
}

async fn movements(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(SUPERVISORS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    fetch(&mut tx, &auth, id).await?;
    let page = q.page()?;
    let query = sqlx::query_as::<_, Movement>(
        "SELECT id, kind, delta, order_id, reason, at, by_user AS by FROM stock_movements
         WHERE tenant_id = $1 AND product_id = $2 AND ($3::timestamptz IS NULL OR (at, id) < ($3, $4))
         ORDER BY at DESC, id DESC LIMIT $5",
    )
    .bind(auth.tenant_id.0)
    .bind(id);
    let rows = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(rows, |m| (m.at, m.id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjustment {
    delta: i64,
    reason: String,
}

/// A range, not `abs()`: `i64::MIN` has no absolute value.
fn check_adjustment(adjustment: &Adjustment) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if adjustment.delta == 0 || !(-MAX_STOCK..=MAX_STOCK).contains(&adjustment.delta) {
        errors.push(FieldError::new("delta", format!("must be non-zero and at most {MAX_STOCK} either way")));
    }
    check_text(&mut errors, "reason", &adjustment.reason, 100);
    errors
}

async fn adjust(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
    Body(adjustment): Body<Adjustment>,
) -> ApiResult<Json<Product>> {
    auth.require(SUPERVISORS)?;
    let errors = check_adjustment(&adjustment);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    // The CHECK (stock >= 0) refuses an adjustment below zero (409 insufficient_stock).
    let product = sqlx::query_as::<_, Product>(concat!(
        "UPDATE products SET stock = stock + $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ",
        product!()
    ))
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(adjustment.delta)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::not_found("product"))?;
    record_movement(&mut tx, &auth, id, adjustment.delta, adjustment.reason.trim()).await?;
    tx.commit().await?;
    Ok(Json(product))
}

#[cfg(test)]
#[path = "products_tests.rs"]
mod tests;
