//! The door's payment check for online orders: price the order with the
//! pure engine (the till's line prices, the tenant's rules, member and the
//! charges in force at the order's sale time) and settle its payments, so an underpaid split is answered
//! `422 payment_mismatch` at once instead of after the queue. The worker's
//! commit stays the authority (prices, stock, and the same payment check
//! on the rules as they are then).
//!
//! A tenant's rules and charges are cached for [`TTL`], members likewise,
//! and forgotten when this replica changes them: on another replica, for
//! up to [`TTL`] after a change, the door may price an order as before and
//! answer 422 to a till already pricing it the new way (it resends);
//! nothing accepted is affected, and an order the door let through is
//! still checked at commit.

use crate::http::error::ApiError;
use common::ids::TenantId;
use common::order::ValidatedOrder;
use common::pricing::stored::{self, StoredCharges, StoredRule};
use common::pricing::tender::settle;
use common::pricing::{ChargeHistory, DiscountRule, Member, PricingInput, charges, price_order};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(5);

struct TenantPricing {
    rules: Vec<DiscountRule>,
    /// Every entry of the shop's charge history (a few: settings rarely change).
    charges: ChargeHistory,
}

type Cached<K, V> = Arc<Mutex<HashMap<K, (Instant, V)>>>;

#[derive(Clone)]
pub struct Quoter {
    db: PgPool,
    tenants: Cached<TenantId, Arc<TenantPricing>>,
    members: Cached<(TenantId, Uuid), Member>,
}

impl Quoter {
    pub fn new(db: PgPool) -> Self {
        Self { db, tenants: Arc::default(), members: Arc::default() }
    }

    /// `Err(payment_mismatch)` when the payments cannot settle the order's
    /// total; `Ok` when they do, or when the door cannot price it (the
    /// worker decides those: a negative total, an overflow).
    pub async fn check_payment(&self, tenant: TenantId, order: &ValidatedOrder) -> Result<(), ApiError> {
        let pricing = self.tenant(tenant).await?;
        let member = match order.member_id {
            None => Member::None,
            Some(id) => self.member(tenant, id).await?,
        };
        let input = PricingInput {
            lines: &order.items,
            rules: &pricing.rules,
            member: &member,
            manual_discount: order.discount,
            sale_time: order.created_at,
        };
        let at_sale = pricing.charges.at(order.created_at);
        let Some(total) = price_order(&input).ok().and_then(|p| charges(p.total, &at_sale.charges)) else {
            return Ok(());
        };
        match settle(total.total, &order.payments, at_sale.rounding) {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::Unprocessable { code: "payment_mismatch", message: e.to_string() }),
        }
    }

    /// Forget a tenant's cached pricing (its settings or rules changed here;
    /// other replicas see the change within [`TTL`]).
    pub fn forget(&self, tenant: TenantId) {
        if let Ok(mut map) = self.tenants.lock() {
            map.remove(&tenant);
        }
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Arc<TenantPricing>, ApiError> {
        if let Some(hit) = fresh(&self.tenants, &tenant) {
            return Ok(hit);
        }
        let mut tx = common::db::tenant_tx(&self.db, &[tenant.0]).await?;
        let history: Vec<StoredCharges> = sqlx::query_as(
            "SELECT effective_at, tax_mode, tax_rate_bp, service_charge_bp, service_charge_taxed, cash_rounding
             FROM tenant_charge_settings WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_all(&mut *tx)
        .await?;
        let entries = history.into_iter().map(StoredCharges::into_entry).collect::<Result<Vec<_>, _>>();
        let charges = ChargeHistory::new(entries.map_err(ApiError::Internal)?);
        let rows: Vec<StoredRule> = sqlx::query_as(
            "SELECT id, name, kind, value_type, value, min_amount, min_quantity, product_ids, bundle_product_ids,
                    bundle_discount_product_id, starts_at, ends_at
             FROM discount_rules WHERE tenant_id = $1 AND is_active",
        )
        .bind(tenant.0)
        .fetch_all(&mut *tx)
        .await?;
        let rules = rows.into_iter().filter_map(|r| r.into_rule().ok()).collect();
        let pricing = Arc::new(TenantPricing { rules, charges });
        store(&self.tenants, tenant, pricing.clone());
        Ok(pricing)
    }

    async fn member(&self, tenant: TenantId, id: Uuid) -> Result<Member, ApiError> {
        if let Some(hit) = fresh(&self.members, &(tenant, id)) {
            return Ok(hit);
        }
        let mut tx = common::db::tenant_tx(&self.db, &[tenant.0]).await?;
        let row: Option<(String, bool, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT name, is_active, discount_type, discount_value FROM members WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let member = row.map_or(Member::Unknown, |(name, active, kind, value)| {
            stored::member(name, active, kind.as_deref(), value)
        });
        store(&self.members, (tenant, id), member.clone());
        Ok(member)
    }
}

fn fresh<K: Eq + std::hash::Hash, V: Clone>(cache: &Cached<K, V>, key: &K) -> Option<V> {
    let map = cache.lock().ok()?;
    map.get(key).filter(|(at, _)| at.elapsed() < TTL).map(|(_, v)| v.clone())
}

fn store<K: Eq + std::hash::Hash, V>(cache: &Cached<K, V>, key: K, value: V) {
    if let Ok(mut map) = cache.lock() {
        // Bounded: stale entries go whenever the map grows past a few thousand.
        if map.len() > 4_096 {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(key, (Instant::now(), value));
    }
}
