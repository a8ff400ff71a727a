//! A refund's part of its order's discounts, service charge, tax base and
//! tax, kept with the refund so the books say what was given back of each
//! (the PPN owed is the sales' tax less the refunds'). The same rule as the
//! refund's amount (`refund::refund_amount`): after a refund, the order has
//! given back `⌊X × G / subtotal⌋` of each figure `X` in all, `G` the list
//! price of every unit refunded so far; each refund takes the difference
//! from the earlier ones, so rounding never adds up across refunds and the
//! parts of refunds of everything add up to the order's figures exactly.

use crate::money::Money;

/// An order's charges, or what refunds gave back of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Charged {
    pub discounts: Money,
    pub service_charge: Money,
    pub tax_base: Money,
    pub tax: Money,
}

impl Charged {
    /// `self + other`, figure by figure.
    pub fn plus(&self, other: &Charged) -> Charged {
        let add = |a: Money, b: Money| Money::from_rupiah(a.rupiah().saturating_add(b.rupiah()));
        Charged {
            discounts: add(self.discounts, other.discounts),
            service_charge: add(self.service_charge, other.service_charge),
            tax_base: add(self.tax_base, other.tax_base),
            tax: add(self.tax, other.tax),
        }
    }
}

/// This refund's part: `order` charged over `subtotal`; the units refunded
/// so far (this one included) have list price `gross_after`; earlier
/// refunds gave back `before`.
pub fn refund_charges(order: &Charged, subtotal: Money, gross_after: Money, before: &Charged) -> Charged {
    let subtotal = i128::from(subtotal.rupiah());
    let share = |figure: Money, given: Money| {
        if subtotal <= 0 {
            return Money::ZERO;
        }
        let owed = i128::from(figure.rupiah()) * i128::from(gross_after.rupiah()).min(subtotal) / subtotal;
        let part = owed - i128::from(given.rupiah());
        Money::from_rupiah(i64::try_from(part.max(0)).unwrap_or(i64::MAX))
    };
    Charged {
        discounts: share(order.discounts, before.discounts),
        service_charge: share(order.service_charge, before.service_charge),
        tax_base: share(order.tax_base, before.tax_base),
        tax: share(order.tax, before.tax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(n: i64) -> Money {
        Money::from_rupiah(n)
    }

    #[test]
    fn refunds_of_everything_give_back_each_figure_exactly_whatever_the_rounding() {
        // 3 units of 10,000 less a 1,000 discount; 5 % service, PPN 11 % on both.
        let order = Charged { discounts: rp(1_000), service_charge: rp(1_450), tax_base: rp(30_450), tax: rp(3_349) };
        let mut given = Charged::default();
        let mut parts = Vec::new();
        for units in 1..=3 {
            let part = refund_charges(&order, rp(30_000), rp(10_000 * units), &given);
            given = given.plus(&part);
            parts.push(part.tax.rupiah());
        }
        assert_eq!(parts, [1_116, 1_116, 1_117]);
        assert_eq!(given, order);
    }

    #[test]
    fn no_subtotal_gives_back_nothing() {
        let order = Charged { tax: rp(100), ..Charged::default() };
        assert_eq!(refund_charges(&order, rp(0), rp(5), &Charged::default()), Charged::default());
    }
}
