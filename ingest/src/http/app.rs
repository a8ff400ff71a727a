//! Building the ingest service: state, router and listener. Tests build it
//! on port 0 against their own database and queue prefix; `main` builds it
//! from the environment.

use crate::accept::duplicates::DuplicateCache;
use crate::accept::in_flight::InFlight;
use crate::accept::writer::AdmissionWriter;
use crate::auth::tokens::TokenKeys;
use crate::http::error::ApiError;
use crate::http::extract::BodyDeadline;
use crate::http::middleware::limits::{Limits, RateLimiter};
use crate::http::middleware::maintenance::{self, Switch};
use crate::http::middleware::overload::Overload;
use crate::http::middleware::{client_ip, headers, limits, overload, request_id};
use crate::http::routes;
use crate::state::AppState;
use axum::Router;
use axum::extract::FromRef;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use common::broker::Publisher;
use common::config::Config;
use common::shutdown::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid DATABASE_URL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    addr: SocketAddr,
    shutdown: Shutdown,
    pub state: AppState,
}

impl Application {
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let state = state(config, shutdown.clone())?;
        let addr = state.config.ingest.addr;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
        // Serve even if the broker is down: writes answer 503 until it returns.
        if !state.publisher.wait_connected(Duration::from_secs(3)).await {
            tracing::warn!("starting without a broker connection; orders get 503 until it is back");
        }
        crate::metrics::register();
        if state.config.ingest.maintenance_mode {
            maintenance::store(&state.db, &Switch { enabled: true, message: None }).await?;
        }
        background(&state, &shutdown);
        Ok(Self { listener, router: router(state.clone()), addr, shutdown, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until shutdown; in-flight requests finish first.
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.addr, "ingest listening");
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(self.shutdown.cancelled_owned()).await
    }
}

/// The maintenance follower and the metrics poller, until shutdown.
fn background(state: &AppState, shutdown: &Shutdown) {
    let follower = tokio::spawn(maintenance::follow(state.db.clone(), state.maintenance.clone()));
    let poller = tokio::spawn(crate::metrics::poll(state.db.clone(), state.publisher.clone(), state.config.clone()));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        poller.abort();
        follower.abort();
    });
}

pub fn state(config: Config, shutdown: Shutdown) -> Result<AppState, StartError> {
    let db = common::db::pool(&config.database.url, config.database.pool_size)?;
    let name =
        config.broker.connection_name.clone().unwrap_or_else(|| format!("warungin-ingest-{}", std::process::id()));
    let publisher = Publisher::start(&config.broker, name, shutdown);
    let keys = TokenKeys::new(&config.secrets, config.ingest.access_token_ttl, config.ingest.refresh_token_ttl);
    let redis = crate::redis::connect(config.redis_url.as_deref());
    let trusted_proxies = client_ip::parse_networks(&config.ingest.trusted_proxies).map_err(StartError::Config)?;
    let admin_networks = client_ip::parse_networks(&config.ingest.admin_allowed_cidrs).map_err(StartError::Config)?;
    let requests = Arc::new(tokio::sync::Semaphore::new(config.ingest.max_concurrent_requests));
    let config_sync_uploads = config.ingest.admission.sync_uploads;
    let duplicates = DuplicateCache::new(redis.clone());
    // Its own pool, so groups never wait behind API reads. The liveness check
    // on acquire costs a round trip per group, not per order, and replaces
    // the connections a database restart or restore left dead.
    let writers = u32::try_from(config.ingest.admission.writers).unwrap_or(u32::MAX);
    let admission_pool = common::db::pool(&config.database.url, writers)?;
    let admission =
        AdmissionWriter::start(admission_pool, publisher.clone(), duplicates.clone(), config.ingest.admission);
    Ok(AppState {
        quoter: crate::accept::quote::Quoter::new(db.clone()),
        outlets: crate::accept::outlets::Outlets::new(db.clone()),
        sessions: Arc::new(crate::auth::sessions::Sessions::new(db.clone(), redis.clone(), &config.broker.prefix)),
        db,
        publisher,
        duplicates,
        admission,
        keys: Arc::new(keys),
        limiter: Arc::new(RateLimiter::new(redis, &config.broker.prefix)),
        maintenance: Arc::default(),
        trusted_proxies: Arc::new(trusted_proxies),
        admin_networks: Arc::new(admin_networks),
        config: Arc::new(config),
        in_flight: InFlight::default(),
        requests,
        sync_uploads: Arc::new(tokio::sync::Semaphore::new(config_sync_uploads)),
    })
}

/// Every route, then the middleware around them (the last layer is the outermost).
pub fn router(state: AppState) -> Router {
    let cors = headers::cors(&state.config.ingest.cors_allowed_origins);
    let health = routes::health::Health::new(state.db.clone(), state.publisher.clone(), state.duplicates.clone());
    routes(health)
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| -> Response {
            ApiError::Internal("a handler panicked".to_owned()).into_response()
        }))
        .layer(axum::Extension(BodyDeadline(state.config.ingest.request_body_timeout)))
        .layer(from_fn_with_state(state.maintenance.clone(), maintenance::middleware))
        .layer(from_fn_with_state(Limits::from_ref(&state), limits::unauthenticated))
        .layer(from_fn_with_state(Overload::from_ref(&state), overload::middleware))
        .layer(from_fn(crate::metrics::http))
        .layer(tower::util::option_layer(cors))
        .layer(from_fn_with_state(state.trusted_proxies.clone(), client_ip::middleware))
        .layer(from_fn(headers::middleware))
        .layer(from_fn(request_id::middleware))
        .with_state(state)
}

fn routes(health: routes::health::Health) -> Router<AppState> {
    Router::new()
        .merge(routes::maintenance::router())
        .merge(routes::admin::router())
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::devices::router())
        .merge(routes::audit::router())
        .merge(routes::products::router())
        .merge(routes::discounts::router())
        .merge(routes::members::router())
        .merge(routes::personal_data::router())
        .merge(routes::outlets::router())
        .merge(routes::reports::router())
        .merge(routes::orders::router())
        .merge(routes::refunds::router())
        .merge(routes::stock_transfers::router())
        .merge(routes::shifts::router())
        .merge(routes::settings::router())
        .merge(routes::sync::router())
        .merge(routes::failed_syncs::router())
        .merge(routes::health::router(health))
        .merge(routes::ops::router())
        .route("/metrics", axum::routing::get(crate::metrics::render))
}
