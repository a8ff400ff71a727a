//! Applying each kind of discount, capped at what remains of the order.

use super::rules::{Member, Rate, RuleKind, percent_of};
use super::{AppliedDiscount, DiscountKind, PricingError, PricingInput};
use crate::ids::ProductId;
use crate::money::Money;
use std::collections::BTreeMap;

/// What is left to pay and the discounts taken so far.
pub(super) struct Ledger {
    pub remaining: Money,
    pub discounts: Vec<AppliedDiscount>,
}

impl Ledger {
    pub fn new(subtotal: Money) -> Self {
        Self { remaining: subtotal, discounts: Vec::new() }
    }

    /// Take `amount`, capped at what remains; record what was taken.
    pub fn take(&mut self, kind: DiscountKind, name: String, amount: Money, lines: Vec<usize>) {
        let taken = amount.min(self.remaining).max(Money::ZERO);
        self.remaining = self.remaining.checked_sub(taken).unwrap_or(Money::ZERO);
        self.discounts.push(AppliedDiscount { kind, name, amount: taken, lines });
    }
}

fn kind_of(kind: &RuleKind) -> DiscountKind {
    match kind {
        RuleKind::AmountBased { .. } => DiscountKind::AmountBased,
        RuleKind::ProductBased { .. } => DiscountKind::ProductBased,
        RuleKind::QuantityBased { .. } => DiscountKind::QuantityBased,
        RuleKind::Bundle { .. } => DiscountKind::Bundle,
    }
}

/// A line's discount: percentage of the line, or a fixed amount per unit;
/// never more than the line itself.
fn on_line(rate: Rate, line_total: Money, quantity: u32) -> Result<Money, PricingError> {
    let amount = match rate {
        Rate::Percentage(bp) => percent_of(line_total, bp),
        Rate::Fixed(per_unit) => per_unit.checked_mul(quantity).ok_or(PricingError::Overflow)?,
    };
    Ok(amount.min(line_total))
}

pub(super) fn automatic(
    ledger: &mut Ledger,
    input: &PricingInput<'_>,
    line_totals: &[Money],
) -> Result<(), PricingError> {
    let mut rules: Vec<_> = input.rules.iter().filter(|r| r.applies_at(input.sale_time)).collect();
    rules.sort_by_key(|r| (kind_of(&r.kind) as u8, r.id));
    let subtotal = ledger.remaining;
    let best_product_rule = best_product_rules(input, line_totals)?;
    for rule in rules {
        let (amount, lines) = match &rule.kind {
            RuleKind::AmountBased { min_amount } if subtotal >= *min_amount => match rule.rate {
                Rate::Percentage(bp) => (percent_of(subtotal, bp), Vec::new()),
                Rate::Fixed(amount) => (amount, Vec::new()),
            },
            RuleKind::AmountBased { .. } => continue,
            RuleKind::ProductBased { .. } => {
                let mine: Vec<_> = best_product_rule.iter().filter(|(_, (id, _))| *id == rule.id).collect();
                let amount = Money::checked_sum(mine.iter().map(|(_, (_, a))| *a)).ok_or(PricingError::Overflow)?;
                (amount, mine.iter().map(|(line, _)| **line).collect())
            }
            RuleKind::QuantityBased { min_quantity, products } => {
                let mut lines = Vec::new();
                let mut amount = Money::ZERO;
                for (i, line) in input.lines.iter().enumerate() {
                    let listed = products.is_empty() || products.contains(&line.product_id);
                    if listed && line.quantity >= *min_quantity {
                        let discount = on_line(rule.rate, line_totals[i], line.quantity)?;
                        amount = amount.checked_add(discount).ok_or(PricingError::Overflow)?;
                        lines.push(i);
                    }
                }
                (amount, lines)
            }
            RuleKind::Bundle { products, discounted } => bundle(input, line_totals, rule.rate, products, *discounted)?,
        };
        if !lines.is_empty() || matches!(rule.kind, RuleKind::AmountBased { .. }) {
            ledger.take(kind_of(&rule.kind), rule.name.clone(), amount, lines);
        }
    }
    Ok(())
}

/// For every line, the largest product-based rule listing its product: (rule id, amount).
fn best_product_rules(
    input: &PricingInput<'_>,
    line_totals: &[Money],
) -> Result<BTreeMap<usize, (uuid::Uuid, Money)>, PricingError> {
    let mut best: BTreeMap<usize, (uuid::Uuid, Money)> = BTreeMap::new();
    for rule in input.rules.iter().filter(|r| r.applies_at(input.sale_time)) {
        let RuleKind::ProductBased { products } = &rule.kind else {
            continue;
        };
        for (i, line) in input.lines.iter().enumerate().filter(|(_, l)| products.contains(&l.product_id)) {
            let amount = on_line(rule.rate, line_totals[i], line.quantity)?;
            let better =
                best.get(&i).is_none_or(|(id, current)| amount > *current || (amount == *current && rule.id < *id));
            if better {
                best.insert(i, (rule.id, amount));
            }
        }
    }
    Ok(best)
}

/// Once per complete bundle in the order, on the discounted product's line(s).
fn bundle(
    input: &PricingInput<'_>,
    line_totals: &[Money],
    rate: Rate,
    products: &[ProductId],
    discounted: ProductId,
) -> Result<(Money, Vec<usize>), PricingError> {
    let quantity_of = |product: ProductId| -> u64 {
        input.lines.iter().filter(|l| l.product_id == product).map(|l| u64::from(l.quantity)).sum()
    };
    let discounted_lines: Vec<usize> =
        (0..input.lines.len()).filter(|&i| input.lines[i].product_id == discounted).collect();
    let complete = products.iter().map(|p| quantity_of(*p)).min().unwrap_or(0).min(quantity_of(discounted));
    if complete == 0 || discounted_lines.is_empty() {
        return Ok((Money::ZERO, Vec::new()));
    }
    let bundles = u32::try_from(complete).unwrap_or(u32::MAX);
    let line_value =
        Money::checked_sum(discounted_lines.iter().map(|&i| line_totals[i])).ok_or(PricingError::Overflow)?;
    let unit_price = input.lines[discounted_lines[0]].price;
    let amount = match rate {
        Rate::Percentage(bp) => percent_of(unit_price.checked_mul(bundles).ok_or(PricingError::Overflow)?, bp),
        Rate::Fixed(per_bundle) => per_bundle.checked_mul(bundles).ok_or(PricingError::Overflow)?,
    };
    Ok((amount.min(line_value), discounted_lines))
}

pub(super) fn member(ledger: &mut Ledger, member: &Member) -> Result<(), PricingError> {
    match member {
        Member::None => {}
        Member::Unknown => {
            ledger.take(DiscountKind::Member, "Unknown member: no member discount".to_owned(), Money::ZERO, Vec::new())
        }
        Member::Inactive { name } => {
            ledger.take(
                DiscountKind::Member,
                format!("Member {name} is inactive: no member discount"),
                Money::ZERO,
                Vec::new(),
            );
        }
        Member::Active { rate: None, .. } => {}
        Member::Active { name, rate: Some(rate) } => {
            let amount = match rate {
                Rate::Percentage(bp) => percent_of(ledger.remaining, *bp),
                Rate::Fixed(amount) => *amount,
            };
            ledger.take(DiscountKind::Member, format!("Member {name}"), amount, Vec::new());
        }
    }
    Ok(())
}
