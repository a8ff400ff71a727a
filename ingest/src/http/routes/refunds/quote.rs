//! What a refund would pay back, decided as the worker will decide it
//! (`common::pricing::refund_quote`, on the rows the commit reads:
//! `common::pricing::refund_rows`): `POST /api/orders/{id}/refunds/quote`
//! answers it without creating anything, and a refund whose payment lines
//! cannot match it is refused at the door (`422 payment_mismatch` with the
//! `expected` amount) instead of failing after its 202.
//!
//! Refunds of the order admitted before and still pending count as if they
//! commit first, in the order they were admitted (the order's row lock
//! serializes admission, and they are published in that order). The commit
//! checks again whatever happens in between.

use crate::http::error::{ApiError, ApiResult};
use common::ids::{OrderId, ProductId};
use common::money::Money;
use common::pricing::refund::AllocationError;
use common::pricing::refund::left_after;
use common::pricing::refund_charges::Charged;
use common::pricing::refund_quote::{Quote, QuoteError, Sold};
use common::pricing::refund_rows::{SOLD_LINES, SOLD_MONEY, by_method, given_back};
use common::refund::ValidatedRefund;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// The quote as the API shows it (`RefundQuote`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteView {
    pub order_id: OrderId,
    pub items: Vec<common::refund::RefundLine>,
    pub amount: Money,
    /// By method, as the refund would pay back.
    pub payments: Vec<super::view::PaymentBack>,
    /// The refund's part of the order's service charge, tax base and tax.
    pub service_charge: Money,
    pub tax_base: Money,
    pub tax: Money,
}

impl QuoteView {
    pub fn new(order_id: OrderId, refund: &ValidatedRefund, quote: Quote) -> Self {
        let payments = quote
            .back
            .iter()
            .map(|(method, amount)| super::view::PaymentBack { method: method.as_str().to_owned(), amount: *amount })
            .collect();
        Self {
            order_id,
            items: refund.items.clone(),
            amount: quote.amount,
            payments,
            service_charge: quote.charged.service_charge,
            tax_base: quote.charged.tax_base,
            tax: quote.charged.tax,
        }
    }
}

/// What `refund` pays back from committed order `order_id` after the
/// refunds before it; the error a refund of it gets otherwise.
pub async fn quote(
    tx: &mut PgConnection,
    tenant: Uuid,
    order_id: OrderId,
    refund: &ValidatedRefund,
) -> ApiResult<Quote> {
    let sold = sold_after_pending(tx, tenant, order_id).await?;
    sold.quote(&refund.items, &refund.payments).map_err(refused)
}

/// A refund the quote refuses, as the API answers it.
fn refused(error: QuoteError) -> ApiError {
    let message = error.to_string();
    match error {
        QuoteError::ExceedsSold { .. } => ApiError::conflict("refund_exceeds_sold", message),
        QuoteError::Payments(AllocationError::Mismatch { amount, .. }) => {
            ApiError::PaymentMismatch { message, expected: Money::from_rupiah(amount) }
        }
        QuoteError::Payments(AllocationError::ExceedsPaid { .. }) => {
            ApiError::Unprocessable { code: "refund_exceeds_paid", message }
        }
    }
}

/// The committed order's figures, with its pending refunds applied in
/// admission order (one that would fail at commit changes nothing).
async fn sold_after_pending(tx: &mut PgConnection, tenant: Uuid, order_id: OrderId) -> ApiResult<Sold> {
    let mut sold = sold(tx, tenant, order_id).await?;
    let pending: Vec<(Json<ValidatedRefund>,)> = sqlx::query_as(
        "SELECT request FROM refunds WHERE tenant_id = $1 AND order_id = $2 AND status = 'pending' ORDER BY id",
    )
    .bind(tenant)
    .bind(order_id.0)
    .fetch_all(&mut *tx)
    .await?;
    for (Json(earlier),) in pending {
        if let Ok(quote) = sold.quote(&earlier.items, &earlier.payments) {
            sold.apply(&earlier.items, &quote);
        }
    }
    Ok(sold)
}

/// The committed order's figures as the worker reads them.
async fn sold(tx: &mut PgConnection, tenant: Uuid, order_id: OrderId) -> ApiResult<Sold> {
    let keys = (vec![tenant], vec![order_id.0]);
    let money = sqlx::query(SOLD_MONEY)
        .bind(&keys.0)
        .bind(&keys.1)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| ApiError::conflict("not_refundable", "only a committed order can be quoted a refund"))?;
    let rupiah =
        |i: usize| -> ApiResult<Money> { Ok(Money::from_rupiah(money.try_get::<Option<i64>, _>(i)?.unwrap_or(0))) };
    let paid: Option<serde_json::Value> = money.try_get(5)?;
    let back: Option<serde_json::Value> = money.try_get(6)?;
    let mut sold = Sold {
        subtotal: rupiah(2)?,
        total: rupiah(3)?,
        refunded: Money::from_rupiah(money.try_get(4)?),
        left: left_after(&by_method(paid), &by_method(back)),
        cash_for_noncash: money.try_get(7)?,
        charged: Charged { discounts: rupiah(8)?, service_charge: rupiah(9)?, tax_base: rupiah(10)?, tax: rupiah(11)? },
        charged_back: given_back(&money.try_get::<Vec<i64>, _>(12)?),
        ..Sold::default()
    };
    let lines: Vec<(Uuid, Uuid, Uuid, i64, i64, i64)> =
        sqlx::query_as(SOLD_LINES).bind(&keys.0).bind(&keys.1).fetch_all(&mut *tx).await?;
    for (_, _, product, units, gross, refunded) in lines {
        sold.lines.insert(ProductId(product), (units, gross));
        if refunded > 0 {
            sold.refunded_units.insert(ProductId(product), refunded);
        }
    }
    Ok(sold)
}
