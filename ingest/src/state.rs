//! What every handler shares: the database pool, the broker publisher, the
//! optional Redis duplicate cache, token keys and the configuration.

use crate::accept::duplicates::DuplicateCache;
use crate::accept::in_flight::InFlight;
use crate::auth::tokens::TokenKeys;
use common::broker::Publisher;
use common::config::Config;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub publisher: Publisher,
    pub duplicates: DuplicateCache,
    pub keys: Arc<TokenKeys>,
    pub config: Arc<Config>,
    pub in_flight: InFlight,
    pub limiter: Arc<crate::http::middleware::limits::RateLimiter>,
    pub maintenance: Arc<crate::http::middleware::maintenance::Maintenance>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Networks the internal-key routes answer; empty: any.
    pub admin_networks: Arc<Vec<ipnet::IpNet>>,
    /// Permits for requests in progress (`MAX_CONCURRENT_REQUESTS`).
    pub requests: Arc<tokio::sync::Semaphore>,
    /// The latest health probe, shared by concurrent callers.
    pub health: Arc<crate::http::routes::health::HealthCache>,
}

impl AppState {
    /// A transaction that sees only `tenant`'s rows (row-level security).
    pub async fn tx(
        &self,
        tenant: common::ids::TenantId,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, crate::http::error::ApiError> {
        Ok(common::db::tenant_tx(&self.db, &[tenant.0]).await?)
    }
}
