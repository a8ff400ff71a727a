//! What is added to an order after its discounts: the tenant's service
//! charge and tax (PPN or PB1), then, for cash only, rounding to the coins
//! that exist. Pure integer arithmetic; the rules are in README "Pricing".
//!
//! With `N` the order after discounts, `s` and `t` the rates in basis
//! points, `⌊x⌋` rounding down to a whole rupiah:
//! - exclusive: service `S = ⌊N·s⌋`, base `B = N + S` (or `N` when the
//!   service charge is not taxed), tax `T = ⌊B·t⌋`, total `N + S + T`;
//! - inclusive (prices hold the tax): the net `P = ⌊N / (1 + t)⌋`, the tax
//!   in the prices `N − P`; service `S = ⌊P·s⌋` and its tax `⌊S·t⌋` when
//!   taxed are added; total `N + S + ⌊S·t⌋`, base `P (+ S)`, tax the rest.

use crate::money::Money;
use serde::{Deserialize, Serialize};

/// 100 % in basis points.
const WHOLE: i128 = 10_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxMode {
    /// No tax on the receipt (a shop not registered for PPN or PB1).
    #[default]
    None,
    /// Prices hold the tax; the receipt shows the tax they contain.
    Inclusive,
    /// Tax is added on top of the prices.
    Exclusive,
}

/// A tenant's charges: tax and service charge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeSettings {
    pub tax_mode: TaxMode,
    /// PPN 11 % = 1100, 12 % = 1200; PB1 10 % = 1000.
    pub tax_rate_bp: u32,
    pub service_charge_bp: u32,
    /// The service charge is part of the tax base (applied before tax).
    pub service_charge_taxed: bool,
}

/// The charges on one order, every amount whole rupiah.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Charges {
    pub service_charge: Money,
    pub tax_base: Money,
    pub tax: Money,
    /// What the customer owes before cash rounding.
    pub total: Money,
}

/// `⌊amount · bp / 10000⌋`, in i128 so no product overflows.
fn share(amount: i128, bp: u32) -> i128 {
    amount * i128::from(bp) / WHOLE
}

fn money(value: i128) -> Option<Money> {
    i64::try_from(value).ok().map(Money::from_rupiah)
}

/// The charges on `after_discounts` (never negative); `None` on overflow.
pub fn charges(after_discounts: Money, settings: &ChargeSettings) -> Option<Charges> {
    let n = i128::from(after_discounts.rupiah().max(0));
    let t = if settings.tax_mode == TaxMode::None { 0 } else { settings.tax_rate_bp };
    let (service, base, tax, total) = match settings.tax_mode {
        TaxMode::None | TaxMode::Exclusive => {
            let s = share(n, settings.service_charge_bp);
            let base = if settings.service_charge_taxed { n + s } else { n };
            let tax = share(base, t);
            (s, base, tax, n + s + tax)
        }
        TaxMode::Inclusive => {
            let net = n * WHOLE / (WHOLE + i128::from(t));
            let s = share(net, settings.service_charge_bp);
            let service_tax = if settings.service_charge_taxed { share(s, t) } else { 0 };
            let base = if settings.service_charge_taxed { net + s } else { net };
            (s, base, (n - net) + service_tax, n + s + service_tax)
        }
    };
    Some(Charges { service_charge: money(service)?, tax_base: money(base)?, tax: money(tax)?, total: money(total)? })
}

/// A tenant's cash rounding: the smallest coin it takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CashRounding {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "100")]
    To100,
    #[serde(rename = "500")]
    To500,
}

impl CashRounding {
    fn step(self) -> i64 {
        match self {
            CashRounding::None => 1,
            CashRounding::To100 => 100,
            CashRounding::To500 => 500,
        }
    }

    /// The cash due for `amount` and the rounding line (due − amount, may be
    /// negative): the nearest multiple of the coin, an exact half rounded
    /// down, in the customer's favour. Only cash is rounded.
    pub fn cash_due(self, amount: Money) -> (Money, Money) {
        let (step, a) = (self.step(), amount.rupiah().max(0));
        let below = a - a % step;
        // Past the largest multiple an i64 holds, round down (never wrap).
        let up = below.checked_add(step).filter(|_| (a - below) * 2 > step);
        let due = up.unwrap_or(below);
        (Money::from_rupiah(due), Money::from_rupiah(due - a))
    }
}

#[cfg(test)]
mod tests;
