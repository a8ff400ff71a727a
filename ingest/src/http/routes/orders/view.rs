//! The read side of orders: an order as the API shows it (the contract's
//! `Order`), read from its row alone, one at a time or a page of them. The
//! row carries the validated request (lines, payment) and, once a worker
//! priced it, the totals; order_items and payments are the books the
//! workers write in the same transaction, not what the API reads.

use crate::http::error::{ApiError, ApiResult};
use crate::http::page::Page;
use chrono::{DateTime, Utc};
use common::ids::{ClientOrderId, OrderId, TenantId};
use common::money::Money;
use common::order::{OrderStatus, PaymentMethod, ValidatedOrder};
use common::pricing::tender::{settle, spread_change};
use common::pricing::{AppliedDiscount, CashRounding, PricingInput, price_order};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// The columns an `OrderRow` reads (a macro, so queries stay literal SQL).
macro_rules! order_columns {
    () => {
        "id, client_order_id, outlet_id, source, status, request, subtotal, discount_total, service_charge, tax_base, tax, total, \
         rounding, discounts, payment_change, receipt_number, rejection_code, rejection_message, created_at, \
         received_at, committed_at, cancelled_at"
    };
}

#[derive(sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub client_order_id: Uuid,
    pub outlet_id: Option<Uuid>,
    pub source: String,
    pub status: String,
    pub request: Json<ValidatedOrder>,
    pub subtotal: Option<i64>,
    pub discount_total: Option<i64>,
    pub service_charge: Option<i64>,
    pub tax_base: Option<i64>,
    pub tax: Option<i64>,
    pub total: Option<i64>,
    pub rounding: Option<i64>,
    pub discounts: Json<Vec<AppliedDiscount>>,
    pub payment_change: Option<i64>,
    pub receipt_number: Option<String>,
    pub rejection_code: Option<String>,
    pub rejection_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub committed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: Uuid,
    pub client_order_id: Uuid,
    /// The outlet it was sold at (the shop's default one when sent without).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlet_id: Option<Uuid>,
    pub source: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
    pub items: Vec<Item>,
    pub subtotal: Money,
    pub discounts: Vec<DiscountView>,
    pub discount_total: Money,
    /// Service charge, tax base and tax: set once a worker committed the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_charge: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_base: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax: Option<Money>,
    pub total: Money,
    /// Cash rounding: total + rounding is what the payments, net of change, add up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Money>,
    /// The order's one payment (absent for split tender: see `payments`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentView>,
    pub payments: Vec<PaymentView>,
    /// Assigned at commit, gap-free per tenant, outlet and day (or year).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// A discount as the contract shows it (the lines it applied to stay in the books).
#[derive(Serialize)]
pub struct DiscountView {
    pub kind: common::pricing::DiscountKind,
    pub name: String,
    pub amount: Money,
}

#[derive(Serialize)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub product_id: Uuid,
    pub quantity: u32,
    pub price: Money,
    pub line_total: Money,
}

#[derive(Clone, Serialize)]
pub struct PaymentView {
    pub method: PaymentMethod,
    pub amount: Money,
    pub change: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl OrderRow {
    pub fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.status).unwrap_or(OrderStatus::Pending)
    }

    pub fn into_view(self) -> OrderView {
        let order = self.request.0;
        let Totals { subtotal, discount_total, total, discounts } =
            totals(&order, [self.subtotal, self.discount_total, self.total], self.discounts.0);
        // Before a worker settled it, the change is quoted without rounding.
        let change = self.payment_change.map(Money::from_rupiah).unwrap_or_else(|| {
            settle(total, &order.payments, CashRounding::None).map(|t| t.change).unwrap_or_default()
        });
        let payments: Vec<PaymentView> = order
            .payments
            .iter()
            .zip(spread_change(&order.payments, change.rupiah()))
            .map(|(p, change)| PaymentView {
                method: p.method,
                amount: p.amount,
                change,
                reference: p.reference.clone(),
            })
            .collect();
        let money = |v: Option<i64>| v.map(Money::from_rupiah);
        OrderView {
            order_id: self.id,
            client_order_id: self.client_order_id,
            outlet_id: self.outlet_id,
            source: self.source,
            status: self.status,
            rejection: self
                .rejection_code
                .map(|code| Rejection { code, message: self.rejection_message.unwrap_or_default() }),
            items: items(&order),
            subtotal,
            discounts,
            discount_total,
            service_charge: money(self.service_charge),
            tax_base: money(self.tax_base),
            tax: money(self.tax),
            total,
            rounding: money(self.rounding),
            payment: (payments.len() == 1).then(|| payments[0].clone()),
            payments,
            receipt_number: self.receipt_number,
            created_at: self.created_at,
            received_at: self.received_at,
            committed_at: self.committed_at,
            cancelled_at: self.cancelled_at,
        }
    }
}

/// An order's money as the API shows it.
struct Totals {
    subtotal: Money,
    discount_total: Money,
    total: Money,
    discounts: Vec<DiscountView>,
}

/// The money as a worker priced it (`priced`: subtotal, discount total and
/// total, with `applied` the discounts), or else a quote: before a worker
/// priced it, an order shows its lines and manual discount (the rules are
/// applied by the worker at commit).
fn totals(order: &ValidatedOrder, priced: [Option<i64>; 3], applied: Vec<AppliedDiscount>) -> Totals {
    let [subtotal, discount_total, total] = priced;
    let quote = price_order(&PricingInput::plain(&order.items, order.discount, order.created_at)).ok();
    let subtotal = subtotal.map(Money::from_rupiah).or(quote.as_ref().map(|q| q.subtotal)).unwrap_or_default();
    let discount_total =
        discount_total.map(Money::from_rupiah).or(quote.as_ref().map(|q| q.discount_total)).unwrap_or_default();
    let priced = total.is_some();
    let total = total.map(Money::from_rupiah).or(quote.as_ref().map(|q| q.total)).unwrap_or_default();
    let applied = if priced { applied } else { quote.map(|q| q.discounts).unwrap_or_default() };
    let discounts =
        applied.into_iter().map(|d| DiscountView { kind: d.kind, name: d.name, amount: d.amount }).collect();
    Totals { subtotal, discount_total, total, discounts }
}

fn items(order: &ValidatedOrder) -> Vec<Item> {
    order
        .items
        .iter()
        .map(|l| Item {
            product_id: l.product_id.0,
            quantity: l.quantity,
            price: l.price,
            line_total: l.price.checked_mul(l.quantity).unwrap_or_default(),
        })
        .collect()
}

pub async fn fetch(db: &PgPool, tenant: TenantId, order_id: OrderId) -> ApiResult<OrderRow> {
    let mut tx = common::db::tenant_tx(db, &[tenant.0]).await?;
    sqlx::query_as::<_, OrderRow>(concat!("SELECT ", order_columns!(), " FROM orders WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant.0)
        .bind(order_id.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::not_found("order"))
}

/// Whether the tenant has an order under this clientOrderId.
pub async fn exists(db: &PgPool, tenant: TenantId, client_order_id: ClientOrderId) -> ApiResult<bool> {
    let mut tx = common::db::tenant_tx(db, &[tenant.0]).await?;
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE tenant_id = $1 AND client_order_id = $2)")
        .bind(tenant.0)
        .bind(client_order_id.0)
        .fetch_one(&mut *tx)
        .await?)
}

/// What a list of orders may be narrowed to.
pub struct Filter {
    pub status: Option<OrderStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of the tenant's orders, newest first.
pub async fn list(db: &PgPool, tenant: TenantId, filter: Filter, page: &Page) -> ApiResult<Vec<OrderRow>> {
    let sql = concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders
         WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
         ORDER BY created_at DESC, id DESC LIMIT $7"
    );
    let mut tx = common::db::tenant_tx(db, &[tenant.0]).await?;
    let query = sqlx::query_as::<_, OrderRow>(sql)
        .bind(tenant.0)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.from)
        .bind(filter.to);
    Ok(page.bind(query).fetch_all(&mut *tx).await?)
}

/// Poll until the order left `pending` or the deadline passed.
pub async fn wait_for_outcome(
    db: &PgPool,
    tenant: TenantId,
    order_id: OrderId,
    wait: std::time::Duration,
) -> ApiResult<OrderRow> {
    let settled = |row: &OrderRow| row.status() != OrderStatus::Pending;
    crate::http::extract::poll_until(wait, || fetch(db, tenant, order_id), settled).await
}
