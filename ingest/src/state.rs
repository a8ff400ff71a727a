//! What the handlers share, and the only place that knows all of it. Every
//! component takes just its part (a sub-state, through axum's `FromRef`),
//! so the components depend on nothing here and only the handlers and
//! `http::app` see the whole application.

use crate::accept::Acceptor;
use crate::accept::duplicates::DuplicateCache;
use crate::accept::in_flight::InFlight;
use crate::accept::writer::AdmissionWriter;
use crate::auth::AdminNetworks;
use crate::auth::tokens::TokenKeys;
use crate::http::error::ApiError;
use crate::http::middleware::limits::{Limits, RateLimiter};
use crate::http::middleware::maintenance::Maintenance;
use crate::http::middleware::overload::Overload;
use axum::extract::FromRef;
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
    /// The door's payment check (tenants' pricing, cached a few seconds).
    pub quoter: crate::accept::quote::Quoter,
    /// The door's outlet check (shops' outlets, cached a few seconds).
    pub outlets: crate::accept::outlets::Outlets,
    /// Group commit of pending rows (its own pool of `ADMIT_WRITERS` connections).
    pub admission: AdmissionWriter,
    pub limiter: Arc<RateLimiter>,
    /// Whether a token's user and till may still act (cut-off within seconds).
    pub sessions: Arc<crate::auth::sessions::Sessions>,
    pub maintenance: Arc<Maintenance>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Networks the internal-key routes answer; empty: any.
    pub admin_networks: Arc<Vec<ipnet::IpNet>>,
    /// Permits for requests in progress (`MAX_CONCURRENT_REQUESTS`).
    pub requests: Arc<tokio::sync::Semaphore>,
    /// Turns for sync uploads to be read (`SYNC_MAX_CONCURRENT`).
    pub sync_uploads: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// A transaction that sees only `tenant`'s rows (row-level security).
    pub async fn tx(
        &self,
        tenant: common::ids::TenantId,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
        Ok(common::db::tenant_tx(&self.db, &[tenant.0]).await?)
    }

    /// A read-only transaction on one snapshot that sees only `tenant`'s rows.
    pub async fn snapshot(
        &self,
        tenant: common::ids::TenantId,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
        Ok(common::db::tenant_snapshot(&self.db, &[tenant.0]).await?)
    }
}

/// Token keys, for the `AuthUser` and `InternalKey` extractors.
impl FromRef<AppState> for Arc<TokenKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// Session standing, for the `AuthUser` extractor.
impl FromRef<AppState> for Arc<crate::auth::sessions::Sessions> {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

/// The internal-key routes' networks, for the `InternalKey` extractor.
impl FromRef<AppState> for AdminNetworks {
    fn from_ref(state: &AppState) -> Self {
        AdminNetworks(state.admin_networks.clone())
    }
}

/// The rate limits: the unauthenticated middleware, sign-in and `Writer`.
impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        Limits { limiter: state.limiter.clone(), keys: state.keys.clone(), per_min: state.config.ingest.limits }
    }
}

/// This replica's view of the maintenance switch.
impl FromRef<AppState> for Arc<Maintenance> {
    fn from_ref(state: &AppState) -> Self {
        state.maintenance.clone()
    }
}

/// The bounds on requests in progress.
impl FromRef<AppState> for Overload {
    fn from_ref(state: &AppState) -> Self {
        Overload {
            permits: state.requests.clone(),
            limit: state.config.ingest.max_concurrent_requests,
            timeout: state.config.ingest.request_timeout,
        }
    }
}

/// What accepting an order needs.
impl FromRef<AppState> for Acceptor {
    fn from_ref(state: &AppState) -> Self {
        Acceptor {
            writer: state.admission.clone(),
            duplicates: state.duplicates.clone(),
            in_flight: state.in_flight.clone(),
        }
    }
}
