//! Property test of the refund engine (issue 22): random orders paid by
//! split tender (cash with change, QRIS, card), random partial refunds
//! without lines, then what a cancel gives back. Per method, paid − paid
//! back never goes below 0; the methods' remainders add up to what was
//! paid less what was refunded (what a cancel pays back,
//! `migrations/20261205000012_cancel_pays_back.up.sql`); and after every
//! unit is refunded, or after the cancel, every method has given back all
//! it took. The database half (every day's report equal to its rows and
//! unchanged by later days) is `tests/tests/report.rs` and
//! `tests/tests/cancel_pays_back.rs`.

use common::money::Money;
use common::order::PaymentMethod;
use common::pricing::refund::{Left, Refundable, allocate, left_after, refund_amount};
use proptest::prelude::*;

/// (units sold at each price; how the total is paid: cash's share in
/// percent (net of the change it handed back: what the engine is given),
/// QRIS's share of the rest in percent, card the rest; the total's offset
/// from the subtotal; refunds as units of line i).
type Scenario = (Vec<(i64, i64)>, (i64, i64), i64, Vec<(usize, i64)>);

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((1..=20i64, 100..=250_000i64), 1..5),
        (0..=100i64, 0..=100i64),
        -5_000..=5_000i64,
        prop::collection::vec((0..5usize, 1..=5i64), 0..8),
    )
}

fn sum(left: &Left) -> i64 {
    left.values().map(|m| m.rupiah()).sum()
}

proptest! {
    #[test]
    fn refunds_and_a_cancel_never_give_a_method_back_more_than_it_took(
        (lines, (cash_pct, qris_pct), adjust, refunds) in scenario()
    ) {
        let subtotal: i64 = lines.iter().map(|(units, price)| units * price).sum();
        // Discounts, charges and rounding move the total off the subtotal.
        let total = (subtotal + adjust).max(0);
        let cash = total * cash_pct / 100;
        let qris = (total - cash) * qris_pct / 100;
        let card = total - cash - qris;
        let paid: Left = [(PaymentMethod::Cash, cash), (PaymentMethod::Qris, qris), (PaymentMethod::Card, card)]
            .into_iter()
            .filter(|(_, m)| *m > 0)
            .map(|(k, m)| (k, Money::from_rupiah(m)))
            .collect();
        let mut sold: Vec<i64> = lines.iter().map(|l| l.0).collect();
        let mut refunded_back = Left::new();
        let mut order = Refundable { subtotal: Money::from_rupiah(subtotal), total: Money::from_rupiah(total), ..Default::default() };
        let mut refund_all: Vec<(usize, i64)> = refunds;
        // Half the time the refunds go on until every unit is back.
        if adjust % 2 == 0 {
            refund_all.extend(lines.iter().enumerate().map(|(i, l)| (i, l.0)));
        }
        for (line, units) in refund_all {
            let line = line % lines.len();
            let units = units.min(sold[line]);
            if units == 0 {
                continue;
            }
            sold[line] -= units;
            let gross = Money::from_rupiah(units * lines[line].1);
            let amount = refund_amount(&order, gross);
            let left = left_after(&paid, &refunded_back);
            let back = allocate(amount, &[], &left, false);
            prop_assert!(back.is_ok(), "{back:?}");
            let back = back.unwrap_or_default();
            prop_assert_eq!(back.iter().map(|b| b.1.rupiah()).sum::<i64>(), amount.rupiah());
            for (method, m) in back {
                let e = refunded_back.entry(method).or_insert(Money::ZERO);
                *e = Money::from_rupiah(e.rupiah() + m.rupiah());
            }
            order.refunded_gross = Money::from_rupiah(order.refunded_gross.rupiah() + gross.rupiah());
            order.refunded = Money::from_rupiah(order.refunded.rupiah() + amount.rupiah());
            for (method, given) in &refunded_back {
                let took = paid.get(method).map_or(0, |m| m.rupiah());
                prop_assert!(given.rupiah() <= took, "{method:?} gave back {given:?} of {took}");
            }
            // What a cancel would pay back now: each method's remainder.
            let left = left_after(&paid, &refunded_back);
            prop_assert_eq!(sum(&left), total - order.refunded.rupiah());
            prop_assert!(left.values().all(|m| m.rupiah() >= 0));
        }
        if sold.iter().all(|s| *s == 0) {
            prop_assert_eq!(order.refunded.rupiah(), total, "everything refunded pays back everything paid");
            prop_assert_eq!(sum(&left_after(&paid, &refunded_back)), 0);
            prop_assert_eq!(&refunded_back.into_iter().filter(|(_, m)| m.rupiah() > 0).collect::<Left>(), &paid);
        }
    }
}
