//! Settling an order's payments (split tender) against its total. Cash
//! alone is rounded (to the tenant's smallest coin) and alone gives change;
//! every other method pays an exact amount. So with `N` the non-cash sum:
//! - no cash: `N` must equal the total;
//! - with cash: the cash due is `total − N` (never negative) rounded by
//!   [`CashRounding::cash_due`]; the cash must cover it; change is the
//!   rest. The rounding line is `due − (total − N)`, so total + rounding is
//!   what the payments net of change add up to.

use super::charges::CashRounding;
use crate::money::Money;
use crate::order::{Payment, PaymentMethod};

/// The settled payments: the rounding line and each line's change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tender {
    pub rounding: Money,
    /// Total change handed back (cash only).
    pub change: Money,
    /// Change per payment line, in the order's payment order.
    pub line_change: Vec<Money>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenderError {
    #[error("payments other than cash add up to {non_cash}, more than the total {total}")]
    NonCashOverpays { non_cash: i64, total: i64 },
    #[error("the payments add up to {paid}; the order is {due} (payments other than cash must pay it exactly)")]
    Short { paid: i64, due: i64 },
    #[error("cash {cash} does not cover the cash due {due}")]
    CashShort { cash: i64, due: i64 },
}

/// Settle `payments` against `total` with the tenant's cash rounding.
pub fn settle(total: Money, payments: &[Payment], rounding: CashRounding) -> Result<Tender, TenderError> {
    let sum = |cash: bool| -> i64 {
        payments.iter().filter(|p| (p.method == PaymentMethod::Cash) == cash).map(|p| p.amount.rupiah()).sum()
    };
    let (cash, non_cash, total_rp) = (sum(true), sum(false), total.rupiah());
    if non_cash > total_rp {
        return Err(TenderError::NonCashOverpays { non_cash, total: total_rp });
    }
    let has_cash = payments.iter().any(|p| p.method == PaymentMethod::Cash);
    if !has_cash {
        if non_cash != total_rp {
            return Err(TenderError::Short { paid: non_cash, due: total_rp });
        }
        return Ok(Tender { line_change: vec![Money::ZERO; payments.len()], ..Tender::default() });
    }
    let (due, line) = rounding.cash_due(Money::from_rupiah(total_rp - non_cash));
    if cash < due.rupiah() {
        return Err(TenderError::CashShort { cash, due: due.rupiah() });
    }
    let change = cash - due.rupiah();
    Ok(Tender { rounding: line, change: Money::from_rupiah(change), line_change: spread_change(payments, change) })
}

/// Change comes out of the cash lines, the last one first.
pub fn spread_change(payments: &[Payment], mut change: i64) -> Vec<Money> {
    let mut lines = vec![Money::ZERO; payments.len()];
    for (i, p) in payments.iter().enumerate().rev().filter(|(_, p)| p.method == PaymentMethod::Cash) {
        let here = change.min(p.amount.rupiah());
        lines[i] = Money::from_rupiah(here);
        change -= here;
    }
    lines
}

#[cfg(test)]
#[path = "tender_tests.rs"]
mod tests;
