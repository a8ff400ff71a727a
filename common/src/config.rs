//! Configuration from environment variables, parsed and validated once at
//! start-up. Development defaults let `scripts/run` work out of the box;
//! production (`APP_ENV=production`) refuses missing or weak secrets.
//! Every variable is documented in the README.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub env: AppEnv,
    pub log_level: String,
    pub log_json: bool,
    pub database: DatabaseConfig,
    pub broker: BrokerConfig,
    /// Optional: shared rate limits and fast duplicate checks. Without it
    /// each replica limits on its own and duplicates go to Postgres.
    pub redis_url: Option<String>,
    pub secrets: Secrets,
    pub ingest: IngestConfig,
    pub worker: WorkerConfig,
    pub shutdown_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    /// The services' connection: a role that owns no tables (`warungin_app`).
    /// May list a primary and its standbys (`crate::servers`); the services
    /// always talk to the one that accepts writes.
    pub url: String,
    /// The migration's connection: the tables' owner (defaults to `url`).
    pub migrate_url: String,
    pub pool_size: u32,
}

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// One node, or every node of a cluster (`crate::servers`): clients
    /// connect to the first that answers and move on when it is lost.
    pub url: String,
    /// Prefix of every exchange and queue name: one broker can host several
    /// isolated pipelines (each test gets its own).
    pub prefix: String,
    /// Shown in the broker's connection list; tests close connections by it.
    pub connection_name: Option<String>,
    pub confirm_timeout: Duration,
    pub publish_channels: usize,
    /// Delay before each retry of a transiently failed order, one delay queue each.
    pub retry_delays: Vec<Duration>,
    /// Redeliveries (crash, nack) the broker allows before dead-lettering.
    pub delivery_limit: u32,
    /// Members a new quorum queue starts with on a cluster (at most the nodes
    /// there are); `None` leaves it to the broker's `quorum_cluster_size`.
    pub quorum_group_size: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct Secrets {
    pub jwt_secret: Secret,
    /// The previous signing secret, still accepted while tokens signed with it expire.
    pub jwt_secret_previous: Option<Secret>,
    pub jwt_refresh_secret: Secret,
    pub internal_api_key: Secret,
}

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub addr: SocketAddr,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How often ingest polls queue depths and Postgres for its gauges.
    pub metrics_poll: Duration,
    pub limits: RateLimits,
    /// Proxies whose X-Forwarded-For is believed (CIDRs); empty: none.
    pub trusted_proxies: Vec<String>,
    /// Networks the internal-key routes answer (CIDRs); empty: any.
    pub admin_allowed_cidrs: Vec<String>,
    /// Origins allowed cross-origin requests; empty: no CORS.
    pub cors_allowed_origins: Vec<String>,
    /// Start in maintenance mode (writes answer 503).
    pub maintenance_mode: bool,
    /// Requests served at once; past it, `503 overloaded` at once (no queue to grow).
    pub max_concurrent_requests: usize,
    /// The longest a request may take, body and handler (then `503 timed_out`).
    pub request_timeout: Duration,
    /// The longest a request's body may take to arrive (then `408 request_timeout`).
    pub request_body_timeout: Duration,
    pub admission: AdmissionConfig,
}

/// Group commit of pending rows: concurrent requests' orders written in one
/// transaction (one WAL flush) by the admission writer.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionConfig {
    /// The longest the first order of a group waits for company (`ADMIT_MAX_WAIT`).
    pub max_wait: Duration,
    /// Orders per group at most (`ADMIT_MAX_BATCH`); a bigger sync batch is a group of its own.
    pub max_batch: usize,
    /// Groups written at once (`ADMIT_WRITERS`); while all are busy the next group grows.
    pub writers: usize,
    /// Sync uploads read and validated at once (`SYNC_MAX_CONCURRENT`); the
    /// rest wait for a turn before their body is read, so ingest's memory is
    /// bounded by this many 2 MiB bodies, not by the number of terminals.
    pub sync_uploads: usize,
}

/// Requests per minute; 0 turns a limit off.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// Unauthenticated requests per client IP.
    pub ip_per_min: u32,
    /// Failed logins per client IP and, separately, per account.
    pub login_failures_per_min: u32,
    /// Order and sync writes per user.
    pub user_writes_per_min: u32,
    /// Order and sync writes per tenant.
    pub tenant_writes_per_min: u32,
    /// Wrong till PINs per cashier and, separately, per till in one
    /// `pin_lockout` window; past it every PIN (even the right one) gets 429.
    pub pin_failures: u32,
    pub pin_lockout: Duration,
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Health and metrics port of a worker.
    pub addr: SocketAddr,
    pub prefetch: u16,
    pub batch_size: usize,
    /// How long a batch waits for more messages once it has one.
    pub batch_linger: Duration,
    /// Batches committed at once by one worker process.
    pub concurrency: usize,
    /// Deliveries of an order (first + retries) before it is dead-lettered.
    pub max_attempts: u32,
    /// Bound on one batch's database transaction (ORDER_TRANSACTION_TIMEOUT).
    pub transaction_timeout: Duration,
    /// Members who neither bought nor were changed for this long are
    /// anonymized (`MEMBER_RETENTION_DAYS`, UU PDP).
    pub member_retention: Duration,
    /// Raw requests of resolved or discarded failed syncs and dead letters
    /// lose members' personal fields this long after (`REVIEW_RETENTION_DAYS`).
    pub review_retention: Duration,
    /// How often the retention sweep runs (`RETENTION_SWEEP_EVERY`).
    pub retention_every: Duration,
    /// A pending order older than this has lost its message: republish it.
    /// Longer than the whole retry schedule, so a retry in flight is not doubled.
    pub republish_pending_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Development-only defaults; production refuses them.
pub const DEV_JWT_SECRET: &str = "dev-only-jwt-secret-change-me-0000000000";
pub const DEV_JWT_REFRESH_SECRET: &str = "dev-only-refresh-secret-change-me-000000";
pub const DEV_INTERNAL_API_KEY: &str = "dev-only-internal-key-change-me-00000000";
const MIN_SECRET_BYTES: usize = 32;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Build from any lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let app_env = match env.text("APP_ENV", "development").as_str() {
            "development" | "dev" => AppEnv::Development,
            "test" => AppEnv::Test,
            "production" | "prod" => AppEnv::Production,
            other => return Err(invalid("APP_ENV", format!("unknown environment {other:?}"))),
        };
        let retry_delays = env.durations("RETRY_DELAYS", "1s,5s,30s,2m,10m")?;
        let default_attempts = u32::try_from(retry_delays.len() + 1).unwrap_or(u32::MAX);
        let config = Config {
            env: app_env,
            log_level: env.text("LOG_LEVEL", "info"),
            log_json: env.text("LOG_FORMAT", "json") != "pretty",
            database: DatabaseConfig {
                url: env.text("DATABASE_URL", "postgres://warungin_app@127.0.0.1:5432/warungin"),
                migrate_url: lookup("MIGRATE_DATABASE_URL")
                    .or_else(|| lookup("DATABASE_URL"))
                    .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/warungin".to_owned()),
                pool_size: env.number("DATABASE_POOL_SIZE", 16)?,
            },
            broker: BrokerConfig {
                url: env.text("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
                prefix: env.text("AMQP_PREFIX", "warungin"),
                connection_name: lookup("AMQP_CONNECTION_NAME"),
                confirm_timeout: env.duration("PUBLISH_CONFIRM_TIMEOUT", "5s")?,
                publish_channels: env.number("PUBLISH_CHANNELS", 2)?,
                retry_delays,
                delivery_limit: env.number("AMQP_DELIVERY_LIMIT", 20)?,
                quorum_group_size: match lookup("AMQP_QUORUM_GROUP_SIZE") {
                    None => None,
                    Some(_) => Some(env.number("AMQP_QUORUM_GROUP_SIZE", std::num::NonZeroU32::MIN)?.get()),
                },
            },
            redis_url: match lookup("REDIS_URL") {
                Some(url) if url == "off" || url == "none" => None,
                Some(url) => Some(url),
                None if app_env == AppEnv::Production => None,
                None => Some("redis://127.0.0.1:6379".to_owned()),
            },
            secrets: Secrets {
                jwt_secret: env.secret("JWT_SECRET", DEV_JWT_SECRET, app_env)?,
                jwt_secret_previous: match lookup("JWT_SECRET_PREVIOUS") {
                    None => None,
                    Some(_) => Some(env.secret("JWT_SECRET_PREVIOUS", DEV_JWT_SECRET, app_env)?),
                },
                jwt_refresh_secret: env.secret("JWT_REFRESH_SECRET", DEV_JWT_REFRESH_SECRET, app_env)?,
                internal_api_key: env.secret("INTERNAL_API_KEY", DEV_INTERNAL_API_KEY, app_env)?,
            },
            ingest: IngestConfig {
                addr: env.addr("INGEST_ADDR", "127.0.0.1:8080")?,
                access_token_ttl: env.duration("ACCESS_TOKEN_TTL", "15m")?,
                refresh_token_ttl: env.duration("REFRESH_TOKEN_TTL", "72h")?,
                metrics_poll: env.duration("METRICS_POLL_INTERVAL", "5s")?,
                limits: RateLimits {
                    ip_per_min: env.number("RATE_LIMIT_IP_PER_MIN", 1_000)?,
                    login_failures_per_min: env.number("RATE_LIMIT_LOGIN_FAILURES_PER_MIN", 10)?,
                    user_writes_per_min: env.number("RATE_LIMIT_USER_WRITES_PER_MIN", 100)?,
                    tenant_writes_per_min: env.number("RATE_LIMIT_TENANT_WRITES_PER_MIN", 6_000)?,
                    pin_failures: env.number("RATE_LIMIT_PIN_FAILURES", 5)?,
                    pin_lockout: env.duration("PIN_LOCKOUT", "15m")?,
                },
                trusted_proxies: env.list("TRUSTED_PROXIES"),
                admin_allowed_cidrs: env.list("ADMIN_ALLOWED_CIDRS"),
                cors_allowed_origins: env.list("CORS_ALLOWED_ORIGINS"),
                maintenance_mode: env.text("MAINTENANCE_MODE", "false") == "true",
                max_concurrent_requests: env.number("MAX_CONCURRENT_REQUESTS", 512)?,
                request_timeout: env.duration("REQUEST_TIMEOUT", "30s")?,
                request_body_timeout: env.duration("REQUEST_BODY_TIMEOUT", "10s")?,
                admission: AdmissionConfig {
                    max_wait: env.duration("ADMIT_MAX_WAIT", "1ms")?,
                    max_batch: env.number("ADMIT_MAX_BATCH", 256)?,
                    writers: env.number("ADMIT_WRITERS", 4)?,
                    sync_uploads: env.number("SYNC_MAX_CONCURRENT", 4)?,
                },
            },
            worker: WorkerConfig {
                addr: env.addr("WORKER_ADDR", "127.0.0.1:9091")?,
                prefetch: env.number("WORKER_PREFETCH", 300)?,
                batch_size: env.number("WORKER_BATCH_SIZE", 100)?,
                batch_linger: env.duration("WORKER_BATCH_LINGER", "5ms")?,
                concurrency: env.number("WORKER_CONCURRENCY", 2)?,
                max_attempts: env.number("WORKER_MAX_ATTEMPTS", default_attempts)?,
                transaction_timeout: env.duration("ORDER_TRANSACTION_TIMEOUT", "10s")?,
                republish_pending_after: env.duration("REPUBLISH_PENDING_AFTER", "20m")?,
                member_retention: days(env.number("MEMBER_RETENTION_DAYS", 730)?),
                review_retention: days(env.number("REVIEW_RETENTION_DAYS", 30)?),
                retention_every: env.duration("RETENTION_SWEEP_EVERY", "1h")?,
            },
            shutdown_timeout: env.duration("SHUTDOWN_TIMEOUT", "30s")?,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.env == AppEnv::Production {
            let s = &self.secrets;
            if s.jwt_secret == s.jwt_refresh_secret || s.jwt_secret == s.internal_api_key {
                return Err(invalid("JWT_SECRET", "must differ from JWT_REFRESH_SECRET and INTERNAL_API_KEY".into()));
            }
            if s.jwt_refresh_secret == s.internal_api_key {
                return Err(invalid("JWT_REFRESH_SECRET", "must differ from INTERNAL_API_KEY".into()));
            }
            if s.jwt_secret_previous.as_ref().is_some_and(|p| *p == s.jwt_secret) {
                return Err(invalid("JWT_SECRET_PREVIOUS", "must differ from JWT_SECRET".into()));
            }
        }
        let w = &self.worker;
        if w.batch_size == 0 || w.concurrency == 0 || w.max_attempts == 0 {
            return Err(invalid("WORKER_BATCH_SIZE", "batch size, concurrency and attempts must be positive".into()));
        }
        if self.broker.retry_delays.is_empty() {
            return Err(invalid("RETRY_DELAYS", "needs at least one delay".into()));
        }
        if self.broker.publish_channels == 0 || self.database.pool_size == 0 {
            return Err(invalid("PUBLISH_CHANNELS", "channels and pool size must be positive".into()));
        }
        self.ingest.validate_bounds()
    }
}

fn days(days: u64) -> Duration {
    Duration::from_secs(days.saturating_mul(86_400))
}

/// The longest `?wait=` an order may ask for; a request must be allowed longer.
pub const MAX_ORDER_WAIT: Duration = Duration::from_secs(10);

impl IngestConfig {
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        if self.max_concurrent_requests == 0 {
            return Err(invalid("MAX_CONCURRENT_REQUESTS", "must be positive".into()));
        }
        if self.request_timeout <= MAX_ORDER_WAIT {
            return Err(invalid(
                "REQUEST_TIMEOUT",
                format!("must be longer than an order's longest wait ({MAX_ORDER_WAIT:?})"),
            ));
        }
        if self.request_body_timeout.is_zero() || self.request_body_timeout >= self.request_timeout {
            return Err(invalid("REQUEST_BODY_TIMEOUT", "must be positive and shorter than REQUEST_TIMEOUT".into()));
        }
        let a = self.admission;
        if a.max_wait > Duration::from_millis(100) {
            return Err(invalid("ADMIT_MAX_WAIT", "must be at most 100ms: every order waits it".into()));
        }
        if !(1..=10_000).contains(&a.max_batch) || !(1..=64).contains(&a.writers) {
            return Err(invalid("ADMIT_MAX_BATCH", "batch 1..=10000 orders, writers (ADMIT_WRITERS) 1..=64".into()));
        }
        if !(1..=1_000).contains(&a.sync_uploads) {
            return Err(invalid("SYNC_MAX_CONCURRENT", "must be 1..=1000".into()));
        }
        Ok(())
    }
}

#[path = "config_env.rs"]
mod env;
pub use env::parse_duration;
use env::{Env, invalid};

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
