//! What a refund pays back, and by which methods. Pure integer arithmetic.
//!
//! Goods come back at their share of what the customer paid (discounts,
//! service charge, tax and cash rounding pro rata; `total` below is the
//! order's total plus its rounding): after a
//! refund, the order has refunded `⌊total × G / subtotal⌋` in all, `G` the
//! list price (price × quantity) of every unit refunded so far. A refund
//! pays the difference from what earlier refunds paid, so rounding never
//! adds up across refunds and refunding everything pays back what was paid.
//!
//! The money goes back the way it came (`allocate`): by default to each
//! payment method in proportion to what it has left (paid net of change,
//! less earlier refunds), and never more to a method than it has left; a
//! drawer never pays out cash it did not take, unless the shop lets cash
//! stand in for a card or QRIS payment.

use crate::money::Money;
use crate::order::PaymentMethod;
use crate::refund::RefundPayment;
use std::collections::BTreeMap;

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

/// What each payment method of an order can still give back: what it
/// took net of change, less what refunds paid back by it.
pub type Left = BTreeMap<PaymentMethod, Money>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("the refund's payments add up to {given}, the refund is {amount}")]
    Mismatch { given: i64, amount: i64 },
    #[error("{method} can give back {left} more; this refund asks it for {asked}")]
    ExceedsPaid { method: PaymentMethod, asked: i64, left: i64 },
}

/// What each method has left: what it took net of change (`paid`) less
/// what refunds gave back by it (`refunded`). Cash that stood in for a
/// non-cash method is taken off the others, the largest first, so the
/// whole is always what was paid less what was refunded.
pub fn left_after(paid: &Left, refunded: &Left) -> Left {
    let mut left: Left = paid.clone();
    let mut owed = 0i64;
    for (method, back) in refunded {
        let have = left.entry(*method).or_insert(Money::ZERO);
        let after = have.rupiah().saturating_sub(back.rupiah());
        owed = owed.saturating_add((-after).max(0));
        *have = Money::from_rupiah(after.max(0));
    }
    while owed > 0 {
        let Some((_, largest)) = left.iter_mut().filter(|(_, m)| m.rupiah() > 0).max_by_key(|(_, m)| m.rupiah()) else {
            break;
        };
        let take = owed.min(largest.rupiah());
        *largest = Money::from_rupiah(largest.rupiah() - take);
        owed -= take;
    }
    left
}

/// Split a refund of `amount` over the order's payment methods.
///
/// Without lines: in proportion to what each method has left (largest
/// remainders first, ties in method order), so every refund goes back the
/// way the money came, and the refund that brings the order to everything
/// paid gives back exactly what each method has left. With lines: as given
/// (a line without an amount takes the rest; they must add up to `amount`),
/// each method within what it has left; cash may stand in for non-cash
/// methods when the tenant allows it (`cash_for_noncash`), within what all
/// the methods have left.
pub fn allocate(
    amount: Money,
    payments: &[RefundPayment],
    left: &Left,
    cash_for_noncash: bool,
) -> Result<Vec<(PaymentMethod, Money)>, AllocationError> {
    if payments.is_empty() {
        return proportional(amount, left);
    }
    let given: i64 = payments.iter().filter_map(|p| p.amount).map(Money::rupiah).fold(0, i64::saturating_add);
    let rest = amount.rupiah() - given;
    let open = payments.iter().any(|p| p.amount.is_none());
    if rest < 0 || (rest != 0 && !open) {
        return Err(AllocationError::Mismatch { given, amount: amount.rupiah() });
    }
    let lines: Vec<(PaymentMethod, Money)> =
        payments.iter().map(|p| (p.method, p.amount.unwrap_or(Money::from_rupiah(rest)))).collect();
    within_left(&lines, left, cash_for_noncash)?;
    Ok(lines)
}

/// `amount` over the methods in proportion to what each has left.
fn proportional(amount: Money, left: &Left) -> Result<Vec<(PaymentMethod, Money)>, AllocationError> {
    let total: i128 = left.values().map(|m| i128::from(m.rupiah().max(0))).sum();
    let wanted = i128::from(amount.rupiah());
    if wanted == 0 {
        return Ok(Vec::new());
    }
    if wanted > total {
        let (method, most) =
            left.iter().max_by_key(|(_, m)| m.rupiah()).map_or((PaymentMethod::Cash, 0), |(k, v)| (*k, v.rupiah()));
        return Err(AllocationError::ExceedsPaid { method, asked: amount.rupiah(), left: most });
    }
    let mut shares: Vec<(PaymentMethod, i128, i128)> = left
        .iter()
        .map(|(method, m)| {
            let exact = wanted * i128::from(m.rupiah().max(0));
            (*method, exact / total, exact % total)
        })
        .collect();
    let mut short = wanted - shares.iter().map(|s| s.1).sum::<i128>();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2).then(a.cmp(b)));
    for index in by_remainder {
        if short == 0 {
            break;
        }
        if shares[index].2 > 0 {
            shares[index].1 += 1;
            short -= 1;
        }
    }
    Ok(shares
        .into_iter()
        .filter(|(_, share, _)| *share > 0)
        .map(|(method, share, _)| (method, Money::from_rupiah(i64::try_from(share).unwrap_or(i64::MAX))))
        .collect())
}

/// Each method's lines within what it has left (cash within what all have
/// left, after the other methods' lines, when it may stand in for them).
pub fn within_left(
    lines: &[(PaymentMethod, Money)],
    left: &Left,
    cash_for_noncash: bool,
) -> Result<(), AllocationError> {
    let mut asked: Left = BTreeMap::new();
    for (method, amount) in lines {
        let sum = asked.entry(*method).or_insert(Money::ZERO);
        *sum = Money::from_rupiah(sum.rupiah().saturating_add(amount.rupiah()));
    }
    let all_left: i64 = left.values().map(|m| m.rupiah().max(0)).fold(0, i64::saturating_add);
    let others_asked: i64 =
        asked.iter().filter(|(m, _)| **m != PaymentMethod::Cash).map(|(_, a)| a.rupiah()).fold(0, i64::saturating_add);
    for (method, amount) in &asked {
        let own = left.get(method).map_or(0, |m| m.rupiah().max(0));
        let limit = if *method == PaymentMethod::Cash && cash_for_noncash {
            all_left.saturating_sub(others_asked)
        } else {
            own
        };
        if amount.rupiah() > limit {
            return Err(AllocationError::ExceedsPaid { method: *method, asked: amount.rupiah(), left: limit });
        }
    }
    Ok(())
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

    fn left(pairs: &[(PaymentMethod, i64)]) -> Left {
        pairs.iter().map(|(m, a)| (*m, rp(*a))).collect()
    }

    #[test]
    fn payment_lines_must_add_up_and_one_may_take_the_rest() {
        let line = |method, amount: Option<i64>| RefundPayment { method, amount: amount.map(rp), reference: None };
        let (cash, card) = (PaymentMethod::Cash, PaymentMethod::Card);
        let paid = left(&[(cash, 1_000), (card, 1_000)]);
        let split = [line(card, Some(500)), line(cash, None)];
        assert_eq!(allocate(rp(700), &split, &paid, false), Ok(vec![(card, rp(500)), (cash, rp(200))]));
        assert!(matches!(allocate(rp(400), &split, &paid, false), Err(AllocationError::Mismatch { .. })));
        assert!(allocate(rp(700), &[line(cash, Some(600))], &paid, false).is_err());
        assert_eq!(allocate(rp(600), &[line(cash, Some(600))], &paid, false), Ok(vec![(cash, rp(600))]));
    }

    #[test]
    fn without_lines_each_method_gets_back_its_share_and_the_last_refund_what_is_left() {
        let (cash, card) = (PaymentMethod::Cash, PaymentMethod::Card);
        // 90,000 card + 10,000 cash: a full refund is 90,000 to the card and 10,000 cash, not 100,000 cash.
        assert_eq!(
            allocate(rp(100_000), &[], &left(&[(cash, 10_000), (card, 90_000)]), false),
            Ok(vec![(cash, rp(10_000)), (card, rp(90_000))])
        );
        // 100,000 card + 5,000 cash all given back as change: the drawer took nothing and pays nothing.
        assert_eq!(
            allocate(rp(100_000), &[], &left(&[(cash, 0), (card, 100_000)]), false),
            Ok(vec![(card, rp(100_000))])
        );
        // Thirds that do not divide: largest remainders, and three refunds give back exactly what each paid.
        let mut remaining = left(&[(cash, 1_001), (PaymentMethod::Qris, 1_000), (card, 999)]);
        let mut back: Left = BTreeMap::new();
        for amount in [1_000, 1_000, 1_000] {
            for (method, paid) in allocate(rp(amount), &[], &remaining, false).expect("within what is left") {
                let left = remaining.get_mut(&method).expect("a method that paid");
                *left = rp(left.rupiah() - paid.rupiah());
                let sum = back.entry(method).or_insert(Money::ZERO);
                *sum = rp(sum.rupiah() + paid.rupiah());
            }
        }
        assert_eq!(back, left(&[(cash, 1_001), (PaymentMethod::Qris, 1_000), (card, 999)]));
        assert!(remaining.values().all(|m| m.rupiah() == 0));
    }

    #[test]
    fn what_is_left_counts_cash_that_stood_in_against_the_other_methods() {
        let (cash, card) = (PaymentMethod::Cash, PaymentMethod::Card);
        let paid = left(&[(cash, 2_000), (card, 8_000)]);
        assert_eq!(left_after(&paid, &left(&[(cash, 500)])), left(&[(cash, 1_500), (card, 8_000)]));
        // 5,000 cash back for a card payment: the card has 5,000 less left.
        assert_eq!(left_after(&paid, &left(&[(cash, 5_000)])), left(&[(cash, 0), (card, 5_000)]));
    }

    #[test]
    fn a_line_may_not_take_more_than_its_method_has_left_unless_cash_stands_in() {
        let line = |method, amount: i64| RefundPayment { method, amount: Some(rp(amount)), reference: None };
        let (cash, qris) = (PaymentMethod::Cash, PaymentMethod::Qris);
        let paid = left(&[(cash, 2_000), (qris, 8_000)]);
        // A QRIS sale refunded in cash: refused by default.
        assert_eq!(
            allocate(rp(5_000), &[line(cash, 5_000)], &paid, false),
            Err(AllocationError::ExceedsPaid { method: cash, asked: 5_000, left: 2_000 })
        );
        assert_eq!(allocate(rp(5_000), &[line(cash, 5_000)], &paid, true), Ok(vec![(cash, rp(5_000))]));
        // Standing in never goes past what all the methods have left.
        assert!(allocate(rp(9_000), &[line(qris, 8_000), line(cash, 1_000)], &paid, true).is_ok());
        assert!(allocate(rp(10_500), &[line(qris, 8_000), line(cash, 2_500)], &paid, true).is_err());
        assert!(allocate(rp(9_000), &[line(qris, 9_000)], &paid, true).is_err());
    }
}
