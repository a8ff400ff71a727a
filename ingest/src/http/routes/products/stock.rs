//! A product's stock at each outlet: its ledger (`stock_movements`, each
//! row at an outlet) and manual adjustments. Every change of an outlet's
//! stock writes a movement in the same transaction, so per outlet the
//! ledger sums to the stock.

use super::{MAX_STOCK, Product, check_text, fetch};
use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::{Page, limit};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use common::order::FieldError;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

/// The outlet named (it must be the shop's: 422 `unknown_outlet`), or the
/// shop's default one.
pub(super) async fn outlet_or_default(
    tx: &mut Transaction<'_, Postgres>,
    auth: &AuthUser,
    named: Option<Uuid>,
) -> ApiResult<Uuid> {
    sqlx::query_scalar("SELECT id FROM outlets WHERE tenant_id = $1 AND ($2::uuid IS NULL AND is_default OR id = $2)")
        .bind(auth.tenant_id.0)
        .bind(named)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::Unprocessable {
            code: "unknown_outlet",
            message: format!("outletId {} is not an outlet of this shop", named.unwrap_or_default()),
        })
}

/// Change an outlet's stock of a product and record it. The CHECK
/// (stock >= 0) refuses a change below zero (409 insufficient_stock).
pub(super) async fn change(
    tx: &mut Transaction<'_, Postgres>,
    auth: &AuthUser,
    product: Uuid,
    outlet: Uuid,
    delta: i64,
    reason: &str,
) -> ApiResult<()> {
    let moved = sqlx::query(
        "WITH moved AS (
             UPDATE outlet_stock SET stock = stock + $4
             WHERE tenant_id = $1 AND outlet_id = $2 AND product_id = $3 RETURNING tenant_id)
         INSERT INTO stock_movements (id, tenant_id, outlet_id, product_id, kind, delta, reason, by_user)
         SELECT $5, $1, $2, $3, 'adjustment', $4, $6, $7 FROM moved",
    )
    .bind(auth.tenant_id.0)
    .bind(outlet)
    .bind(product)
    .bind(delta)
    .bind(Uuid::now_v7())
    .bind(reason)
    .bind(auth.user_id.0)
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(ApiError::Internal(format!("no stock row for product {product} at outlet {outlet}")));
    }
    Ok(())
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub(super) struct Movement {
    id: Uuid,
    kind: String,
    delta: i64,
    outlet_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct MovementQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    /// One outlet's movements (they sum to its stock); none: every outlet's.
    outlet_id: Option<Uuid>,
}

pub(super) async fn movements(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(id): PathId,
    Query(q): Query<MovementQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(SUPERVISORS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    fetch(&mut tx, &auth, id).await?;
    let page = Page::new(limit(q.limit)?, q.cursor.as_deref())?;
    let query = sqlx::query_as::<_, Movement>(
        "SELECT id, kind, delta, outlet_id, order_id, reason, at, by_user AS by FROM stock_movements
         WHERE tenant_id = $1 AND product_id = $2 AND ($3::timestamptz IS NULL OR (at, id) < ($3, $4))
           AND ($6::uuid IS NULL OR outlet_id = $6)
         ORDER BY at DESC, id DESC LIMIT $5",
    )
    .bind(auth.tenant_id.0)
    .bind(id);
    let rows = page.bind(query).bind(q.outlet_id).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(rows, |m| (m.at, m.id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct Adjustment {
    pub delta: i64,
    pub reason: String,
    /// The outlet whose stock changes (none: the default outlet).
    pub outlet_id: Option<Uuid>,
}

/// A range, not `abs()`: `i64::MIN` has no absolute value.
pub(super) fn check_adjustment(adjustment: &Adjustment) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if adjustment.delta == 0 || !(-MAX_STOCK..=MAX_STOCK).contains(&adjustment.delta) {
        errors.push(FieldError::new("delta", format!("must be non-zero and at most {MAX_STOCK} either way")));
    }
    check_text(&mut errors, "reason", &adjustment.reason, 100);
    errors
}

pub(super) async fn adjust(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: crate::audit::Trail,
    PathId(id): PathId,
    Body(adjustment): Body<Adjustment>,
) -> ApiResult<Json<Product>> {
    auth.require(SUPERVISORS)?;
    let errors = check_adjustment(&adjustment);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    fetch(&mut tx, &auth, id).await?;
    let outlet = outlet_or_default(&mut tx, &auth, adjustment.outlet_id).await?;
    let stock_before = outlet_stock(&mut tx, &auth, id, outlet).await?;
    change(&mut tx, &auth, id, outlet, adjustment.delta, adjustment.reason.trim()).await?;
    let stock_after = outlet_stock(&mut tx, &auth, id, outlet).await?;
    let at = |stock: i64| serde_json::json!({ "productId": id, "outletId": outlet, "stock": stock });
    let mut after = at(stock_after);
    after["delta"] = adjustment.delta.into();
    after["reason"] = adjustment.reason.trim().into();
    let change = crate::audit::Change {
        action: "adjust",
        entity: crate::audit::Entity::StockAdjustment,
        entity_id: id.to_string(),
        before: Some(at(stock_before)),
        after: Some(after),
    };
    trail.record(&mut tx, &auth, change).await?;
    let product = fetch(&mut tx, &auth, id).await?;
    tx.commit().await?;
    Ok(Json(product))
}

/// One outlet's stock of one product (0 before its row exists).
async fn outlet_stock(db: &mut PgConnection, auth: &AuthUser, product: Uuid, outlet: Uuid) -> ApiResult<i64> {
    let stock: Option<i64> = sqlx::query_scalar(
        "SELECT stock FROM outlet_stock WHERE tenant_id = $1 AND product_id = $2 AND outlet_id = $3",
    )
    .bind(auth.tenant_id.0)
    .bind(product)
    .bind(outlet)
    .fetch_optional(&mut *db)
    .await?;
    Ok(stock.unwrap_or(0))
}
