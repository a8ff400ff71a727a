//! The daily sales report: a shop owner's day, by sale time in the shop's
//! time zone, over committed orders; cancelled orders of the day are
//! counted apart, and so are the refunds made that day (of orders not
//! cancelled: a cancel already took the whole order out). Payments come
//! from the payment rows, net of change. Reads one day's orders and
//! refunds through their report indexes.

use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Query;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use common::order::PaymentMethod;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/reports/daily-sales", get(daily_sales))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DailyQuery {
    date: Option<String>,
    outlet_id: Option<String>,
}

// The day's bounds in the tenant's zone, and its committed and cancelled
// orders. The bounds are scalar subqueries (computed once, before the scan)
// so that they become index conditions on orders_report_idx: only that
// day's rows are read, never a tenant's whole history.
macro_rules! day_orders {
    () => {
        "WITH bounds AS (
            SELECT timezone, ($2::date)::timestamp AT TIME ZONE timezone AS day_start,
                   ($2::date + 1)::timestamp AT TIME ZONE timezone AS day_end
            FROM tenants WHERE id = $1
         ), day_orders AS (
            SELECT o.id, o.status, o.subtotal, o.discount_total, o.service_charge, o.tax_base, o.tax, o.total,
                   o.rounding
            FROM orders o
            WHERE o.tenant_id = $1
              AND o.created_at >= (SELECT day_start FROM bounds) AND o.created_at < (SELECT day_end FROM bounds)
              AND o.status IN ('committed', 'cancelled') AND ($3::uuid IS NULL OR o.outlet_id = $3)
         ) "
    };
}

// The refunds made that day (by the till's time of the refund) of orders
// not cancelled, whatever day those orders were sold.
macro_rules! day_refunds {
    () => {
        "WITH bounds AS (
            SELECT ($2::date)::timestamp AT TIME ZONE timezone AS day_start,
                   ($2::date + 1)::timestamp AT TIME ZONE timezone AS day_end
            FROM tenants WHERE id = $1
         ), day_refunds AS (
            SELECT r.id, r.amount
            FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
            WHERE r.tenant_id = $1 AND r.status = 'committed'
              AND r.created_at >= (SELECT day_start FROM bounds) AND r.created_at < (SELECT day_end FROM bounds)
              AND o.status = 'committed' AND ($3::uuid IS NULL OR o.outlet_id = $3)
         ) "
    };
}

/// The day and outlet a report is for: 422 for a date that is not one,
/// or an outlet id that is not a UUID.
fn day_and_outlet(q: &DailyQuery) -> ApiResult<(NaiveDate, Option<Uuid>)> {
    let date = q
        .date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| ApiError::invalid("date", "is required, as YYYY-MM-DD"))?;
    let date = crate::http::extract::within_years("date", date)?;
    let outlet = match q.outlet_id.as_deref() {
        None => None,
        Some(id) => Some(Uuid::parse_str(id).map_err(|_| ApiError::invalid("outletId", "must be a UUID"))?),
    };
    Ok((date, outlet))
}

async fn daily_sales(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<DailyQuery>,
) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    let (date, outlet) = day_and_outlet(&q)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let day = Day { tenant: auth.tenant_id.0, date, outlet };
    let t = totals(&mut tx, &day).await?;
    let paid_by_method = by_method(&mut tx, &day, PAID_BY_METHOD).await?;
    let (refunds, refunded): (i64, i64) =
        sqlx::query_as(concat!(day_refunds!(), "SELECT count(*), coalesce(sum(amount), 0)::bigint FROM day_refunds"))
            .bind(day.tenant)
            .bind(day.date)
            .bind(day.outlet)
            .fetch_one(&mut *tx)
            .await?;
    let refunds_by_method = by_method(&mut tx, &day, REFUNDED_BY_METHOD).await?;
    let top = top_products(&mut tx, &day).await?;
    // What the drawer and the accounts took, net of change, less what went back.
    let collected = t.net + t.rounding;
    Ok(Json(json!({
        "date": date.to_string(),
        "timezone": t.timezone,
        "orders": t.orders,
        "grossSales": t.gross,
        "discounts": t.discounts,
        "serviceCharge": t.service_charge,
        "taxBase": t.tax_base,
        "tax": t.tax,
        "netSales": t.net,
        "rounding": t.rounding,
        "collected": collected,
        "cancelled": { "orders": t.cancelled, "amount": t.cancelled_amount },
        "byPaymentMethod": paid_by_method,
        "refunds": { "count": refunds, "amount": refunded, "byPaymentMethod": refunds_by_method },
        "netCollected": collected - refunded,
        "topProducts": top,
    })))
}

/// The report's parameters, bound as `$1`, `$2` and `$3` of `day_orders!`.
struct Day {
    tenant: Uuid,
    date: NaiveDate,
    outlet: Option<Uuid>,
}

/// The day's committed orders' sums, and its cancelled orders'.
#[derive(sqlx::FromRow)]
struct Totals {
    timezone: String,
    orders: i64,
    gross: i64,
    discounts: i64,
    service_charge: i64,
    tax_base: i64,
    tax: i64,
    net: i64,
    rounding: i64,
    cancelled: i64,
    cancelled_amount: i64,
}

async fn totals(db: &mut PgConnection, day: &Day) -> ApiResult<Totals> {
    Ok(sqlx::query_as(concat!(
        day_orders!(),
        "SELECT (SELECT timezone FROM bounds) AS timezone,
                count(*) FILTER (WHERE status = 'committed') AS orders,
                coalesce(sum(subtotal) FILTER (WHERE status = 'committed'), 0)::bigint AS gross,
                coalesce(sum(discount_total) FILTER (WHERE status = 'committed'), 0)::bigint AS discounts,
                coalesce(sum(service_charge) FILTER (WHERE status = 'committed'), 0)::bigint AS service_charge,
                coalesce(sum(tax_base) FILTER (WHERE status = 'committed'), 0)::bigint AS tax_base,
                coalesce(sum(tax) FILTER (WHERE status = 'committed'), 0)::bigint AS tax,
                coalesce(sum(total) FILTER (WHERE status = 'committed'), 0)::bigint AS net,
                coalesce(sum(rounding) FILTER (WHERE status = 'committed'), 0)::bigint AS rounding,
                count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                coalesce(sum(total) FILTER (WHERE status = 'cancelled'), 0)::bigint AS cancelled_amount
         FROM day_orders"
    ))
    .bind(day.tenant)
    .bind(day.date)
    .bind(day.outlet)
    .fetch_one(&mut *db)
    .await?)
}

// Per method, what the committed orders' payment rows took, net of change.
const PAID_BY_METHOD: &str = concat!(
    day_orders!(),
    "SELECT p.method, sum(p.amount - p.change)::bigint FROM day_orders o
     JOIN payments p ON p.tenant_id = $1 AND p.order_id = o.id
     WHERE o.status = 'committed' GROUP BY p.method"
);

const REFUNDED_BY_METHOD: &str = concat!(
    day_refunds!(),
    "SELECT p.method, sum(p.amount)::bigint FROM day_refunds r
     JOIN refund_payments p ON p.tenant_id = $1 AND p.refund_id = r.id GROUP BY p.method"
);

/// Money per payment method, every method present (0 when unused).
async fn by_method(db: &mut PgConnection, day: &Day, sql: &'static str) -> ApiResult<Map<String, Value>> {
    let methods: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(day.tenant)
        .bind(day.date)
        .bind(day.outlet)
        .fetch_all(&mut *db)
        .await?;
    let mut by_method: Map<String, Value> =
        PaymentMethod::ALL.iter().map(|m| (m.as_str().to_owned(), json!(0))).collect();
    for (method, amount) in methods {
        by_method.insert(method, json!(amount));
    }
    Ok(by_method)
}

/// The day's ten best-selling products by revenue.
async fn top_products(db: &mut PgConnection, day: &Day) -> ApiResult<Vec<Value>> {
    let top: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(concat!(
        day_orders!(),
        "SELECT i.product_id, p.name, sum(i.quantity)::bigint, sum(i.line_total)::bigint FROM day_orders o
         JOIN order_items i ON i.order_id = o.id AND i.tenant_id = $1
         JOIN products p ON p.tenant_id = $1 AND p.id = i.product_id
         WHERE o.status = 'committed'
         GROUP BY i.product_id, p.name ORDER BY 4 DESC, 3 DESC, 1 LIMIT 10"
    ))
    .bind(day.tenant)
    .bind(day.date)
    .bind(day.outlet)
    .fetch_all(&mut *db)
    .await?;
    Ok(top
        .into_iter()
        .map(|(id, name, quantity, revenue)| json!({ "productId": id, "name": name, "quantity": quantity, "revenue": revenue }))
        .collect())
}
