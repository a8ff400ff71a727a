//! Discount rules, members and charge settings from their stored columns,
//! the same for the workers (tokio-postgres) and ingest (sqlx), so both
//! price an order alike.

use super::charge_history::TenantCharges;
use super::charges::{CashRounding, ChargeSettings, TaxMode};
use super::rules::{DiscountRule, Member, Rate, RuleKind};
use crate::ids::ProductId;
use crate::money::Money;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A `discount_rules` row.
#[derive(sqlx::FromRow)]
pub struct StoredRule {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub value_type: String,
    pub value: i64,
    pub min_amount: Option<i64>,
    pub min_quantity: Option<i32>,
    pub product_ids: Vec<Uuid>,
    pub bundle_product_ids: Vec<Uuid>,
    pub bundle_discount_product_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl StoredRule {
    /// The active rule, or what about it cannot be read.
    pub fn into_rule(self) -> Result<DiscountRule, String> {
        let rate = Rate::from_stored(&self.value_type, self.value).ok_or("an unknown value type")?;
        let ids = |ids: Vec<Uuid>| ids.into_iter().map(ProductId).collect();
        let kind = match self.kind.as_str() {
            "amount_based" => RuleKind::AmountBased { min_amount: Money::from_rupiah(self.min_amount.unwrap_or(0)) },
            "product_based" => RuleKind::ProductBased { products: ids(self.product_ids) },
            "quantity_based" => RuleKind::QuantityBased {
                min_quantity: u32::try_from(self.min_quantity.unwrap_or(1)).unwrap_or(1),
                products: ids(self.product_ids),
            },
            "bundle" => RuleKind::Bundle {
                products: ids(self.bundle_product_ids),
                discounted: ProductId(self.bundle_discount_product_id.ok_or("no discounted product")?),
            },
            _ => return Err("an unknown kind".to_owned()),
        };
        Ok(DiscountRule {
            id: self.id,
            name: self.name,
            kind,
            rate,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            is_active: true,
        })
    }
}

/// A `members` row.
pub fn member(name: String, is_active: bool, discount_type: Option<&str>, discount_value: Option<i64>) -> Member {
    if !is_active {
        return Member::Inactive { name };
    }
    let rate = match (discount_type, discount_value) {
        (Some(kind), Some(value)) => Rate::from_stored(kind, value),
        _ => None,
    };
    Member::Active { name, rate }
}

/// A tenant's charge columns.
pub fn charges(
    tax_mode: &str,
    tax_rate_bp: i32,
    service_charge_bp: i32,
    service_charge_taxed: bool,
    cash_rounding: &str,
) -> Result<(ChargeSettings, CashRounding), String> {
    let tax_mode = match tax_mode {
        "none" => TaxMode::None,
        "inclusive" => TaxMode::Inclusive,
        "exclusive" => TaxMode::Exclusive,
        other => return Err(format!("tax mode {other}")),
    };
    let rounding = match cash_rounding {
        "none" => CashRounding::None,
        "100" => CashRounding::To100,
        "500" => CashRounding::To500,
        other => return Err(format!("cash rounding {other}")),
    };
    let bp = |v: i32| u32::try_from(v).map_err(|_| format!("a negative rate {v}"));
    let settings = ChargeSettings {
        tax_mode,
        tax_rate_bp: bp(tax_rate_bp)?,
        service_charge_bp: bp(service_charge_bp)?,
        service_charge_taxed,
    };
    Ok((settings, rounding))
}

/// A `tenant_charge_settings` row: a shop's charges from `effective_at` on.
#[derive(sqlx::FromRow)]
pub struct StoredCharges {
    pub effective_at: DateTime<Utc>,
    pub tax_mode: String,
    pub tax_rate_bp: i32,
    pub service_charge_bp: i32,
    pub service_charge_taxed: bool,
    pub cash_rounding: String,
}

impl StoredCharges {
    /// The entry of a [`super::ChargeHistory`], or what about it cannot be read.
    pub fn into_entry(self) -> Result<(DateTime<Utc>, TenantCharges), String> {
        let (charges, rounding) = charges(
            &self.tax_mode,
            self.tax_rate_bp,
            self.service_charge_bp,
            self.service_charge_taxed,
            &self.cash_rounding,
        )?;
        Ok((self.effective_at, TenantCharges { charges, rounding }))
    }
}
