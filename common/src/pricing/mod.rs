//! Pricing: pure functions from an order's lines, the tenant's discount
//! rules, its member and its manual discount to the order's money. No I/O.
//! The worker's commit is the one authority on an order's money; ingest may
//! call this only to validate or quote.
//!
//! Order of application:
//! 1. subtotal = Σ line price × quantity;
//! 2. automatic rules active at the time of sale, summed, in the order
//!    amount-based, product-based (a product gets only its largest
//!    product-based rule), quantity-based, bundle; ties by rule id;
//! 3. the member's discount: a percentage of (subtotal − automatic
//!    discounts) or a fixed amount; an unknown or inactive member gives none
//!    (the breakdown says so with a zero-amount entry);
//! 4. the manual discount;
//! 5. total = subtotal − discounts.
//!
//! Automatic and member discounts are capped at what remains of the order:
//! a promotion can make an order free, never negative, and the breakdown
//! shows the capped amount. A manual discount larger than what remains
//! rejects the order (`negative_total`). A total of exactly 0 is valid.
//!
//! Rounding: every percentage application is rounded **down** to a whole
//! rupiah, per application (per line for line discounts, per order for
//! order discounts).

mod apply;
pub mod charge_history;
pub mod charges;
pub mod refund;
pub mod refund_charges;
pub mod refund_quote;
pub mod refund_rows;
pub mod rules;
pub mod stored;
pub mod tender;

pub use charge_history::{ChargeHistory, TenantCharges};
pub use charges::{CashRounding, ChargeSettings, Charges, TaxMode, charges};
pub use rules::{DiscountRule, Member, Rate, RuleKind, percent_of};

use crate::money::Money;
use crate::order::OrderLine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything pricing needs about one order.
#[derive(Clone, Debug)]
pub struct PricingInput<'a> {
    pub lines: &'a [OrderLine],
    /// The tenant's rules (inactive and out-of-window ones are skipped).
    pub rules: &'a [DiscountRule],
    pub member: &'a Member,
    /// The order's manual discount in rupiah.
    pub manual_discount: Money,
    /// The time of sale, which decides whether a rule is in its window.
    pub sale_time: DateTime<Utc>,
}

impl<'a> PricingInput<'a> {
    /// Lines and a manual discount only (no rules, no member).
    pub fn plain(lines: &'a [OrderLine], manual_discount: Money, sale_time: DateTime<Utc>) -> Self {
        Self { lines, rules: &[], member: &Member::None, manual_discount, sale_time }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    AmountBased,
    ProductBased,
    QuantityBased,
    Bundle,
    Member,
    Manual,
}

/// One discount as applied (after capping).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedDiscount {
    pub kind: DiscountKind,
    pub name: String,
    pub amount: Money,
    /// The order lines (0-based) it applied to; empty for order-level discounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedOrder {
    /// Per line: price × quantity.
    pub line_totals: Vec<Money>,
    pub subtotal: Money,
    pub discounts: Vec<AppliedDiscount>,
    pub discount_total: Money,
    pub total: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the manual discount of {discount} exceeds the {remaining} left to pay")]
    NegativeTotal { discount: Money, remaining: Money },
    #[error("the order's amounts overflow")]
    Overflow,
}

/// Price one order.
pub fn price_order(input: &PricingInput<'_>) -> Result<PricedOrder, PricingError> {
    let line_totals = input
        .lines
        .iter()
        .map(|line| line.price.checked_mul(line.quantity))
        .collect::<Option<Vec<_>>>()
        .ok_or(PricingError::Overflow)?;
    let subtotal = Money::checked_sum(line_totals.iter().copied()).ok_or(PricingError::Overflow)?;
    let mut ledger = apply::Ledger::new(subtotal);
    apply::automatic(&mut ledger, input, &line_totals)?;
    apply::member(&mut ledger, input.member)?;
    if input.manual_discount > ledger.remaining {
        return Err(PricingError::NegativeTotal { discount: input.manual_discount, remaining: ledger.remaining });
    }
    if input.manual_discount > Money::ZERO {
        ledger.take(DiscountKind::Manual, "Manual discount".to_owned(), input.manual_discount, Vec::new());
    }
    let discount_total = subtotal.checked_sub(ledger.remaining).ok_or(PricingError::Overflow)?;
    Ok(PricedOrder { line_totals, subtotal, discounts: ledger.discounts, discount_total, total: ledger.remaining })
}

#[cfg(test)]
mod tests;
