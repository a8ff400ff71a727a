//! The door's outlet check: an order names a real outlet of its shop (an
//! unknown or another shop's `outletId` is `422 unknown_outlet`), and one
//! sent without an outlet goes to the shop's default outlet, so every
//! existing client keeps working. A deactivated outlet still takes orders:
//! an offline sale made there before is never refused.
//!
//! A shop's outlets are cached for [`TTL`] and forgotten when this replica
//! changes them; an outlet the cache does not know is looked up again
//! before an order is refused (one made on another replica a moment ago),
//! and a sync batch always reads them afresh.

use crate::http::error::ApiError;
use common::ids::TenantId;
use common::order::ValidatedOrder;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(5);

/// One shop's outlets, as the door needs them.
#[derive(Debug)]
pub struct ShopOutlets {
    default: Uuid,
    known: HashSet<Uuid>,
}

impl ShopOutlets {
    /// Put `order` at its outlet: the one it names, if the shop has it;
    /// the default one when it names none.
    pub fn place(&self, order: &mut ValidatedOrder) -> Result<(), ApiError> {
        match order.outlet_id {
            None => {
                order.outlet_id = Some(self.default);
                Ok(())
            }
            Some(id) if self.known.contains(&id) => Ok(()),
            Some(id) => Err(ApiError::Unprocessable {
                code: "unknown_outlet",
                message: format!("outletId {id} is not an outlet of this shop"),
            }),
        }
    }

    fn knows(&self, order: &ValidatedOrder) -> bool {
        order.outlet_id.is_none_or(|id| self.known.contains(&id))
    }
}

/// Each shop's outlets and when they were read.
type Cache = Arc<Mutex<HashMap<TenantId, (Instant, Arc<ShopOutlets>)>>>;

#[derive(Clone)]
pub struct Outlets {
    db: PgPool,
    cache: Cache,
}

impl Outlets {
    pub fn new(db: PgPool) -> Self {
        Self { db, cache: Arc::default() }
    }

    /// Put an online order at its outlet (see [`ShopOutlets::place`]).
    pub async fn place(&self, tenant: TenantId, order: &mut ValidatedOrder) -> Result<(), ApiError> {
        let cached = self.cached(tenant);
        let outlets = match cached {
            Some(outlets) if outlets.knows(order) => outlets,
            _ => self.read(tenant).await?,
        };
        outlets.place(order)
    }

    /// The shop's outlets as they are now (a sync batch places many orders).
    pub async fn read(&self, tenant: TenantId) -> Result<Arc<ShopOutlets>, ApiError> {
        let mut tx = common::db::tenant_tx(&self.db, &[tenant.0]).await?;
        let rows: Vec<(Uuid, bool)> = sqlx::query_as("SELECT id, is_default FROM outlets WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_all(&mut *tx)
            .await?;
        let default = rows
            .iter()
            .find_map(|&(id, is_default)| is_default.then_some(id))
            .ok_or_else(|| ApiError::Internal(format!("tenant {tenant} has no default outlet")))?;
        let outlets = Arc::new(ShopOutlets { default, known: rows.into_iter().map(|(id, _)| id).collect() });
        if let Ok(mut map) = self.cache.lock() {
            if map.len() > 4_096 {
                map.retain(|_, (at, _)| at.elapsed() < TTL);
            }
            map.insert(tenant, (Instant::now(), outlets.clone()));
        }
        Ok(outlets)
    }

    /// Forget a shop's cached outlets (they changed here).
    pub fn forget(&self, tenant: TenantId) {
        if let Ok(mut map) = self.cache.lock() {
            map.remove(&tenant);
        }
    }

    fn cached(&self, tenant: TenantId) -> Option<Arc<ShopOutlets>> {
        let map = self.cache.lock().ok()?;
        map.get(&tenant).filter(|(at, _)| at.elapsed() < TTL).map(|(_, o)| o.clone())
    }
}
