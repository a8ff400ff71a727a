//! Integer rupiah. Every amount in Warungin is a whole number of rupiah in an
//! `i64`; arithmetic is checked so an overflow is an error, never a wrap.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in whole rupiah (IDR has no minor unit in practice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_rupiah(rupiah: i64) -> Self {
        Money(rupiah)
    }

    pub const fn rupiah(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Price × quantity, as for an order line.
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(quantity)).map(Money)
    }

    /// Sum of amounts; `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Money>>(amounts: I) -> Option<Money> {
        amounts.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rp {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_rupiah(i64::MAX);
        assert_eq!(max.checked_add(Money::from_rupiah(1)), None);
        assert_eq!(Money::from_rupiah(i64::MIN).checked_sub(Money::from_rupiah(1)), None);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(Money::from_rupiah(10_000).checked_mul(3), Some(Money::from_rupiah(30_000)));
    }

    #[test]
    fn sums_large_orders_without_overflow() {
        // 200 lines × 10,000 units × Rp 10^12 is the largest order the contract allows.
        let line = Money::from_rupiah(1_000_000_000_000).checked_mul(10_000);
        let total = Money::checked_sum(std::iter::repeat_n(line.unwrap_or_default(), 200));
        assert_eq!(total, Some(Money::from_rupiah(2_000_000_000_000_000_000)));
    }

    #[test]
    fn serializes_as_a_bare_integer() {
        assert_eq!(serde_json::to_string(&Money::from_rupiah(15_000)).ok().as_deref(), Some("15000"));
    }
}
