//! Door checks for `RefundRequest`: presence, types and ranges of every
//! field, and the same time window as a sale. Whether the order sold what
//! comes back is checked against the order (ingest) and at commit (worker).

use super::{RefundLine, RefundPayment, ValidatedRefund};
use crate::ids::ProductId;
use crate::money::Money;
use crate::order::limits;
use crate::order::request::{FieldError, RequestError, from_value};
use crate::order::validate::{Checker, PaymentWire, check_sale_time};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Number, Value};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefundRequestWire {
    client_refund_id: Option<String>,
    items: Option<Vec<LineWire>>,
    payments: Option<Vec<PaymentWire>>,
    reason: Option<String>,
    created_at: Option<String>,
}

/// A `{productId, quantity}` line as sent (refunds, stock transfers).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LineWire {
    product_id: Option<String>,
    quantity: Option<Number>,
}

/// Validate one `RefundRequest` JSON value received at `now`.
pub fn validate_refund(value: Value, now: DateTime<Utc>) -> Result<ValidatedRefund, RequestError> {
    let wire: RefundRequestWire = from_value(value)?;
    let mut c = Checker::default();
    let client_refund_id = c.uuid("clientRefundId", wire.client_refund_id, true);
    let items = lines(&mut c, wire.items);
    let payments = payments(&mut c, wire.payments.unwrap_or_default());
    let reason = c.text("reason", wire.reason, limits::MAX_NOTES_CHARS);
    let created_at = c.time("createdAt", wire.created_at);
    if !c.errors.is_empty() {
        return Err(RequestError::Invalid(c.errors));
    }
    let (Some(client_refund_id), Some(items)) = (client_refund_id, items) else {
        return Err(RequestError::Invalid(vec![FieldError::new("body", "incomplete refund")]));
    };
    let created_at = created_at.unwrap_or(now).trunc_subsecs(6);
    check_sale_time(created_at, now)?;
    Ok(ValidatedRefund { client_refund_id, items, payments, reason, created_at })
}

fn lines(c: &mut Checker, items: Option<Vec<LineWire>>) -> Option<Vec<RefundLine>> {
    let lines = product_lines(c, items)?;
    Some(lines.into_iter().map(|(product_id, quantity)| RefundLine { product_id, quantity }).collect())
}

/// 1 to `MAX_ITEMS` lines of a product and a quantity, one per product (a
/// product named twice is summed, at most `MAX_QUANTITY`), in product order.
pub(crate) fn product_lines(c: &mut Checker, items: Option<Vec<LineWire>>) -> Option<Vec<(ProductId, u32)>> {
    let Some(items) = items else {
        c.fail("items", "is required");
        return None;
    };
    if items.is_empty() || items.len() > limits::MAX_ITEMS {
        c.fail("items", format!("must hold 1 to {} items", limits::MAX_ITEMS));
        return None;
    }
    let errors_before = c.errors.len();
    let mut by_product = BTreeMap::<ProductId, i64>::new();
    for (i, item) in items.into_iter().enumerate() {
        let product = c.uuid(&format!("items[{i}].productId"), item.product_id, true);
        let quantity = c.int(&format!("items[{i}].quantity"), item.quantity, 1, limits::MAX_QUANTITY, true);
        if let (Some(product), Some(quantity)) = (product, quantity) {
            *by_product.entry(ProductId(product)).or_default() += quantity;
        }
    }
    if by_product.values().any(|&q| q > limits::MAX_QUANTITY) {
        c.fail("items", format!("at most {} of one product", limits::MAX_QUANTITY));
    }
    (c.errors.len() == errors_before)
        .then(|| by_product.into_iter().map(|(p, q)| (p, u32::try_from(q).unwrap_or(u32::MAX))).collect())
}

fn payments(c: &mut Checker, payments: Vec<PaymentWire>) -> Vec<RefundPayment> {
    if payments.len() > limits::MAX_PAYMENTS {
        c.fail("payments", format!("must hold at most {} payments", limits::MAX_PAYMENTS));
        return Vec::new();
    }
    if payments.iter().filter(|p| p.amount.is_none()).count() > 1 {
        c.fail("payments", "at most one payment may leave its amount out (it takes the rest)");
    }
    let mut valid = Vec::with_capacity(payments.len());
    for (i, p) in payments.into_iter().enumerate() {
        let method = c.method(&format!("payments[{i}].method"), p.method);
        let amount = c.int(&format!("payments[{i}].amount"), p.amount, 0, limits::MAX_AMOUNT, false);
        let reference = c.text(&format!("payments[{i}].reference"), p.reference, limits::MAX_REFERENCE_CHARS);
        if let Some(method) = method {
            valid.push(RefundPayment { method, amount: amount.map(Money::from_rupiah), reference });
        }
    }
    valid
}
