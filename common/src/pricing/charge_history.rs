//! A shop's charges over time (issue 21): tax, service charge and cash
//! rounding have an effective-from history, as prices do, and an order is
//! charged by the settings in force at its sale time (`createdAt`), so an
//! offline sale made before a change is charged as its till charged it.
//!
//! The rule, here and in the workers' SQL (`workers/src/commit/read/pricing.rs`):
//! the latest entry effective at or before the sale time; before a shop's
//! first entry, its first entry (a till whose clock ran behind); a shop
//! without entries, no charges.

use super::charges::{CashRounding, ChargeSettings};
use chrono::{DateTime, Utc};

/// A shop's tax and service charge, and its cash rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantCharges {
    pub charges: ChargeSettings,
    pub rounding: CashRounding,
}

/// One shop's entries, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChargeHistory(Vec<(DateTime<Utc>, TenantCharges)>);

impl ChargeHistory {
    /// The history of these entries, in any order.
    pub fn new(mut entries: Vec<(DateTime<Utc>, TenantCharges)>) -> Self {
        entries.sort_by_key(|(at, _)| *at);
        Self(entries)
    }

    /// The settings in force at `sale_time`.
    pub fn at(&self, sale_time: DateTime<Utc>) -> TenantCharges {
        // Entries effective at or before the sale time come first in the slice.
        let effective = self.0.partition_point(|(at, _)| *at <= sale_time);
        let index = effective.saturating_sub(1);
        self.0.get(index).map(|(_, charges)| *charges).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::TaxMode;
    use chrono::TimeZone;

    fn ppn(bp: u32) -> TenantCharges {
        let charges = ChargeSettings { tax_mode: TaxMode::Exclusive, tax_rate_bp: bp, ..ChargeSettings::default() };
        TenantCharges { charges, rounding: CashRounding::None }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, hour, minute, 0).single().unwrap_or_default()
    }

    #[test]
    fn a_sale_is_charged_by_the_settings_in_force_at_its_time() {
        let history = ChargeHistory::new(vec![(at(10, 5), ppn(1200)), (at(8, 0), ppn(1100))]);
        assert_eq!(history.at(at(10, 0)), ppn(1100), "before the change");
        assert_eq!(history.at(at(10, 5)), ppn(1200), "a change applies from its own instant");
        assert_eq!(history.at(at(10, 10)), ppn(1200));
        assert_eq!(history.at(at(7, 0)), ppn(1100), "before the first entry, the first");
        assert_eq!(ChargeHistory::default().at(at(10, 0)), TenantCharges::default(), "no entries, no charges");
    }
}
