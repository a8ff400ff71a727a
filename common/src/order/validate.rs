//! Door checks for `OrderRequest`: every field's presence, type, range and
//! the sale-time window. Business checks (stock, prices, payment against the
//! total) belong to the worker's commit, which is the one authority.

use super::model::{OrderLine, Payment, PaymentMethod, ValidatedOrder, limits};
use super::request::{FieldError, RequestError, from_value};
use crate::ids::{ClientOrderId, ProductId};
use crate::money::Money;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Number, Value};
use uuid::Uuid;

// Wire types accept any JSON number and optional everything, so that the
// checks below can name every bad field at once instead of serde's first.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrderRequestWire {
    client_order_id: Option<String>,
    outlet_id: Option<String>,
    items: Option<Vec<ItemWire>>,
    member_id: Option<String>,
    discount: Option<Number>,
    payment: Option<PaymentWire>,
    payments: Option<Vec<PaymentWire>>,
    created_at: Option<String>,
    notes: Option<String>,
    shift_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ItemWire {
    product_id: Option<String>,
    quantity: Option<Number>,
    price: Option<Number>,
}

/// A payment line as sent (orders; refunds, where the amount may be left out).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PaymentWire {
    pub(crate) method: Option<String>,
    pub(crate) amount: Option<Number>,
    pub(crate) reference: Option<String>,
}

/// Validate one `OrderRequest` JSON value received at `now`.
pub fn validate_order(value: Value, now: DateTime<Utc>) -> Result<ValidatedOrder, RequestError> {
    let wire: OrderRequestWire = from_value(value)?;
    let mut c = Checker::default();
    let client_order_id = c.uuid("clientOrderId", wire.client_order_id, true);
    let outlet_id = c.uuid("outletId", wire.outlet_id, false);
    let member_id = c.uuid("memberId", wire.member_id, false);
    let shift_id = c.uuid("shiftId", wire.shift_id, false);
    let discount = c.int("discount", wire.discount, 0, limits::MAX_AMOUNT, false).unwrap_or(0);
    let notes = c.text("notes", wire.notes, limits::MAX_NOTES_CHARS);
    let items = c.items(wire.items);
    let payments = c.payments(wire.payment, wire.payments);
    let created_at = c.time("createdAt", wire.created_at);
    if !c.errors.is_empty() {
        return Err(RequestError::Invalid(c.errors));
    }
    let (Some(client_order_id), Some(items), Some(payments)) = (client_order_id, items, payments) else {
        return Err(RequestError::Invalid(vec![FieldError::new("body", "incomplete order")]));
    };
    // Microseconds, as PostgreSQL keeps them: the time in the message and
    // the time in the database must be the same value.
    let created_at = created_at.unwrap_or(now).trunc_subsecs(6);
    check_sale_time(created_at, now)?;
    Ok(ValidatedOrder {
        client_order_id: ClientOrderId(client_order_id),
        outlet_id,
        items,
        member_id,
        discount: Money::from_rupiah(discount),
        payments,
        created_at,
        notes,
        shift_id,
    })
}

pub(crate) fn check_sale_time(created_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), RequestError> {
    let earliest = now - Duration::hours(limits::MAX_SALE_AGE_HOURS);
    let latest = now + Duration::minutes(limits::MAX_SALE_AHEAD_MINUTES);
    if created_at < earliest || created_at > latest {
        return Err(RequestError::SaleTimeOutOfRange {
            message: format!(
                "createdAt {} is outside the accepted window ({} hours in the past to {} minutes ahead of the server clock {})",
                created_at.to_rfc3339(),
                limits::MAX_SALE_AGE_HOURS,
                limits::MAX_SALE_AHEAD_MINUTES,
                now.to_rfc3339()
            ),
        });
    }
    Ok(())
}

/// Collects every offending field of a request (orders and refunds alike).
#[derive(Default)]
pub(crate) struct Checker {
    pub(crate) errors: Vec<FieldError>,
}

impl Checker {
    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn uuid(&mut self, field: &str, value: Option<String>, required: bool) -> Option<Uuid> {
        match value {
            None if required => self.fail(field, "is required"),
            None => {}
            Some(text) => match Uuid::parse_str(&text) {
                Ok(id) => return Some(id),
                Err(_) => self.fail(field, "must be a UUID"),
            },
        }
        None
    }

    pub(crate) fn int(
        &mut self,
        field: &str,
        value: Option<Number>,
        min: i64,
        max: i64,
        required: bool,
    ) -> Option<i64> {
        let Some(number) = value else {
            if required {
                self.fail(field, "is required");
            }
            return None;
        };
        match number.as_i64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.fail(field, format!("must be between {min} and {max}"));
                None
            }
            None if number.is_f64() && number.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                self.fail(field, "must be a whole number");
                None
            }
            None => {
                self.fail(field, format!("must be between {min} and {max}"));
                None
            }
        }
    }

    pub(crate) fn text(&mut self, field: &str, value: Option<String>, max_chars: usize) -> Option<String> {
        let text = value?;
        if text.chars().count() > max_chars {
            self.fail(field, format!("must be at most {max_chars} characters"));
            return None;
        }
        Some(text)
    }

    pub(crate) fn time(&mut self, field: &str, value: Option<String>) -> Option<DateTime<Utc>> {
        let text = value?;
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.fail(field, "must be an RFC 3339 time with offset");
                None
            }
        }
    }

    fn items(&mut self, items: Option<Vec<ItemWire>>) -> Option<Vec<OrderLine>> {
        let Some(items) = items else {
            self.fail("items", "is required");
            return None;
        };
        if items.is_empty() || items.len() > limits::MAX_ITEMS {
            self.fail("items", format!("must hold 1 to {} items", limits::MAX_ITEMS));
            return None;
        }
        let errors_before = self.errors.len();
        let mut lines = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let product = self.uuid(&format!("items[{i}].productId"), item.product_id, true);
            let quantity = self.int(&format!("items[{i}].quantity"), item.quantity, 1, limits::MAX_QUANTITY, true);
            let price = self.int(&format!("items[{i}].price"), item.price, 0, limits::MAX_AMOUNT, true);
            if let (Some(product), Some(quantity), Some(price)) = (product, quantity, price) {
                lines.push(OrderLine {
                    product_id: ProductId(product),
                    quantity: u32::try_from(quantity).unwrap_or(u32::MAX),
                    price: Money::from_rupiah(price),
                });
            }
        }
        (self.errors.len() == errors_before).then_some(lines)
    }

    /// `payment` (one) or `payments` (split tender), exactly one of them.
    fn payments(&mut self, one: Option<PaymentWire>, split: Option<Vec<PaymentWire>>) -> Option<Vec<Payment>> {
        match (one, split) {
            (Some(_), Some(_)) => self.fail("payments", "send either payment or payments, not both"),
            (None, None) => self.fail("payment", "is required (or payments, for split tender)"),
            (Some(one), None) => return self.payment("payment", one).map(|p| vec![p]),
            (None, Some(split)) if split.is_empty() || split.len() > limits::MAX_PAYMENTS => {
                self.fail("payments", format!("must hold 1 to {} payments", limits::MAX_PAYMENTS));
            }
            (None, Some(split)) => {
                let errors_before = self.errors.len();
                let payments: Vec<_> = split
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, p)| self.payment(&format!("payments[{i}]"), p))
                    .collect();
                return (self.errors.len() == errors_before).then_some(payments);
            }
        }
        None
    }

    fn payment(&mut self, field: &str, payment: PaymentWire) -> Option<Payment> {
        let method = self.method(&format!("{field}.method"), payment.method);
        let amount = self.int(&format!("{field}.amount"), payment.amount, 0, limits::MAX_AMOUNT, true);
        let reference = self.text(&format!("{field}.reference"), payment.reference, limits::MAX_REFERENCE_CHARS);
        Some(Payment { method: method?, amount: Money::from_rupiah(amount?), reference })
    }

    pub(crate) fn method(&mut self, field: &str, method: Option<String>) -> Option<PaymentMethod> {
        match method.as_deref().map(PaymentMethod::parse) {
            None => self.fail(field, "is required"),
            Some(None) => {
                let allowed: Vec<_> = PaymentMethod::ALL.iter().map(|m| m.as_str()).collect();
                self.fail(field, format!("must be one of {}", allowed.join(", ")));
            }
            Some(Some(m)) => return Some(m),
        }
        None
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
