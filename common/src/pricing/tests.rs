//! Table-driven cases for the pricing engine. Each case is an order (lines
//! of products A–D), the tenant's rules, a member, a manual discount and
//! the expected breakdown.

use super::*;
use crate::ids::ProductId;
use chrono::{Duration, TimeZone};
use uuid::Uuid;

const A: u8 = 1;
const B: u8 = 2;
const C: u8 = 3;
const D: u8 = 4;

fn product(p: u8) -> ProductId {
    ProductId(Uuid::from_u128(u128::from(p)))
}

fn sale_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().unwrap_or_default()
}

fn pct(bp: u32) -> Rate {
    Rate::Percentage(bp)
}

fn fix(rupiah: i64) -> Rate {
    Rate::Fixed(Money::from_rupiah(rupiah))
}

fn rule(id: u128, name: &str, kind: RuleKind, rate: Rate) -> DiscountRule {
    DiscountRule {
        id: Uuid::from_u128(id),
        name: name.into(),
        kind,
        rate,
        starts_at: None,
        ends_at: None,
        is_active: true,
    }
}

fn amount(min: i64, rate: Rate) -> DiscountRule {
    rule(10, "Belanja hemat", RuleKind::AmountBased { min_amount: Money::from_rupiah(min) }, rate)
}

fn on_products(id: u128, products: &[u8], rate: Rate) -> DiscountRule {
    rule(
        id,
        &format!("Promo {id}"),
        RuleKind::ProductBased { products: products.iter().map(|p| product(*p)).collect() },
        rate,
    )
}

fn quantity(min: u32, products: &[u8], rate: Rate) -> DiscountRule {
    let products = products.iter().map(|p| product(*p)).collect();
    rule(30, "Beli banyak", RuleKind::QuantityBased { min_quantity: min, products }, rate)
}

fn bundle(products: &[u8], discounted: u8, rate: Rate) -> DiscountRule {
    let products = products.iter().map(|p| product(*p)).collect();
    rule(40, "Paket", RuleKind::Bundle { products, discounted: product(discounted) }, rate)
}

/// A rule active from `start` to `end` hours around the sale.
fn window(mut r: DiscountRule, start: Option<i64>, end: Option<i64>) -> DiscountRule {
    r.starts_at = start.map(|h| sale_time() + Duration::hours(h));
    r.ends_at = end.map(|h| sale_time() + Duration::hours(h));
    r
}

fn inactive(mut r: DiscountRule) -> DiscountRule {
    r.is_active = false;
    r
}

fn member(rate: Option<Rate>) -> Member {
    Member::Active { name: "Pak Budi".into(), rate }
}

enum Expect {
    /// subtotal, (kind, amount) per discount, total
    Priced(i64, &'static [(&'static str, i64)], i64),
    NegativeTotal,
}

struct Case {
    name: &'static str,
    lines: &'static [(u8, u32, i64)],
    rules: Vec<DiscountRule>,
    member: Member,
    manual: i64,
    expect: Expect,
}

fn case(name: &'static str, lines: &'static [(u8, u32, i64)], rules: Vec<DiscountRule>, expect: Expect) -> Case {
    Case { name, lines, rules, member: Member::None, manual: 0, expect }
}

use Expect::{NegativeTotal, Priced};

fn cases() -> Vec<Case> {
    let mut cases = vec![
        case("no discounts", &[(A, 2, 10_000)], vec![], Priced(20_000, &[], 20_000)),
        case(
            "amount-based percentage reached",
            &[(A, 5, 10_000)],
            vec![amount(50_000, pct(1000))],
            Priced(50_000, &[("amount_based", 5_000)], 45_000),
        ),
        case(
            "amount-based not reached",
            &[(A, 4, 10_000)],
            vec![amount(50_000, pct(1000))],
            Priced(40_000, &[], 40_000),
        ),
        case(
            "amount-based exactly at the minimum",
            &[(A, 1, 50_000)],
            vec![amount(50_000, fix(7_500))],
            Priced(50_000, &[("amount_based", 7_500)], 42_500),
        ),
        case(
            "amount-based fixed once per order",
            &[(A, 3, 20_000), (B, 2, 5_000)],
            vec![amount(0, fix(5_000))],
            Priced(70_000, &[("amount_based", 5_000)], 65_000),
        ),
        case(
            "amount-based fixed capped at the order",
            &[(A, 1, 3_000)],
            vec![amount(0, fix(5_000))],
            Priced(3_000, &[("amount_based", 3_000)], 0),
        ),
        case(
            "product-based percentage of the line",
            &[(A, 2, 10_000), (B, 1, 8_000)],
            vec![on_products(20, &[A], pct(2500))],
            Priced(28_000, &[("product_based", 5_000)], 23_000),
        ),
        case(
            "product-based fixed per unit",
            &[(A, 3, 10_000)],
            vec![on_products(20, &[A], fix(1_000))],
            Priced(30_000, &[("product_based", 3_000)], 27_000),
        ),
        case(
            "product-based fixed capped at the line",
            &[(A, 2, 1_000), (B, 1, 9_000)],
            vec![on_products(20, &[A], fix(1_500))],
            Priced(11_000, &[("product_based", 2_000)], 9_000),
        ),
        case(
            "product-based: only the largest rule per product",
            &[(A, 2, 10_000)],
            vec![on_products(20, &[A], pct(1000)), on_products(21, &[A], fix(1_500))],
            Priced(20_000, &[("product_based", 3_000)], 17_000),
        ),
        case(
            "product-based equal rules: the lower id wins",
            &[(A, 1, 10_000)],
            vec![on_products(22, &[A], pct(1000)), on_products(21, &[A], fix(1_000))],
            Priced(10_000, &[("product_based", 1_000)], 9_000),
        ),
        case(
            "product-based rules on different products both apply",
            &[(A, 1, 10_000), (B, 1, 20_000)],
            vec![on_products(20, &[A], pct(1000)), on_products(21, &[B], pct(500))],
            Priced(30_000, &[("product_based", 1_000), ("product_based", 1_000)], 28_000),
        ),
        case(
            "product-based product not in the order",
            &[(A, 1, 10_000)],
            vec![on_products(20, &[C], pct(5000))],
            Priced(10_000, &[], 10_000),
        ),
        case(
            "product-based on two lines of one product",
            &[(A, 1, 10_000), (B, 1, 1_000), (A, 2, 10_000)],
            vec![on_products(20, &[A], pct(1000))],
            Priced(31_000, &[("product_based", 3_000)], 28_000),
        ),
        case(
            "quantity-based reached",
            &[(A, 6, 5_000)],
            vec![quantity(6, &[], pct(1000))],
            Priced(30_000, &[("quantity_based", 3_000)], 27_000),
        ),
        case(
            "quantity-based not reached",
            &[(A, 5, 5_000)],
            vec![quantity(6, &[], pct(1000))],
            Priced(25_000, &[], 25_000),
        ),
        case(
            "quantity-based fixed per unit",
            &[(A, 10, 3_000), (B, 2, 3_000)],
            vec![quantity(10, &[], fix(200))],
            Priced(36_000, &[("quantity_based", 2_000)], 34_000),
        ),
        case(
            "quantity-based limited to listed products",
            &[(A, 10, 1_000), (B, 10, 1_000)],
            vec![quantity(10, &[B], pct(5000))],
            Priced(20_000, &[("quantity_based", 5_000)], 15_000),
        ),
        case(
            "bundle complete, percentage of the discounted unit",
            &[(A, 1, 10_000), (B, 1, 4_000)],
            vec![bundle(&[A, B], B, pct(5000))],
            Priced(14_000, &[("bundle", 2_000)], 12_000),
        ),
        case("bundle incomplete", &[(A, 3, 10_000)], vec![bundle(&[A, B], B, pct(5000))], Priced(30_000, &[], 30_000)),
        case(
            "bundle fixed once per complete bundle",
            &[(A, 2, 10_000), (B, 3, 4_000)],
            vec![bundle(&[A, B], B, fix(1_000))],
            Priced(32_000, &[("bundle", 2_000)], 30_000),
        ),
        case(
            "bundle limited by the discounted product",
            &[(A, 5, 10_000), (B, 1, 4_000), (C, 5, 1_000)],
            vec![bundle(&[A, C], B, fix(1_000))],
            Priced(59_000, &[("bundle", 1_000)], 58_000),
        ),
        case(
            "bundle percentage rounds down",
            &[(A, 1, 1_000), (B, 3, 999)],
            vec![bundle(&[A, B], B, pct(1250))],
            Priced(3_997, &[("bundle", 124)], 3_873),
        ),
        case(
            "rule before its window",
            &[(A, 1, 10_000)],
            vec![window(amount(0, pct(1000)), Some(1), None)],
            Priced(10_000, &[], 10_000),
        ),
        case(
            "rule from the start of its window (inclusive)",
            &[(A, 1, 10_000)],
            vec![window(amount(0, pct(1000)), Some(0), Some(2))],
            Priced(10_000, &[("amount_based", 1_000)], 9_000),
        ),
        case(
            "rule at the end of its window (exclusive)",
            &[(A, 1, 10_000)],
            vec![window(amount(0, pct(1000)), Some(-2), Some(0))],
            Priced(10_000, &[], 10_000),
        ),
        case(
            "rule inside its window",
            &[(A, 1, 10_000)],
            vec![window(on_products(20, &[A], pct(1000)), Some(-1), Some(1))],
            Priced(10_000, &[("product_based", 1_000)], 9_000),
        ),
        case("inactive rule", &[(A, 1, 10_000)], vec![inactive(amount(0, pct(1000)))], Priced(10_000, &[], 10_000)),
        case(
            "every kind stacks",
            &[(A, 10, 10_000), (B, 1, 5_000)],
            vec![
                amount(100_000, pct(500)),
                on_products(20, &[A], fix(500)),
                quantity(10, &[], pct(100)),
                bundle(&[A, B], B, fix(1_000)),
            ],
            Priced(
                105_000,
                &[("amount_based", 5_250), ("product_based", 5_000), ("quantity_based", 1_000), ("bundle", 1_000)],
                92_750,
            ),
        ),
        case(
            "stacked promotions are capped: free, never negative",
            &[(A, 1, 10_000)],
            vec![amount(0, pct(8000)), on_products(20, &[A], pct(5000))],
            Priced(10_000, &[("amount_based", 8_000), ("product_based", 2_000)], 0),
        ),
        case(
            "rounding: 33 % of 100,001",
            &[(A, 1, 100_001)],
            vec![amount(0, pct(3300))],
            Priced(100_001, &[("amount_based", 33_000)], 67_001),
        ),
        case(
            "rounding: 12.5 % of 999",
            &[(A, 1, 999)],
            vec![amount(0, pct(1250))],
            Priced(999, &[("amount_based", 124)], 875),
        ),
        case(
            "rounding: 0.01 % of a small order is 0",
            &[(A, 1, 5_000)],
            vec![amount(0, pct(1))],
            Priced(5_000, &[("amount_based", 0)], 5_000),
        ),
        case(
            "large: 100 × Rp 1,000,000 with 10 %",
            &[(A, 100, 1_000_000)],
            vec![amount(0, pct(1000))],
            Priced(100_000_000, &[("amount_based", 10_000_000)], 90_000_000),
        ),
        case(
            "large: totals beyond Rp 10^10",
            &[(A, 10_000, 1_000_000_000), (B, 10_000, 1_000_000_000), (C, 5_000, 999_999_999)],
            vec![amount(0, pct(1550))],
            Priced(24_999_999_995_000, &[("amount_based", 3_874_999_999_225)], 21_124_999_995_775),
        ),
    ];
    let with_member = |name, lines, rules, member, manual, expect| Case { name, lines, rules, member, manual, expect };
    cases.extend([
        with_member(
            "manual discount only",
            &[(A, 2, 10_000)],
            vec![],
            Member::None,
            2_500,
            Priced(20_000, &[("manual", 2_500)], 17_500),
        ),
        with_member(
            "manual discount to exactly 0",
            &[(A, 2, 10_000)],
            vec![],
            Member::None,
            20_000,
            Priced(20_000, &[("manual", 20_000)], 0),
        ),
        with_member(
            "manual discount above the subtotal",
            &[(A, 2, 10_000)],
            vec![],
            Member::None,
            20_001,
            NegativeTotal,
        ),
        with_member(
            "manual discount above what promotions left",
            &[(A, 1, 10_000)],
            vec![amount(0, pct(5000))],
            Member::None,
            5_001,
            NegativeTotal,
        ),
        with_member(
            "member percentage after automatic discounts",
            &[(A, 10, 10_000)],
            vec![amount(0, pct(1000))],
            member(Some(pct(1000))),
            0,
            Priced(100_000, &[("amount_based", 10_000), ("member", 9_000)], 81_000),
        ),
        with_member(
            "member fixed",
            &[(A, 1, 10_000)],
            vec![],
            member(Some(fix(2_000))),
            0,
            Priced(10_000, &[("member", 2_000)], 8_000),
        ),
        with_member(
            "member fixed capped at what remains",
            &[(A, 1, 10_000)],
            vec![amount(0, pct(9000))],
            member(Some(fix(2_000))),
            0,
            Priced(10_000, &[("amount_based", 9_000), ("member", 1_000)], 0),
        ),
        with_member(
            "member inactive: no discount, said so",
            &[(A, 1, 10_000)],
            vec![],
            Member::Inactive { name: "Bu Ani".into() },
            0,
            Priced(10_000, &[("member", 0)], 10_000),
        ),
        with_member(
            "member unknown in this tenant",
            &[(A, 1, 10_000)],
            vec![],
            Member::Unknown,
            0,
            Priced(10_000, &[("member", 0)], 10_000),
        ),
        with_member(
            "member without a discount",
            &[(A, 1, 10_000)],
            vec![],
            member(None),
            0,
            Priced(10_000, &[], 10_000),
        ),
        with_member(
            "member then manual",
            &[(A, 4, 5_000)],
            vec![],
            member(Some(pct(500))),
            1_000,
            Priced(20_000, &[("member", 1_000), ("manual", 1_000)], 18_000),
        ),
        with_member(
            "member then manual too large",
            &[(A, 4, 5_000)],
            vec![],
            member(Some(pct(5000))),
            10_001,
            NegativeTotal,
        ),
        with_member(
            "largest possible order, 100 % off, no overflow",
            &[(D, 10_000, 1_000_000_000_000)],
            vec![amount(0, pct(10_000))],
            Member::None,
            0,
            Priced(10_000_000_000_000_000, &[("amount_based", 10_000_000_000_000_000)], 0),
        ),
    ]);
    cases
}

#[test]
fn pricing_engine_cases() {
    let cases = cases();
    assert!(cases.len() >= 40, "at least 40 cases");
    for case in cases {
        let lines: Vec<OrderLine> = case
            .lines
            .iter()
            .map(|(p, q, price)| OrderLine { product_id: product(*p), quantity: *q, price: Money::from_rupiah(*price) })
            .collect();
        let input = PricingInput {
            lines: &lines,
            rules: &case.rules,
            member: &case.member,
            manual_discount: Money::from_rupiah(case.manual),
            sale_time: sale_time(),
        };
        let result = price_order(&input);
        match (case.expect, result) {
            (Priced(subtotal, discounts, total), Ok(priced)) => {
                let got: Vec<(&str, i64)> = priced
                    .discounts
                    .iter()
                    .map(|d| {
                        (
                            serde_json::to_value(d.kind).ok().and_then(|v| v.as_str().map(str::to_owned)),
                            d.amount.rupiah(),
                        )
                    })
                    .map(|(k, a)| (leak(k.unwrap_or_default()), a))
                    .collect();
                assert_eq!(priced.subtotal.rupiah(), subtotal, "{}: subtotal", case.name);
                assert_eq!(got, discounts, "{}: discounts", case.name);
                assert_eq!(priced.total.rupiah(), total, "{}: total", case.name);
                let sum: i64 = priced.discounts.iter().map(|d| d.amount.rupiah()).sum();
                assert_eq!(priced.discount_total.rupiah(), sum, "{}: discountTotal is the sum", case.name);
                assert_eq!(subtotal - sum, total, "{}: total = subtotal − discounts", case.name);
            }
            (NegativeTotal, Err(PricingError::NegativeTotal { .. })) => {}
            (_, other) => panic!("{}: unexpected {other:?}", case.name),
        }
    }
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[test]
fn discounts_name_the_lines_they_apply_to() {
    let lines = [
        OrderLine { product_id: product(A), quantity: 1, price: Money::from_rupiah(100) },
        OrderLine { product_id: product(B), quantity: 1, price: Money::from_rupiah(100) },
        OrderLine { product_id: product(A), quantity: 1, price: Money::from_rupiah(100) },
    ];
    let rules = [on_products(20, &[A], pct(1000))];
    let input = PricingInput {
        lines: &lines,
        rules: &rules,
        member: &Member::None,
        manual_discount: Money::ZERO,
        sale_time: sale_time(),
    };
    let priced = price_order(&input).unwrap();
    assert_eq!(priced.discounts[0].lines, vec![0, 2]);
}
