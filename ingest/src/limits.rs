//! Rate limits shared by every ingest replica: fixed one-minute windows
//! counted in Redis. When Redis is down each replica counts on its own
//! (with a warning): a weaker limit, never an open door. Keys carry the
//! deployment's prefix, so one Redis can serve several deployments.

use crate::error::ApiError;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 60;

pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    namespace: String,
    local: Mutex<HashMap<String, u32>>,
    warned_window: AtomicU64,
}

/// How a request stands against one limit.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    pub limit: u32,
    pub count: u32,
    pub reset_secs: u64,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.limit == 0 || self.count <= self.limit
    }

    /// The 429 for this limit (RateLimit-* and Retry-After headers).
    pub fn refuse(self, what: &str) -> Result<(), ApiError> {
        if self.allowed() {
            return Ok(());
        }
        Err(ApiError::RateLimited {
            message: format!("too many {what}; try again in {} seconds", self.reset_secs),
            limit: self.limit,
            reset_secs: self.reset_secs,
        })
    }
}

fn window() -> (u64, u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    (now / WINDOW_SECS, WINDOW_SECS - now % WINDOW_SECS)
}

impl RateLimiter {
    pub fn new(redis: Option<ConnectionManager>, namespace: &str) -> Self {
        Self {
            redis,
            namespace: namespace.to_owned(),
            local: Mutex::new(HashMap::new()),
            warned_window: AtomicU64::new(0),
        }
    }

    /// Count one more against `bucket:key`.
    pub async fn hit(&self, bucket: &str, key: &str, limit: u32) -> Verdict {
        self.count(bucket, key, limit, 1).await
    }

    /// Where `bucket:key` stands, without counting.
    pub async fn peek(&self, bucket: &str, key: &str, limit: u32) -> Verdict {
        self.count(bucket, key, limit, 0).await
    }

    async fn count(&self, bucket: &str, key: &str, limit: u32, add: u32) -> Verdict {
        let (window, reset_secs) = window();
        if limit == 0 {
            return Verdict { limit, count: 0, reset_secs };
        }
        let redis_key = format!("{}:rl:{bucket}:{key}:{window}", self.namespace);
        let count = match self.redis_count(&redis_key, add).await {
            Some(count) => count,
            None => self.local_count(&redis_key, window, add),
        };
        // For a peek, the next request is the one that would count.
        let count = if add == 0 { count + 1 } else { count };
        Verdict { limit, count, reset_secs }
    }

    async fn redis_count(&self, key: &str, add: u32) -> Option<u32> {
        let mut redis = self.redis.clone()?;
        let mut pipe = redis::pipe();
        if add > 0 {
            pipe.cmd("INCRBY").arg(key).arg(add).cmd("EXPIRE").arg(key).arg(WINDOW_SECS * 2).ignore();
        } else {
            pipe.cmd("GET").arg(key);
        }
        let reply = tokio::time::timeout(crate::redis::TIMEOUT, pipe.query_async::<(Option<u32>,)>(&mut redis)).await;
        match reply {
            Ok(Ok((count,))) => Some(count.unwrap_or(0)),
            _ => None,
        }
    }

    fn local_count(&self, key: &str, window: u64, add: u32) -> u32 {
        if self.warned_window.swap(window, Ordering::Relaxed) != window {
            tracing::warn!("Redis unavailable: rate limits are counted per replica until it returns");
        }
        let mut counts = self.local.lock().unwrap_or_else(|p| p.into_inner());
        counts.retain(|k, _| k.ends_with(&format!(":{window}")));
        let count = counts.entry(key.to_owned()).or_insert(0);
        *count += add;
        *count
    }
}

/// Unauthenticated requests, per client address.
pub async fn unauthenticated(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.headers().contains_key(axum::http::header::AUTHORIZATION) {
        return next.run(request).await;
    }
    let ip = request.extensions().get::<crate::client_ip::ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
    let verdict = state.limiter.hit("ip", &ip, state.config.ingest.limits.ip_per_min).await;
    if let Err(refused) = verdict.refuse("requests from this address") {
        tracing::warn!(bucket = "ip", "rate limited");
        return refused.into_response();
    }
    next.run(request).await
}

/// Orders and sync batches, per user and per tenant (many shops share one
/// carrier NAT address, so writes are limited by who, not by where).
pub async fn writes(state: &crate::state::AppState, auth: &crate::auth::AuthUser) -> Result<(), ApiError> {
    let limits = state.config.ingest.limits;
    let (user_key, tenant_key) = (auth.user_id.to_string(), auth.tenant_id.to_string());
    let (user, tenant) = tokio::join!(
        state.limiter.hit("user_writes", &user_key, limits.user_writes_per_min),
        state.limiter.hit("tenant_writes", &tenant_key, limits.tenant_writes_per_min),
    );
    for (bucket, verdict) in [("user_writes", user), ("tenant_writes", tenant)] {
        if !verdict.allowed() {
            tracing::warn!(bucket, tenant_id = %auth.tenant_id, "rate limited");
        }
        verdict.refuse("orders in the last minute")?;
    }
    Ok(())
}
