//! Cash shifts: a cashier opens one at an outlet with an opening float,
//! records pay-ins and pay-outs, and closes it with the counted cash; the
//! Z-report (`report`) says what the drawer should hold and how far the
//! count is over or short. A cashier sees and closes only their own shifts;
//! a supervisor or higher sees every shift of the shop.

mod report;

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, Role, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::middleware::limits::Writer;
use crate::http::page::{Page, limit};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::order::limits::MAX_AMOUNT;
use report::Figures;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/shifts", post(open).get(list))
        .route("/api/shifts/{id}", get(show))
        .route("/api/shifts/{id}/cash-movements", post(cash_movement))
        .route("/api/shifts/{id}/close", post(close))
}

#[derive(sqlx::FromRow)]
struct Shift {
    id: Uuid,
    outlet_id: Uuid,
    cashier_id: Uuid,
    opening_float: i64,
    status: String,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    counted_cash: Option<i64>,
    close_report: Option<sqlx::types::Json<Figures>>,
}

macro_rules! shift {
    ($condition:literal) => {
        concat!(
            "SELECT id, outlet_id, cashier_id, opening_float, status, opened_at, closed_at, counted_cash, close_report
             FROM cash_shifts ",
            $condition
        )
    };
}

/// The shift, if the caller may see it: a cashier only their own (403).
async fn visible(db: &mut PgConnection, auth: &AuthUser, id: Uuid, lock: bool) -> ApiResult<Shift> {
    let sql = if lock {
        // NO KEY: an order or refund joining the shift meanwhile (its foreign
        // key takes KEY SHARE) need not wait for the close.
        sqlx::query_as::<_, Shift>(shift!("WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE"))
    } else {
        sqlx::query_as::<_, Shift>(shift!("WHERE tenant_id = $1 AND id = $2"))
    };
    let shift = sql.bind(auth.tenant_id.0).bind(id).fetch_optional(db).await?.ok_or(ApiError::not_found("shift"))?;
    if auth.role == Role::Cashier && shift.cashier_id != auth.user_id.0 {
        return Err(ApiError::forbidden("a cashier sees only their own shifts"));
    }
    Ok(shift)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OpenShift {
    outlet_id: Option<Uuid>,
    opening_float: i64,
    /// Supervisors and up may open a shift for a cashier; a cashier opens their own.
    cashier_id: Option<Uuid>,
}

async fn open(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: Trail,
    Body(body): Body<OpenShift>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !(0..=MAX_AMOUNT).contains(&body.opening_float) {
        return Err(ApiError::invalid("openingFloat", "must be between 0 and the largest amount"));
    }
    let cashier = body.cashier_id.unwrap_or(auth.user_id.0);
    if cashier != auth.user_id.0 {
        auth.require(SUPERVISORS)?;
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let outlet: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM outlets WHERE tenant_id = $1 AND ($2::uuid IS NULL AND is_default OR id = $2)",
    )
    .bind(auth.tenant_id.0)
    .bind(body.outlet_id)
    .fetch_optional(&mut *tx)
    .await?;
    let outlet = outlet.ok_or_else(|| ApiError::Unprocessable {
        code: "unknown_outlet",
        message: format!("outletId {} is not an outlet of this shop", body.outlet_id.unwrap_or_default()),
    })?;
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2)")
        .bind(auth.tenant_id.0)
        .bind(cashier)
        .fetch_one(&mut *tx)
        .await?;
    if !known {
        return Err(ApiError::Unprocessable {
            code: "unknown_cashier",
            message: format!("{cashier} is not a user of this shop"),
        });
    }
    // `cash_shifts_one_open` refuses a second open shift (409 shift_already_open).
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO cash_shifts (id, tenant_id, outlet_id, cashier_id, opening_float, opened_by, device_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(auth.tenant_id.0)
    .bind(outlet)
    .bind(cashier)
    .bind(body.opening_float)
    .bind(auth.user_id.0)
    .bind(auth.device_id)
    .fetch_one(&mut *tx)
    .await?;
    let shift = visible(&mut tx, &auth, id, false).await?;
    let view = z_report(&mut tx, &auth, &shift).await?;
    let after = snapshot(&mut tx, &auth, Entity::Shift, id).await?;
    trail
        .record(
            &mut tx,
            &auth,
            Change { action: "open", entity: Entity::Shift, entity_id: id.to_string(), before: None, after },
        )
        .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %auth.tenant_id, shift_id = %id, %outlet, %cashier, "cash shift opened");
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CashMovement {
    kind: String,
    amount: i64,
    reason: String,
}

async fn cash_movement(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: Trail,
    PathId(id): PathId,
    Body(body): Body<CashMovement>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = Vec::new();
    if !["pay_in", "pay_out"].contains(&body.kind.as_str()) {
        errors.push(common::order::FieldError::new("kind", "must be pay_in or pay_out"));
    }
    if !(1..=MAX_AMOUNT).contains(&body.amount) {
        errors.push(common::order::FieldError::new("amount", "must be positive"));
    }
    if body.reason.trim().is_empty() || body.reason.chars().count() > 200 {
        errors.push(common::order::FieldError::new("reason", "must be 1 to 200 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let shift = visible(&mut tx, &auth, id, true).await?;
    if shift.status != "open" {
        return Err(ApiError::conflict("shift_closed", "the shift is closed"));
    }
    let (movement, at): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO cash_movements (id, tenant_id, shift_id, kind, amount, reason, by_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, at",
    )
    .bind(Uuid::now_v7())
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(&body.kind)
    .bind(body.amount)
    .bind(body.reason.trim())
    .bind(auth.user_id.0)
    .fetch_one(&mut *tx)
    .await?;
    let body = json!({ "id": movement, "shiftId": id, "kind": body.kind, "amount": body.amount,
                       "reason": body.reason.trim(), "by": auth.user_id, "at": at });
    let change = Change {
        action: "cash_movement",
        entity: Entity::Shift,
        entity_id: id.to_string(),
        before: None,
        after: Some(body.clone()),
    };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CloseShift {
    counted_cash: i64,
}

/// Close with the counted cash: the figures now are kept as the shift's.
async fn close(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: Trail,
    PathId(id): PathId,
    Body(body): Body<CloseShift>,
) -> ApiResult<Json<Value>> {
    if !(0..=MAX_AMOUNT).contains(&body.counted_cash) {
        return Err(ApiError::invalid("countedCash", "must be between 0 and the largest amount"));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let shift = visible(&mut tx, &auth, id, true).await?;
    if shift.status != "open" {
        return Err(ApiError::conflict("shift_closed", "the shift is already closed"));
    }
    let before = snapshot(&mut tx, &auth, Entity::Shift, id).await?;
    let kept = report::figures(&mut tx, auth.tenant_id.0, id).await?;
    let expected = shift.opening_float.saturating_add(kept.cash_net());
    sqlx::query(
        "UPDATE cash_shifts SET status = 'closed', closed_at = now(), closed_by = $3, counted_cash = $4,
                expected_cash = $5, close_report = $6
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(auth.user_id.0)
    .bind(body.counted_cash)
    .bind(expected)
    .bind(sqlx::types::Json(&kept))
    .execute(&mut *tx)
    .await?;
    let shift = visible(&mut tx, &auth, id, false).await?;
    let view = z_report(&mut tx, &auth, &shift).await?;
    trail.updated(&mut tx, &auth, "close", Entity::Shift, id, before).await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %auth.tenant_id, shift_id = %id, expected, counted = body.counted_cash, "cash shift closed");
    Ok(Json(view))
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    let mut tx = state.tx(auth.tenant_id).await?;
    let shift = visible(&mut tx, &auth, id, false).await?;
    Ok(Json(z_report(&mut tx, &auth, &shift).await?))
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "sales": { "orders": f.orders, "grossSales": f.gross_sales, "discounts": f.discounts,
                   "serviceCharge": f.service_charge, "tax": f.tax, "rounding": f.rounding,
                   "netSales": f.net_sales, "byPaymentMethod": f.sales_by_method },
        "refunds": { "count": f.refunds, "byPaymentMethod": f.refunds_by_method },
        "payIns": f.pay_ins,
        "payOuts": f.pay_outs,
    })
}

/// The Z-report: an open shift's figures as they are; a closed one's as
/// kept at close, with what came after apart (`lateAdditions`).
async fn z_report(db: &mut PgConnection, auth: &AuthUser, shift: &Shift) -> ApiResult<Value> {
    let now = report::figures(db, auth.tenant_id.0, shift.id).await?;
    let (figures, late) = match &shift.close_report {
        Some(kept) => (kept.0.clone(), Some(now.since(&kept.0))),
        None => (now, None),
    };
    let expected = shift.opening_float.saturating_add(figures.cash_net());
    let mut view = figures_json(&figures);
    let fields = json!({
        "shiftId": shift.id,
        "outletId": shift.outlet_id,
        "cashierId": shift.cashier_id,
        "status": shift.status,
        "openedAt": shift.opened_at,
        "closedAt": shift.closed_at,
        "openingFloat": shift.opening_float,
        "cashExpected": expected,
        "countedCash": shift.counted_cash,
        "overShort": shift.counted_cash.map(|counted| counted.saturating_sub(expected)),
        "lateAdditions": late.map(|l| {
            let mut v = figures_json(&l);
            v["cash"] = json!(l.cash_net());
            v
        }),
    });
    if let (Some(view), Some(fields)) = (view.as_object_mut(), fields.as_object()) {
        view.extend(fields.clone());
    }
    Ok(view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    outlet_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(serde::Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Listed {
    shift_id: Uuid,
    outlet_id: Uuid,
    cashier_id: Uuid,
    status: String,
    opening_float: i64,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    expected_cash: Option<i64>,
    counted_cash: Option<i64>,
    over_short: Option<i64>,
}

/// Shifts opened in [from, to), newest first; a cashier's own only.
async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let page = Page::new(limit(q.limit)?, q.cursor.as_deref())?;
    let own = (auth.role == Role::Cashier).then_some(auth.user_id.0);
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Listed>(
        "SELECT id AS shift_id, outlet_id, cashier_id, status, opening_float, opened_at, closed_at, expected_cash,
                counted_cash, counted_cash - expected_cash AS over_short
         FROM cash_shifts
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (opened_at, id) < ($2, $3))
           AND ($5::uuid IS NULL OR outlet_id = $5) AND ($6::timestamptz IS NULL OR opened_at >= $6)
           AND ($7::timestamptz IS NULL OR opened_at < $7) AND ($8::uuid IS NULL OR cashier_id = $8)
         ORDER BY opened_at DESC, id DESC LIMIT $4",
    )
    .bind(auth.tenant_id.0);
    let rows = page.bind(query).bind(q.outlet_id).bind(q.from).bind(q.to).bind(own).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(rows, |r| (r.opened_at, r.shift_id))))
}
