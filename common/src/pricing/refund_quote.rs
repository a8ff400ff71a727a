//! A refund of some of a committed order's items, decided against what the
//! order sold and what its refunds took so far: the units (never more than
//! sold), the amount (`refund::refund_amount`), how it goes back by method
//! (`refund::allocate`) and its part of the order's charges. The workers'
//! commit decides a refund with it; ingest quotes one with it
//! (`POST /api/orders/{id}/refunds/quote`) and refuses at the door a refund
//! whose payment lines cannot match, so both give the same figures from the
//! same rows.

use super::refund::{AllocationError, Left, Refundable, allocate, left_after, refund_amount};
use super::refund_charges::{Charged, refund_charges};
use crate::ids::ProductId;
use crate::money::Money;
use crate::order::PaymentMethod;
use crate::refund::{RefundLine, RefundPayment};
use std::collections::BTreeMap;

/// What a committed order sold and what its refunds took so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sold {
    pub subtotal: Money,
    /// What the customer paid (total + cash rounding): all refunds can give back.
    pub total: Money,
    /// Per product: units sold and their list price (price × quantity).
    pub lines: BTreeMap<ProductId, (i64, i64)>,
    /// Per product: units refunded so far.
    pub refunded_units: BTreeMap<ProductId, i64>,
    pub refunded: Money,
    /// What each payment method can still give back (paid net of change,
    /// less earlier refunds by it).
    pub left: Left,
    /// The tenant lets cash stand in for non-cash methods.
    pub cash_for_noncash: bool,
    /// The order's discounts, service charge, tax base and tax, and what
    /// its refunds gave back of them so far.
    pub charged: Charged,
    pub charged_back: Charged,
}

/// What one refund gives back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub amount: Money,
    /// By method, in the refund's line order (or method order when the
    /// money goes back in proportion); methods that give nothing left out.
    pub back: Vec<(PaymentMethod, Money)>,
    /// Its part of the order's discounts, service charge, tax base and tax.
    pub charged: Charged,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("product {product}: the order sold {sold}, {refunded} already refunded; this refund asks for {asked}")]
    ExceedsSold { product: ProductId, sold: i64, refunded: i64, asked: u32 },
    /// The payment lines: `Mismatch` carries the amount the refund pays.
    #[error(transparent)]
    Payments(#[from] AllocationError),
}

impl Sold {
    /// List price of `units` (per product, pro rata to its lines).
    pub fn gross_of(&self, units: &BTreeMap<ProductId, i64>) -> i64 {
        let share = |(product, &n): (&ProductId, &i64)| match self.lines.get(product) {
            Some(&(sold, gross)) if sold > 0 => i64::try_from(i128::from(gross) * i128::from(n) / i128::from(sold)),
            _ => Ok(0),
        };
        units.iter().map(share).map(|g| g.unwrap_or(i64::MAX)).fold(0, i64::saturating_add)
    }

    /// What refunding `items` pays back through `payments` (none: the
    /// way the money came, in proportion), or why it cannot.
    pub fn quote(&self, items: &[RefundLine], payments: &[RefundPayment]) -> Result<Quote, QuoteError> {
        let mut after = self.refunded_units.clone();
        for line in items {
            let sold = self.lines.get(&line.product_id).map_or(0, |l| l.0);
            let units = after.entry(line.product_id).or_default();
            if *units + i64::from(line.quantity) > sold {
                let (product, refunded, asked) = (line.product_id, *units, line.quantity);
                return Err(QuoteError::ExceedsSold { product, sold, refunded, asked });
            }
            *units += i64::from(line.quantity);
        }
        let before = self.gross_of(&self.refunded_units);
        let order = Refundable {
            subtotal: self.subtotal,
            total: self.total,
            refunded_gross: Money::from_rupiah(before),
            refunded: self.refunded,
        };
        let gross_after = self.gross_of(&after);
        let amount = refund_amount(&order, Money::from_rupiah(gross_after.saturating_sub(before)));
        let charged = refund_charges(&self.charged, self.subtotal, Money::from_rupiah(gross_after), &self.charged_back);
        let back = allocate(amount, payments, &self.left, self.cash_for_noncash)?;
        Ok(Quote { amount, back, charged })
    }

    /// The order after a refund of `items` that gave back `quote`.
    pub fn apply(&mut self, items: &[RefundLine], quote: &Quote) {
        for line in items {
            *self.refunded_units.entry(line.product_id).or_default() += i64::from(line.quantity);
        }
        self.refunded = self.refunded.checked_add(quote.amount).unwrap_or(self.total);
        let mut given = Left::new();
        for (method, paid) in &quote.back {
            let sum = given.entry(*method).or_insert(Money::ZERO);
            *sum = Money::from_rupiah(sum.rupiah().saturating_add(paid.rupiah()));
        }
        self.left = left_after(&self.left, &given);
        self.charged_back = self.charged_back.plus(&quote.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn rp(n: i64) -> Money {
        Money::from_rupiah(n)
    }

    /// Five units at 10,000, 11 % exclusive PPN: 55,500 paid, 50,000 by card.
    fn five() -> (Sold, ProductId) {
        let product = ProductId(Uuid::nil());
        let sold = Sold {
            subtotal: rp(50_000),
            total: rp(55_500),
            lines: BTreeMap::from([(product, (5, 50_000))]),
            left: Left::from([(PaymentMethod::Card, rp(50_000)), (PaymentMethod::Cash, rp(5_500))]),
            charged: Charged { tax_base: rp(50_000), tax: rp(5_500), ..Charged::default() },
            ..Sold::default()
        };
        (sold, product)
    }

    #[test]
    fn a_quote_then_its_refund_and_the_rest_pay_back_everything_the_way_it_came() {
        let (mut sold, product) = five();
        let one = [RefundLine { product_id: product, quantity: 1 }];
        let quote = sold.quote(&one, &[]).unwrap();
        assert_eq!(quote.amount, rp(11_100));
        assert_eq!(quote.back, [(PaymentMethod::Cash, rp(1_100)), (PaymentMethod::Card, rp(10_000))]);
        assert_eq!(quote.charged.tax, rp(1_100));
        sold.apply(&one, &quote);
        let rest = [RefundLine { product_id: product, quantity: 4 }];
        let last = sold.quote(&rest, &[]).unwrap();
        assert_eq!(last.amount, rp(44_400));
        sold.apply(&rest, &last);
        assert_eq!(sold.refunded, rp(55_500));
        assert!(sold.left.values().all(|m| *m == Money::ZERO), "{:?}", sold.left);
        let again = sold.quote(&one, &[]);
        assert!(matches!(again, Err(QuoteError::ExceedsSold { sold: 5, refunded: 5, asked: 1, .. })), "{again:?}");
    }

    #[test]
    fn lines_that_do_not_add_up_say_what_the_refund_pays() {
        let (sold, product) = five();
        let one = [RefundLine { product_id: product, quantity: 1 }];
        let wrong = [RefundPayment { method: PaymentMethod::Card, amount: Some(rp(11_000)), reference: None }];
        let refused = sold.quote(&one, &wrong);
        assert_eq!(refused, Err(QuoteError::Payments(AllocationError::Mismatch { given: 11_000, amount: 11_100 })));
    }
}
