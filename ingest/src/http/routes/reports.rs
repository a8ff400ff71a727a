//! The daily sales report: a shop owner's day, by sale time in the shop's
//! time zone, over sold orders (a sale stays on its day whatever happens
//! to it later); what was paid back that day (refunds, and cancels' paybacks,
//! `cancelled` being the cancels' part) is counted apart, so a closed day
//! never changes. Payments come from the payment rows, net of change.
//! Reads the day's quarter-hour summaries, on one snapshot.

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

// The day's bounds in the tenant's zone, and its quarter hours' sums
// (kept by the database as orders, payments, items and refunds change:
// migrations/20261205000010_sales_summary.up.sql): a day is at most 96 rows
// per outlet, read through each table's primary key, whatever the volume.
macro_rules! day {
    () => {
        "WITH bounds AS (
            SELECT timezone, ($2::date)::timestamp AT TIME ZONE timezone AS day_start,
                   ($2::date + 1)::timestamp AT TIME ZONE timezone AS day_end
            FROM tenants WHERE id = $1
         ) "
    };
}

// Which quarter hours a summary row of `s` must be in.
macro_rules! in_day {
    () => {
        " s.tenant_id = $1 AND s.bucket >= (SELECT day_start FROM bounds) AND s.bucket < (SELECT day_end FROM bounds)
          AND ($3::uuid IS NULL OR s.outlet_key = $3) "
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
    // One snapshot: a batch committing between the statements cannot make
    // the methods disagree with the totals.
    let mut tx = state.snapshot(auth.tenant_id).await?;
    let day = Day { tenant: auth.tenant_id.0, date, outlet };
    let t = totals(&mut tx, &day).await?;
    let (paid_by_method, refunds_by_method) = by_method(&mut tx, &day).await?;
    let top = top_products(&mut tx, &day).await?;
    let shifts = shifts(&mut tx, &day).await?;
    tx.commit().await?;
    let (refunds, refunded) = (t.refunds, t.refunded);
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
        // What the refunds gave back of each figure: the tax owed is `tax` − `refunds.tax`.
        "refunds": { "count": refunds, "amount": refunded, "byPaymentMethod": refunds_by_method,
                     "discounts": t.refunded_discounts, "serviceCharge": t.refunded_service_charge,
                     "taxBase": t.refunded_tax_base, "tax": t.refunded_tax },
        "netCollected": collected - refunded,
        "topProducts": top,
        "shifts": shifts,
    })))
}

/// The cash shifts opened that day (at the outlet), with their over/short once closed.
async fn shifts(db: &mut PgConnection, day: &Day) -> ApiResult<Value> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'shiftId', s.id, 'outletId', s.outlet_id, 'cashierId', s.cashier_id, 'status', s.status,
                    'openedAt', s.opened_at, 'closedAt', s.closed_at, 'cashExpected', s.expected_cash,
                    'countedCash', s.counted_cash, 'overShort', s.counted_cash - s.expected_cash)
                ORDER BY s.opened_at, s.id), '[]')
         FROM cash_shifts s JOIN tenants t ON t.id = s.tenant_id
         WHERE s.tenant_id = $1 AND (s.opened_at AT TIME ZONE t.timezone)::date = $2
           AND ($3::uuid IS NULL OR s.outlet_id = $3)",
    )
    .bind(day.tenant)
    .bind(day.date)
    .bind(day.outlet)
    .fetch_one(db)
    .await?)
}

/// The report's parameters, bound as `$1`, `$2` and `$3` of `day!`.
struct Day {
    tenant: Uuid,
    date: NaiveDate,
    outlet: Option<Uuid>,
}

/// The day's sold orders' sums, and what was paid back that day.
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
    refunds: i64,
    refunded: i64,
    refunded_discounts: i64,
    refunded_service_charge: i64,
    refunded_tax_base: i64,
    refunded_tax: i64,
}

async fn totals(db: &mut PgConnection, day: &Day) -> ApiResult<Totals> {
    Ok(sqlx::query_as(concat!(
        day!(),
        "SELECT (SELECT timezone FROM bounds) AS timezone,
                coalesce(sum(orders), 0)::bigint AS orders, coalesce(sum(gross), 0)::bigint AS gross,
                coalesce(sum(discounts), 0)::bigint AS discounts,
                coalesce(sum(service_charge), 0)::bigint AS service_charge,
                coalesce(sum(tax_base), 0)::bigint AS tax_base, coalesce(sum(tax), 0)::bigint AS tax,
                coalesce(sum(net), 0)::bigint AS net, coalesce(sum(rounding), 0)::bigint AS rounding,
                coalesce(sum(cancelled), 0)::bigint AS cancelled,
                coalesce(sum(cancelled_amount), 0)::bigint AS cancelled_amount,
                coalesce(sum(refunds), 0)::bigint AS refunds, coalesce(sum(refunded), 0)::bigint AS refunded,
                coalesce(sum(refunded_discounts), 0)::bigint AS refunded_discounts,
                coalesce(sum(refunded_service_charge), 0)::bigint AS refunded_service_charge,
                coalesce(sum(refunded_tax_base), 0)::bigint AS refunded_tax_base,
                coalesce(sum(refunded_tax), 0)::bigint AS refunded_tax
         FROM sales_buckets s WHERE",
        in_day!()
    ))
    .bind(day.tenant)
    .bind(day.date)
    .bind(day.outlet)
    .fetch_one(&mut *db)
    .await?)
}

/// Money per payment method, paid (net of change) and refunded, every
/// method present (0 when unused).
async fn by_method(db: &mut PgConnection, day: &Day) -> ApiResult<(Map<String, Value>, Map<String, Value>)> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(concat!(
        day!(),
        "SELECT s.kind, s.method, sum(s.amount)::bigint FROM sales_bucket_methods s WHERE",
        in_day!(),
        "GROUP BY s.kind, s.method"
    ))
    .bind(day.tenant)
    .bind(day.date)
    .bind(day.outlet)
    .fetch_all(&mut *db)
    .await?;
    let every_method =
        || -> Map<String, Value> { PaymentMethod::ALL.iter().map(|m| (m.as_str().to_owned(), json!(0))).collect() };
    let (mut paid, mut refunded) = (every_method(), every_method());
    for (kind, method, amount) in rows {
        let into = if kind == "paid" { &mut paid } else { &mut refunded };
        into.insert(method, json!(amount));
    }
    Ok((paid, refunded))
}

/// The day's ten best-selling products by revenue.
async fn top_products(db: &mut PgConnection, day: &Day) -> ApiResult<Vec<Value>> {
    let top: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(concat!(
        day!(),
        "SELECT s.product_id, p.name, sum(s.quantity)::bigint, sum(s.revenue)::bigint
         FROM sales_bucket_products s JOIN products p ON p.tenant_id = $1 AND p.id = s.product_id WHERE",
        in_day!(),
        "GROUP BY s.product_id, p.name HAVING sum(s.quantity) > 0 ORDER BY 4 DESC, 3 DESC, 1 LIMIT 10"
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
