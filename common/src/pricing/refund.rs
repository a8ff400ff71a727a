//! What a refund pays back, and by which methods. Pure integer arithmetic.
//!
//! Goods come back at their share of what the customer paid (discounts,
//! service charge, tax and cash rounding pro rata; `total` below is the
//! order's total plus its rounding): after a
//! refund, the order has refunded `⌊total × G / subtotal⌋` in all, `G` the
//! list price (price × quantity) of every unit refunded so far. A refund
//! pays the difference from what earlier refunds paid, so rounding never
//! adds up across refunds and refunding everything pays back what was paid.

use crate::money::Money;
use crate::order::PaymentMethod;
use crate::refund::RefundPayment;

/// The order's money as committed, and what its refunds took so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refundable {
    pub subtotal: Money,
    pub total: Money,
    /// List price of the units refunded so far.
    pub refunded_gross: Money,
    /// Paid back so far.
    pub refunded: Money,
}

/// What a refund of goods with list price `gross` pays back.
pub fn refund_amount(order: &Refundable, gross: Money) -> Money {
    let subtotal = i128::from(order.subtotal.rupiah());
    if subtotal <= 0 {
        return Money::ZERO;
    }
    let cumulative = i128::from(order.refunded_gross.rupiah()) + i128::from(gross.rupiah());
    let owed = i128::from(order.total.rupiah()) * cumulative.min(subtotal) / subtotal;
    let amount = owed - i128::from(order.refunded.rupiah());
    Money::from_rupiah(i64::try_from(amount.max(0)).unwrap_or(i64::MAX))
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the refund's payments add up to {given}, the refund is {amount}")]
pub struct PaymentsMismatch {
    pub given: i64,
    pub amount: i64,
}

/// Split `amount` over the refund's payment lines: lines with an amount
/// take it, a line without one takes the rest; no lines: all of it by
/// `default_method`. The lines must add up to `amount` exactly.
pub fn allocate(
    amount: Money,
    payments: &[RefundPayment],
    default_method: PaymentMethod,
) -> Result<Vec<(PaymentMethod, Money)>, PaymentsMismatch> {
    if payments.is_empty() {
        return Ok(vec![(default_method, amount)]);
    }
    let given: i64 = payments.iter().filter_map(|p| p.amount).map(Money::rupiah).fold(0, i64::saturating_add);
    let rest = amount.rupiah() - given;
    let open = payments.iter().any(|p| p.amount.is_none());
    if rest < 0 || (rest != 0 && !open) {
        return Err(PaymentsMismatch { given, amount: amount.rupiah() });
    }
    Ok(payments.iter().map(|p| (p.method, p.amount.unwrap_or(Money::from_rupiah(rest)))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(n: i64) -> Money {
        Money::from_rupiah(n)
    }

    #[test]
    fn refunds_share_the_total_and_a_full_refund_pays_it_all_back() {
        // 5 × 10,000 less 10 %, plus 11 % tax: total 49,950.
        let mut order = Refundable { subtotal: rp(50_000), total: rp(49_950), ..Default::default() };
        let mut paid = Vec::new();
        for _ in 0..5 {
            let amount = refund_amount(&order, rp(10_000));
            paid.push(amount.rupiah());
            order.refunded_gross = order.refunded_gross.checked_add(rp(10_000)).unwrap_or_default();
            order.refunded = order.refunded.checked_add(amount).unwrap_or_default();
        }
        assert_eq!(paid, [9_990, 9_990, 9_990, 9_990, 9_990]);
        assert_eq!(order.refunded, rp(49_950));
    }

    #[test]
    fn rounding_never_adds_up_across_refunds() {
        let mut order = Refundable { subtotal: rp(3), total: rp(10), ..Default::default() };
        let amounts: Vec<i64> = (0..3)
            .map(|_| {
                let a = refund_amount(&order, rp(1));
                order.refunded_gross = order.refunded_gross.checked_add(rp(1)).unwrap_or_default();
                order.refunded = order.refunded.checked_add(a).unwrap_or_default();
                a.rupiah()
            })
            .collect();
        assert_eq!(amounts, [3, 3, 4]);
        assert_eq!(refund_amount(&Refundable { subtotal: rp(0), ..order }, rp(5)), rp(0));
    }

    #[test]
    fn payment_lines_must_add_up_and_one_may_take_the_rest() {
        let line = |method, amount: Option<i64>| RefundPayment { method, amount: amount.map(rp), reference: None };
        let cash = PaymentMethod::Cash;
        assert_eq!(allocate(rp(700), &[], PaymentMethod::Qris), Ok(vec![(PaymentMethod::Qris, rp(700))]));
        let split = [line(PaymentMethod::Card, Some(500)), line(cash, None)];
        assert_eq!(allocate(rp(700), &split, cash), Ok(vec![(PaymentMethod::Card, rp(500)), (cash, rp(200))]));
        assert!(allocate(rp(400), &split, cash).is_err());
        assert!(allocate(rp(700), &[line(cash, Some(600))], cash).is_err());
        assert_eq!(allocate(rp(600), &[line(cash, Some(600))], cash), Ok(vec![(cash, rp(600))]));
    }
}
