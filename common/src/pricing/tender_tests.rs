use super::*;

fn pay(method: PaymentMethod, amount: i64) -> Payment {
    Payment { method, amount: Money::from_rupiah(amount), reference: None }
}

fn rp(n: i64) -> Money {
    Money::from_rupiah(n)
}

use PaymentMethod::{Card, Cash, Qris};

#[test]
fn three_payments_cover_the_total_and_cash_gives_the_change() {
    let payments = [pay(Qris, 20_000), pay(Card, 15_000), pay(Cash, 20_000)];
    let t = settle(rp(51_650), &payments, CashRounding::To100).unwrap_or_default();
    // Cash due 16,650 rounds to 16,600 (an exact half rounds down): rounding −50, change 3,400.
    assert_eq!((t.rounding, t.change), (rp(-50), rp(3_400)));
    assert_eq!(t.line_change, [rp(0), rp(0), rp(3_400)]);
}

#[test]
fn an_underpaid_split_and_an_overpaying_card_are_refused() {
    let short = [pay(Qris, 20_000), pay(Card, 15_000)];
    assert_eq!(settle(rp(36_000), &short, CashRounding::None), Err(TenderError::Short { paid: 35_000, due: 36_000 }));
    let short_cash = [pay(Qris, 20_000), pay(Cash, 15_000)];
    assert!(matches!(settle(rp(36_000), &short_cash, CashRounding::None), Err(TenderError::CashShort { .. })));
    let over = [pay(Card, 40_000), pay(Cash, 0)];
    assert!(matches!(settle(rp(36_000), &over, CashRounding::None), Err(TenderError::NonCashOverpays { .. })));
}

#[test]
fn rounding_applies_to_the_cash_due_only() {
    // Rp 500 coins: 12,300 cash due rounds to 12,500 (nearer), the card part is exact.
    let t = settle(rp(22_300), &[pay(Card, 10_000), pay(Cash, 12_500)], CashRounding::To500).unwrap_or_default();
    assert_eq!((t.rounding, t.change), (rp(200), rp(0)));
    let card_only = settle(rp(22_300), &[pay(Card, 22_300)], CashRounding::To500).unwrap_or_default();
    assert_eq!(card_only.rounding, rp(0));
}

#[test]
fn a_total_that_rounds_to_zero_is_paid_with_no_cash() {
    let t = settle(rp(40), &[pay(Cash, 0)], CashRounding::To100).unwrap_or_default();
    assert_eq!((t.rounding, t.change), (rp(-40), rp(0)));
}

#[test]
fn change_comes_from_the_last_cash_lines_first() {
    let t =
        settle(rp(1_000), &[pay(Cash, 5_000), pay(Qris, 0), pay(Cash, 2_000)], CashRounding::None).unwrap_or_default();
    assert_eq!(t.line_change, [rp(4_000), rp(0), rp(2_000)]);
}
