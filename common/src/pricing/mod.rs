//! Pricing: pure functions from an order's lines and discounts to its money.
//! No I/O. The worker's commit is the one authority on an order's money;
//! ingest may call this only to validate or quote.
//!
//! Order of application: subtotal = Σ price × quantity; then the manual
//! discount; total = subtotal − discounts. A manual discount larger than
//! what remains rejects the order (`negative_total`): a cashier's typo must
//! not give goods away. A total of exactly 0 is valid.
//! (Automatic rules and member discounts slot in before the manual discount;
//! see `PricingInput`.)

use crate::money::Money;
use crate::order::OrderLine;
use serde::{Deserialize, Serialize};

/// Everything pricing needs about one order.
#[derive(Clone, Debug)]
pub struct PricingInput<'a> {
    pub lines: &'a [OrderLine],
    /// The order's manual discount in rupiah.
    pub manual_discount: Money,
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

/// One discount as applied (after capping), as the order shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedDiscount {
    pub kind: DiscountKind,
    pub name: String,
    pub amount: Money,
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
    let mut discounts = Vec::new();
    let remaining = subtotal;
    if input.manual_discount > remaining {
        return Err(PricingError::NegativeTotal {
            discount: input.manual_discount,
            remaining,
        });
    }
    if input.manual_discount > Money::ZERO {
        discounts.push(AppliedDiscount {
            kind: DiscountKind::Manual,
            name: "Manual discount".to_owned(),
            amount: input.manual_discount,
        });
    }
    let discount_total =
        Money::checked_sum(discounts.iter().map(|d| d.amount)).ok_or(PricingError::Overflow)?;
    let total = subtotal
        .checked_sub(discount_total)
        .ok_or(PricingError::Overflow)?;
    Ok(PricedOrder {
        line_totals,
        subtotal,
        discounts,
        discount_total,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProductId;

    fn line(price: i64, quantity: u32) -> OrderLine {
        OrderLine {
            product_id: ProductId::generate(),
            quantity,
            price: Money::from_rupiah(price),
        }
    }

    fn price(lines: &[OrderLine], manual: i64) -> Result<PricedOrder, PricingError> {
        price_order(&PricingInput {
            lines,
            manual_discount: Money::from_rupiah(manual),
        })
    }

    #[test]
    fn subtotal_minus_manual_discount() {
        let priced = price(&[line(10_000, 2), line(3_500, 1)], 1_500).unwrap();
        assert_eq!(priced.subtotal.rupiah(), 23_500);
        assert_eq!(priced.discount_total.rupiah(), 1_500);
        assert_eq!(priced.total.rupiah(), 22_000);
        assert_eq!(priced.discounts[0].kind, DiscountKind::Manual);
    }

    #[test]
    fn total_of_zero_is_valid_and_more_is_negative_total() {
        assert_eq!(price(&[line(5_000, 1)], 5_000).unwrap().total, Money::ZERO);
        assert!(matches!(
            price(&[line(5_000, 1)], 5_001),
            Err(PricingError::NegativeTotal { .. })
        ));
    }

    #[test]
    fn no_discount_lists_no_discounts() {
        assert!(price(&[line(1, 1)], 0).unwrap().discounts.is_empty());
    }
}
