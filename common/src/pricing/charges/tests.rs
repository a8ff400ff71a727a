//! The charges table: tax inclusive / exclusive / none × service charge
//! (taxed or not) × discounts × cash rounding, each figure worked by hand,
//! the smallest and largest amounts, and a total that rounds to 0.

use super::*;

const PPN_11: u32 = 1_100;
const PPN_12: u32 = 1_200;
const PB1: u32 = 1_000;

fn settings(tax_mode: TaxMode, tax_rate_bp: u32, service_charge_bp: u32, taxed: bool) -> ChargeSettings {
    ChargeSettings { tax_mode, tax_rate_bp, service_charge_bp, service_charge_taxed: taxed }
}

fn rp(rupiah: i64) -> Money {
    Money::from_rupiah(rupiah)
}

/// (what the order costs after discounts, settings, service, base, tax, total)
#[test]
fn charges_table() {
    use TaxMode::*;
    let table = [
        (10_000, settings(None, PPN_11, 0, false), 0, 10_000, 0, 10_000),
        (10_000, settings(Exclusive, PPN_11, 0, false), 0, 10_000, 1_100, 11_100),
        (10_000, settings(Exclusive, PPN_11, 500, true), 500, 10_500, 1_155, 11_655),
        (10_000, settings(Exclusive, PPN_11, 500, false), 500, 10_000, 1_100, 11_600),
        // 25,000 less a 2,501 discount: PB1 of 22,499 is 2,249.9, rounded down.
        (22_499, settings(Exclusive, PB1, 0, false), 0, 22_499, 2_249, 24_748),
        (10_000, settings(None, 0, 1_000, false), 1_000, 10_000, 0, 11_000),
        (11_100, settings(Inclusive, PPN_11, 0, false), 0, 10_000, 1_100, 11_100),
        // 10,000 / 1.11 = 9,009.009…: the net rounds down, the tax holds the rest.
        (10_000, settings(Inclusive, PPN_11, 0, false), 0, 9_009, 991, 10_000),
        // Inclusive with a taxed service charge equals the exclusive order it prices.
        (11_100, settings(Inclusive, PPN_11, 500, true), 500, 10_500, 1_155, 11_655),
        (10_000, settings(Inclusive, PPN_12, 1_000, false), 892, 8_928, 1_072, 10_892),
        (0, settings(Exclusive, PPN_12, 1_000, true), 0, 0, 0, 0),
        (1, settings(Exclusive, PPN_12, 1_000, true), 0, 1, 0, 1),
        (1, settings(Inclusive, PPN_12, 1_000, true), 0, 0, 1, 1),
        (
            1_000_000_000_000_000,
            settings(Exclusive, PPN_12, 1_000, true),
            100_000_000_000_000,
            1_100_000_000_000_000,
            132_000_000_000_000,
            1_232_000_000_000_000,
        ),
    ];
    for (n, s, service, base, tax, total) in table {
        let expected = Charges { service_charge: rp(service), tax_base: rp(base), tax: rp(tax), total: rp(total) };
        assert_eq!(charges(rp(n), &s), Some(expected), "{n} with {s:?}");
    }
}

#[test]
fn a_total_past_i64_is_an_overflow_not_a_wrap() {
    let s = settings(TaxMode::Exclusive, PPN_12, 0, false);
    assert_eq!(charges(rp(i64::MAX), &s), Option::None);
    let inclusive = settings(TaxMode::Inclusive, PPN_12, 0, false);
    assert_eq!(charges(rp(i64::MAX), &inclusive).map(|c| c.total), Some(rp(i64::MAX)));
}

#[test]
fn cash_rounding_table() {
    use CashRounding::*;
    let table = [
        (None, 11_655, 11_655, 0),
        (To100, 11_655, 11_700, 45),
        (To100, 11_650, 11_600, -50),
        (To100, 11_651, 11_700, 49),
        (To500, 11_655, 11_500, -155),
        (To500, 11_750, 11_500, -250),
        (To500, 11_751, 12_000, 249),
        (To100, 40, 0, -40),
        (To100, 50, 0, -50),
        (To100, 51, 100, 49),
        (To500, 0, 0, 0),
        (To500, i64::MAX, i64::MAX - i64::MAX % 500, -(i64::MAX % 500)),
    ];
    for (rounding, amount, due, line) in table {
        assert_eq!(rounding.cash_due(rp(amount)), (rp(due), rp(line)), "{amount} rounded {rounding:?}");
    }
}

proptest::proptest! {
    /// Whatever the settings, the receipt adds up: base + tax + an untaxed
    /// service charge = total, and cash rounding moves at most half a coin.
    #[test]
    fn the_receipt_always_adds_up(
        n in 0i64..2_000_000_000_000_000,
        mode in 0u8..3,
        tax in 0u32..=2_500,
        service in 0u32..=2_500,
        taxed: bool,
        coin in 0u8..3,
    ) {
        let mode = [TaxMode::None, TaxMode::Inclusive, TaxMode::Exclusive][usize::from(mode)];
        let c = charges(rp(n), &settings(mode, tax, service, taxed)).expect("no overflow in range");
        let untaxed = if taxed { Money::ZERO } else { c.service_charge };
        let sum = c.tax_base.rupiah() + c.tax.rupiah() + untaxed.rupiah();
        proptest::prop_assert_eq!(sum, c.total.rupiah());
        proptest::prop_assert!(c.total >= rp(n) && c.tax >= Money::ZERO && c.service_charge >= Money::ZERO);
        let rounding = [CashRounding::None, CashRounding::To100, CashRounding::To500][usize::from(coin)];
        let (due, line) = rounding.cash_due(c.total);
        proptest::prop_assert_eq!(due.rupiah() - line.rupiah(), c.total.rupiah());
        proptest::prop_assert!(line.rupiah().abs() * 2 <= rounding.step());
    }
}
