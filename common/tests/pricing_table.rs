//! The whole money of a receipt, from the lines to the cash due: discounts
//! (rules and manual), service charge, tax inclusive / exclusive / none and
//! cash rounding, each row worked by hand; the smallest and the largest
//! orders the contract allows, and totals that round to nothing.

use chrono::Utc;
use common::ids::ProductId;
use common::money::Money;
use common::order::{OrderLine, Payment, PaymentMethod};
use common::pricing::tender::settle;
use common::pricing::{
    CashRounding, ChargeSettings, DiscountRule, Member, PricingInput, Rate, RuleKind, TaxMode, charges, price_order,
};

struct Row {
    /// (lines, quantity, price) and a manual discount.
    lines: (usize, u32, i64),
    manual: i64,
    /// An amount-based rule of this many basis points, when set.
    rule_bp: Option<u32>,
    tax: (TaxMode, u32),
    service: (u32, bool),
    coin: CashRounding,
    /// subtotal, discounts, service, base, tax, total, cash due, rounding
    want: [i64; 8],
}

fn receipt(row: &Row) -> [i64; 8] {
    let (count, quantity, price) = row.lines;
    let lines: Vec<OrderLine> = (0..count)
        .map(|_| OrderLine { product_id: ProductId::generate(), quantity, price: Money::from_rupiah(price) })
        .collect();
    let rules: Vec<DiscountRule> = row
        .rule_bp
        .map(|bp| DiscountRule {
            id: uuid::Uuid::now_v7(),
            name: "promo".into(),
            kind: RuleKind::AmountBased { min_amount: Money::ZERO },
            rate: Rate::Percentage(bp),
            starts_at: None,
            ends_at: None,
            is_active: true,
        })
        .into_iter()
        .collect();
    let input = PricingInput {
        lines: &lines,
        rules: &rules,
        member: &Member::None,
        manual_discount: Money::from_rupiah(row.manual),
        sale_time: Utc::now(),
    };
    let priced = price_order(&input).expect("priced");
    let settings = ChargeSettings {
        tax_mode: row.tax.0,
        tax_rate_bp: row.tax.1,
        service_charge_bp: row.service.0,
        service_charge_taxed: row.service.1,
    };
    let c = charges(priced.total, &settings).expect("no overflow");
    let (due, _) = row.coin.cash_due(c.total);
    let cash = [Payment { method: PaymentMethod::Cash, amount: due, reference: None }];
    let tender = settle(c.total, &cash, row.coin).expect("cash due pays it");
    assert_eq!(tender.change, Money::ZERO);
    [priced.subtotal, priced.discount_total, c.service_charge, c.tax_base, c.tax, c.total, due, tender.rounding]
        .map(Money::rupiah)
}

#[test]
fn receipts_table() {
    use CashRounding::{None as Exact, To100, To500};
    use TaxMode::{Exclusive, Inclusive, None};
    #[rustfmt::skip]
    let rows = [
        // 30,000 + 5 % taxed service 1,500; PPN 11 % of 31,500 = 3,465; cash 34,965 → 35,000.
        Row { lines: (1, 3, 10_000), manual: 0, rule_bp: Option::None, tax: (Exclusive, 1_100), service: (500, true),
              coin: To100, want: [30_000, 0, 1_500, 31_500, 3_465, 34_965, 35_000, 35] },
        // A manual 1,000 off: 29,000 + 1,450; 11 % of 30,450 = 3,349.5 → 3,349.
        Row { lines: (1, 3, 10_000), manual: 1_000, rule_bp: Option::None, tax: (Exclusive, 1_100), service: (500, true),
              coin: To100, want: [30_000, 1_000, 1_450, 30_450, 3_349, 33_799, 33_800, 1] },
        // A 10 % rule, prices holding PPN 11 %: 99,900 is 90,000 + 9,900 tax; untaxed service 10 % of the net.
        Row { lines: (2, 1, 55_500), manual: 0, rule_bp: Some(1_000), tax: (Inclusive, 1_100), service: (1_000, false),
              coin: To500, want: [111_000, 11_100, 9_000, 90_000, 9_900, 108_900, 109_000, 100] },
        // PB1 10 % with its taxed service charge, inclusive: 12,100 holds 11,000 + 1,100.
        Row { lines: (1, 1, 12_100), manual: 0, rule_bp: Option::None, tax: (Inclusive, 1_000), service: (1_000, true),
              coin: Exact, want: [12_100, 0, 1_100, 12_100, 1_210, 13_310, 13_310, 0] },
        // No tax, a service charge only, rounded to Rp 500 (an exact half rounds down).
        Row { lines: (1, 1, 22_500), manual: 0, rule_bp: Option::None, tax: (None, 1_100), service: (1_000, true),
              coin: To500, want: [22_500, 0, 2_250, 24_750, 0, 24_750, 24_500, -250] },
        // The smallest: a free item, and one rupiah that rounds to nothing.
        Row { lines: (1, 1, 0), manual: 0, rule_bp: Option::None, tax: (Exclusive, 1_200), service: (1_000, true),
              coin: To100, want: [0; 8] },
        Row { lines: (1, 1, 1), manual: 0, rule_bp: Option::None, tax: (None, 0), service: (0, false),
              coin: To500, want: [1, 0, 0, 1, 0, 1, 0, -1] },
        // 100 less 60 off, PB1 10 %: 44 due in cash rounds to 0.
        Row { lines: (1, 1, 100), manual: 60, rule_bp: Option::None, tax: (Exclusive, 1_000), service: (0, false),
              coin: To100, want: [100, 60, 0, 40, 4, 44, 0, -44] },
        // A 100 % promotion: nothing to pay, nothing charged.
        Row { lines: (3, 2, 7_500), manual: 0, rule_bp: Some(10_000), tax: (Exclusive, 1_100), service: (500, true),
              coin: To500, want: [45_000, 45_000, 0, 0, 0, 0, 0, 0] },
        // The largest the contract allows: 200 lines of 10,000 at Rp 10^12, PPN 12 %, 10 % service.
        Row { lines: (200, 10_000, 1_000_000_000_000), manual: 0, rule_bp: Option::None, tax: (Exclusive, 1_200),
              service: (1_000, true), coin: To100,
              want: [2_000_000_000_000_000_000, 0, 200_000_000_000_000_000, 2_200_000_000_000_000_000,
                     264_000_000_000_000_000, 2_464_000_000_000_000_000, 2_464_000_000_000_000_000, 0] },
    ];
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(receipt(row), row.want, "row {i}");
    }
}
