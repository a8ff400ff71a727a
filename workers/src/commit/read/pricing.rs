//! What pricing needs from the database for a batch, read in the same
//! round trip as the locks: the tenants' active discount rules, the charge
//! settings in force at each order's sale time, the members the orders
//! name, and the prices in effect at offline orders' sale times.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use common::ids::{ProductId, TenantId};
use common::message::Message;
use common::money::Money;
use common::order::Source;
use common::pricing::stored::{self, StoredRule};
use common::pricing::{DiscountRule, Member, TenantCharges};
use deadpool_postgres::Transaction;
use std::collections::HashMap;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// Pricing inputs for a batch, by tenant.
#[derive(Debug, Default)]
pub struct PricingData {
    pub rules: HashMap<TenantId, Vec<DiscountRule>>,
    pub members: HashMap<(TenantId, Uuid), Member>,
    /// (tenant, product, sale time) → the price in effect then.
    pub prices_at: HashMap<(TenantId, ProductId, DateTime<Utc>), Money>,
    /// (tenant, sale time) → the charge settings in force then.
    pub settings: HashMap<(TenantId, DateTime<Utc>), TenantCharges>,
}

impl PricingData {
    pub fn rules(&self, tenant: TenantId) -> &[DiscountRule] {
        self.rules.get(&tenant).map(Vec::as_slice).unwrap_or_default()
    }

    /// The charges an order of `tenant` sold at `sale_time` pays.
    pub fn settings(&self, tenant: TenantId, sale_time: DateTime<Utc>) -> TenantCharges {
        self.settings.get(&(tenant, sale_time)).copied().unwrap_or_default()
    }

    pub fn member(&self, tenant: TenantId, member: Option<Uuid>) -> Member {
        match member {
            None => Member::None,
            Some(id) => self.members.get(&(tenant, id)).cloned().unwrap_or(Member::Unknown),
        }
    }
}

const RULES: &str = "
SELECT tenant_id, id, name, kind, value_type, value, min_amount, min_quantity, product_ids,
       bundle_product_ids, bundle_discount_product_id, starts_at, ends_at
FROM discount_rules WHERE tenant_id = ANY($1) AND is_active";

// The rule of common::pricing::charge_history: the latest entry at or
// before the sale time, else the shop's first.
const SETTINGS_AT: &str = "
SELECT k.tenant_id, k.at, s.tax_mode, s.tax_rate_bp, s.service_charge_bp, s.service_charge_taxed, s.cash_rounding
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::timestamptz[])) AS k(tenant_id, at)
CROSS JOIN LATERAL (
    (SELECT 0 AS pick, c.tax_mode, c.tax_rate_bp, c.service_charge_bp, c.service_charge_taxed, c.cash_rounding
     FROM tenant_charge_settings c WHERE c.tenant_id = k.tenant_id AND c.effective_at <= k.at
     ORDER BY c.effective_at DESC LIMIT 1)
    UNION ALL
    (SELECT 1, c.tax_mode, c.tax_rate_bp, c.service_charge_bp, c.service_charge_taxed, c.cash_rounding
     FROM tenant_charge_settings c WHERE c.tenant_id = k.tenant_id ORDER BY c.effective_at LIMIT 1)
    ORDER BY pick LIMIT 1) s";

const MEMBERS: &str = "
SELECT m.tenant_id, m.id, m.name, m.is_active, m.discount_type, m.discount_value
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(tenant_id, id)
JOIN members m ON m.tenant_id = k.tenant_id AND m.id = k.id";

// Before a product's first recorded price, its first price applies.
const PRICES_AT: &str = "
SELECT k.tenant_id, k.product_id, k.at, coalesce(
    (SELECT pp.price FROM product_prices pp WHERE pp.tenant_id = k.tenant_id AND pp.product_id = k.product_id
       AND pp.effective_at <= k.at ORDER BY pp.effective_at DESC LIMIT 1),
    (SELECT pp.price FROM product_prices pp WHERE pp.tenant_id = k.tenant_id AND pp.product_id = k.product_id
       ORDER BY pp.effective_at LIMIT 1))
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[])) AS k(tenant_id, product_id, at)";

pub async fn load(tx: &Transaction<'_>, messages: &[&Message]) -> Result<PricingData, StoreError> {
    let orders: Vec<_> =
        messages.iter().filter_map(|m| if let Message::Order(o) = m { Some(o) } else { None }).collect();
    let mut tenants: Vec<Uuid> = orders.iter().map(|o| o.tenant_id.0).collect();
    tenants.sort();
    tenants.dedup();
    let (member_tenants, member_ids): (Vec<Uuid>, Vec<Uuid>) =
        orders.iter().filter_map(|o| o.order.member_id.map(|m| (o.tenant_id.0, m))).unzip();
    let (mut price_tenants, mut price_products, mut price_times) = (vec![], vec![], vec![]);
    for o in orders.iter().filter(|o| o.source == Source::Offline) {
        for line in &o.order.items {
            price_tenants.push(o.tenant_id.0);
            price_products.push(line.product_id.0);
            price_times.push(o.order.created_at);
        }
    }
    let (sale_tenants, sale_times): (Vec<Uuid>, Vec<DateTime<Utc>>) =
        orders.iter().map(|o| (o.tenant_id.0, o.order.created_at)).unzip();
    let rule_params: [&(dyn ToSql + Sync); 1] = [&tenants];
    let settings_params: [&(dyn ToSql + Sync); 2] = [&sale_tenants, &sale_times];
    let member_params: [&(dyn ToSql + Sync); 2] = [&member_tenants, &member_ids];
    let price_params: [&(dyn ToSql + Sync); 3] = [&price_tenants, &price_products, &price_times];
    let (rules, settings, members, prices) = futures::try_join!(
        query_if(tx, RULES, !tenants.is_empty(), &rule_params),
        query_if(tx, SETTINGS_AT, !sale_tenants.is_empty(), &settings_params),
        query_if(tx, MEMBERS, !member_ids.is_empty(), &member_params),
        query_if(tx, PRICES_AT, !price_products.is_empty(), &price_params),
    )?;
    let mut data = PricingData::default();
    for row in rules {
        let (tenant, rule) = rule_from(&row)?;
        data.rules.entry(tenant).or_default().push(rule);
    }
    for row in settings {
        data.settings.insert((TenantId(row.try_get(0)?), row.try_get(1)?), settings_from(&row)?);
    }
    for row in members {
        let tenant = TenantId(row.try_get(0)?);
        let kind: Option<String> = row.try_get(4)?;
        let member = stored::member(row.try_get(2)?, row.try_get(3)?, kind.as_deref(), row.try_get(5)?);
        data.members.insert((tenant, row.try_get(1)?), member);
    }
    for row in prices {
        let price: Option<i64> = row.try_get(3)?;
        if let Some(price) = price {
            let key = (TenantId(row.try_get(0)?), ProductId(row.try_get(1)?), row.try_get(2)?);
            data.prices_at.insert(key, Money::from_rupiah(price));
        }
    }
    Ok(data)
}

async fn query_if(
    tx: &Transaction<'_>,
    sql: &str,
    needed: bool,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    if !needed {
        return Ok(Vec::new());
    }
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

fn settings_from(row: &Row) -> Result<TenantCharges, StoreError> {
    let (charges, rounding) = stored::charges(
        &row.try_get::<_, String>(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        &row.try_get::<_, String>(6)?,
    )
    .map_err(|e| StoreError::Invariant(format!("tenant settings: {e}")))?;
    Ok(TenantCharges { charges, rounding })
}

fn rule_from(row: &Row) -> Result<(TenantId, DiscountRule), StoreError> {
    let rule = StoredRule {
        id: row.try_get(1)?,
        name: row.try_get(2)?,
        kind: row.try_get(3)?,
        value_type: row.try_get(4)?,
        value: row.try_get(5)?,
        min_amount: row.try_get(6)?,
        min_quantity: row.try_get(7)?,
        product_ids: row.try_get(8)?,
        bundle_product_ids: row.try_get(9)?,
        bundle_discount_product_id: row.try_get(10)?,
        starts_at: row.try_get(11)?,
        ends_at: row.try_get(12)?,
    };
    let rule = rule.into_rule().map_err(|e| StoreError::Invariant(format!("discount rule with {e}")))?;
    Ok((TenantId(row.try_get(0)?), rule))
}
