//! Discount rules, member discounts and rates as the pricing engine sees
//! them. A percentage is kept in basis points (12.5 % = 1250) so that two
//! decimals are exact; applying one rounds **down** to a whole rupiah.

use crate::ids::ProductId;
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const FULL_PERCENT_BP: u32 = 10_000;

/// How much a discount takes: a percentage (basis points) or a fixed amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "valueType", content = "value", rename_all = "snake_case")]
pub enum Rate {
    Percentage(u32),
    Fixed(Money),
}

/// `amount × bp / 10 000`, rounded down to a whole rupiah (amounts are never
/// negative, so truncation is rounding down). i128 keeps it exact for any i64.
pub fn percent_of(amount: Money, basis_points: u32) -> Money {
    let exact = i128::from(amount.rupiah()) * i128::from(basis_points) / i128::from(FULL_PERCENT_BP);
    Money::from_rupiah(i64::try_from(exact).unwrap_or(i64::MAX))
}

impl Rate {
    /// Parse the API's `value`: a percentage with at most two decimals in
    /// (0, 100], or a whole, positive number of rupiah.
    pub fn parse(value_type: &str, value: &serde_json::Number) -> Result<Rate, String> {
        match value_type {
            "percentage" => {
                let bp = basis_points(&value.to_string()).ok_or("must be a percentage with at most two decimals")?;
                if bp == 0 || bp > FULL_PERCENT_BP {
                    return Err("a percentage must be more than 0 and at most 100".to_owned());
                }
                Ok(Rate::Percentage(bp))
            }
            "fixed" => match value.as_i64() {
                Some(n) if (1..=crate::order::limits::MAX_AMOUNT).contains(&n) => {
                    Ok(Rate::Fixed(Money::from_rupiah(n)))
                }
                _ => Err("a fixed discount must be a whole number of rupiah, more than 0".to_owned()),
            },
            _ => Err("valueType must be percentage or fixed".to_owned()),
        }
    }

    pub fn value_type(self) -> &'static str {
        match self {
            Rate::Percentage(_) => "percentage",
            Rate::Fixed(_) => "fixed",
        }
    }

    /// The stored integer: basis points or rupiah.
    pub fn stored(self) -> i64 {
        match self {
            Rate::Percentage(bp) => i64::from(bp),
            Rate::Fixed(amount) => amount.rupiah(),
        }
    }

    pub fn from_stored(value_type: &str, value: i64) -> Option<Rate> {
        match value_type {
            "percentage" => u32::try_from(value).ok().map(Rate::Percentage),
            "fixed" => Some(Rate::Fixed(Money::from_rupiah(value))),
            _ => None,
        }
    }

    /// The API's `value`: 12.5 for 12.5 %, or the rupiah amount.
    pub fn api_value(self) -> serde_json::Value {
        match self {
            Rate::Percentage(bp) if bp % 100 == 0 => serde_json::json!(bp / 100),
            Rate::Percentage(bp) => serde_json::json!(f64::from(bp) / 100.0),
            Rate::Fixed(amount) => serde_json::json!(amount.rupiah()),
        }
    }
}

/// "12.5" → 1250; more than two decimals, signs or exponents → None.
fn basis_points(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let fraction: u32 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// What an automatic rule looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// The order's subtotal reaches `min_amount`: the rate applies to the subtotal (fixed: once).
    AmountBased { min_amount: Money },
    /// Lines of these products: the rate applies to the line (fixed: per unit).
    ProductBased { products: Vec<ProductId> },
    /// A line with at least `min_quantity` units (of `products`, when listed).
    QuantityBased { min_quantity: u32, products: Vec<ProductId> },
    /// Every product of the bundle present: `discounted`'s line, once per complete bundle.
    Bundle { products: Vec<ProductId>, discounted: ProductId },
}

impl RuleKind {
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::AmountBased { .. } => "amount_based",
            RuleKind::ProductBased { .. } => "product_based",
            RuleKind::QuantityBased { .. } => "quantity_based",
            RuleKind::Bundle { .. } => "bundle",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscountRule {
    pub id: Uuid,
    pub name: String,
    pub kind: RuleKind,
    pub rate: Rate,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub is_active: bool,
}

impl DiscountRule {
    /// Active and in its window at the time of sale (start inclusive, end exclusive).
    pub fn applies_at(&self, sale_time: DateTime<Utc>) -> bool {
        self.is_active && self.starts_at.is_none_or(|s| s <= sale_time) && self.ends_at.is_none_or(|e| sale_time < e)
    }
}

/// The member an order names, as found in the order's tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// The order names no member.
    None,
    /// The order names a member this tenant does not have.
    Unknown,
    Inactive {
        name: String,
    },
    Active {
        name: String,
        rate: Option<Rate>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_keep_two_decimals_exactly() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(Rate::parse("percentage", &n("12.5")), Ok(Rate::Percentage(1250)));
        assert_eq!(Rate::parse("percentage", &n("0.01")), Ok(Rate::Percentage(1)));
        assert_eq!(Rate::parse("percentage", &n("100")), Ok(Rate::Percentage(10_000)));
        assert!(Rate::parse("percentage", &n("12.345")).is_err());
        assert!(Rate::parse("percentage", &n("100.01")).is_err());
        assert!(Rate::parse("percentage", &n("0")).is_err());
        assert!(Rate::parse("percentage", &n("-5")).is_err());
        assert!(Rate::parse("fixed", &n("1.5")).is_err());
        assert_eq!(Rate::parse("fixed", &n("5000")), Ok(Rate::Fixed(Money::from_rupiah(5000))));
        assert_eq!(Rate::Percentage(1250).api_value(), serde_json::json!(12.5));
    }

    #[test]
    fn percent_of_rounds_down() {
        assert_eq!(percent_of(Money::from_rupiah(100_001), 3300), Money::from_rupiah(33_000));
        assert_eq!(percent_of(Money::from_rupiah(999), 1), Money::ZERO);
        assert_eq!(percent_of(Money::from_rupiah(i64::MAX), 10_000), Money::from_rupiah(i64::MAX));
    }
}
