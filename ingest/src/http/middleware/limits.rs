//! Rate limits shared by every ingest replica: fixed one-minute windows
//! counted in Redis. When Redis is down each replica counts on its own
//! (with a warning): a weaker limit, never an open door. Keys carry the
//! deployment's prefix, so one Redis can serve several deployments.

use crate::auth::AuthUser;
use crate::auth::tokens::TokenKeys;
use crate::http::error::ApiError;
use crate::http::extract::ClientIp;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::config::RateLimits;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 60;

pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    namespace: String,
    /// Counts kept here while Redis is away: key -> (window length, count).
    local: Mutex<HashMap<String, (u64, i64)>>,
    warned_window: AtomicU64,
}

/// How a request stands against one limit.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    pub limit: u32,
    pub count: u32,
    pub reset_secs: u64,
    /// The window it was counted in (what `give_back` takes from), and its length.
    window: u64,
    window_secs: u64,
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

fn window(secs: u64) -> (u64, u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let secs = secs.max(1);
    (now / secs, secs - now % secs)
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

    /// Count one more against `bucket:key`. The count is taken first and
    /// judged after, so parallel requests cannot all slip under the limit.
    pub async fn hit(&self, bucket: &str, key: &str, limit: u32) -> Verdict {
        self.hit_in(bucket, key, limit, WINDOW_SECS).await
    }

    /// [`hit`](Self::hit) in fixed windows of `window_secs`.
    pub async fn hit_in(&self, bucket: &str, key: &str, limit: u32, window_secs: u64) -> Verdict {
        let (window, reset_secs) = window(window_secs);
        if limit == 0 {
            return Verdict { limit, count: 0, reset_secs, window, window_secs };
        }
        let count = self.add(&self.key(bucket, key, window), 1, window_secs).await;
        Verdict { limit, count: u32::try_from(count.max(0)).unwrap_or(u32::MAX), reset_secs, window, window_secs }
    }

    /// Take back what `verdict` counted (an attempt that turned out not to
    /// count), in the window it was counted in.
    pub async fn give_back(&self, bucket: &str, key: &str, verdict: Verdict) {
        if verdict.limit > 0 {
            self.add(&self.key(bucket, key, verdict.window), -1, verdict.window_secs).await;
        }
    }

    fn key(&self, bucket: &str, key: &str, window: u64) -> String {
        format!("{}:rl:{bucket}:{key}:{window}", self.namespace)
    }

    async fn add(&self, key: &str, add: i64, window_secs: u64) -> i64 {
        match self.redis_add(key, add, window_secs).await {
            Some(count) => count,
            None => self.local_add(key, add, window_secs),
        }
    }

    async fn redis_add(&self, key: &str, add: i64, window_secs: u64) -> Option<i64> {
        let mut redis = self.redis.clone()?;
        let mut pipe = redis::pipe();
        pipe.cmd("INCRBY").arg(key).arg(add).cmd("EXPIRE").arg(key).arg(window_secs.max(1) * 2).ignore();
        let reply = tokio::time::timeout(crate::redis::TIMEOUT, pipe.query_async::<(i64,)>(&mut redis)).await;
        match reply {
            Ok(Ok((count,))) => Some(count),
            _ => None,
        }
    }

    fn local_add(&self, key: &str, add: i64, window_secs: u64) -> i64 {
        let (minute, _) = window(WINDOW_SECS);
        if self.warned_window.swap(minute, Ordering::Relaxed) != minute {
            tracing::warn!("Redis unavailable: rate limits are counted per replica until it returns");
        }
        let mut counts = self.local.lock().unwrap_or_else(|p| p.into_inner());
        // Each key ends with its window; a key whose window is over goes.
        counts.retain(|k, (secs, _)| k.ends_with(&format!(":{}", window_of(*secs))));
        let (_, count) = counts.entry(key.to_owned()).or_insert((window_secs, 0));
        *count += add;
        *count
    }
}

fn window_of(secs: u64) -> u64 {
    window(secs).0
}

/// What the limits need: the counters, the token keys (a token that
/// verifies moves a request from the per-address limit to the per-user
/// ones) and the configured limits.
#[derive(Clone)]
pub struct Limits {
    pub limiter: Arc<RateLimiter>,
    pub keys: Arc<TokenKeys>,
    pub per_min: RateLimits,
}

/// Unauthenticated requests, per client address. Only a token that
/// verifies (signature and expiry, no database) moves a request to the
/// per-user limits; a missing, bogus or expired one counts here.
pub async fn unauthenticated(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if crate::auth::bearer(request.headers()).is_some_and(|token| limits.keys.verify_access(token).is_ok()) {
        return next.run(request).await;
    }
    let ip = request.extensions().get::<ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
    let verdict = limits.limiter.hit("ip", &ip, limits.per_min.ip_per_min).await;
    if let Err(refused) = verdict.refuse("requests from this address") {
        tracing::warn!(bucket = "ip", "rate limited");
        return refused.into_response();
    }
    next.run(request).await
}

/// A sign-in attempt's places in the failed-login limits (per address and
/// per account), taken before the password is verified so that parallel
/// guesses cannot all pass a check made before any of them failed.
pub struct LoginAttempt {
    ip: String,
    account: String,
    taken: Option<(Verdict, Verdict)>,
}

impl LoginAttempt {
    pub fn new(ip: String, account: String) -> Self {
        Self { ip, account, taken: None }
    }

    /// Take a place in both limits; refused (and given back) past either.
    pub async fn reserve(&mut self, limits: &Limits) -> Result<(), ApiError> {
        let limit = limits.per_min.login_failures_per_min;
        let limiter = &limits.limiter;
        let taken =
            tokio::join!(limiter.hit("login_ip", &self.ip, limit), limiter.hit("login_account", &self.account, limit));
        self.taken = Some(taken);
        if taken.0.allowed() && taken.1.allowed() {
            return Ok(());
        }
        tracing::warn!(bucket = "login", "rate limited");
        self.give_back(limits).await;
        taken.0.refuse("failed logins")?;
        taken.1.refuse("failed logins")
    }

    /// The attempt did not fail (signed in, or never checked): it does not count.
    pub async fn give_back(&mut self, limits: &Limits) {
        if let Some((by_ip, by_account)) = self.taken.take() {
            tokio::join!(
                limits.limiter.give_back("login_ip", &self.ip, by_ip),
                limits.limiter.give_back("login_account", &self.account, by_account)
            );
        }
    }
}

/// A PIN attempt's places in the wrong-PIN limits (per cashier and per
/// till), taken before the PIN is checked, in `pin_lockout` windows: past
/// the limit, every PIN is refused (429) until the window ends, so a 4-6
/// digit PIN cannot be walked through.
pub struct PinAttempt {
    user: String,
    device: String,
    taken: Option<(Verdict, Verdict)>,
}

impl PinAttempt {
    pub fn new(user: String, device: String) -> Self {
        Self { user, device, taken: None }
    }

    pub async fn reserve(&mut self, limits: &Limits) -> Result<(), ApiError> {
        let (limit, secs) = (limits.per_min.pin_failures, limits.per_min.pin_lockout.as_secs());
        let limiter = &limits.limiter;
        let taken = tokio::join!(
            limiter.hit_in("pin_user", &self.user, limit, secs),
            limiter.hit_in("pin_device", &self.device, limit, secs)
        );
        self.taken = Some(taken);
        if taken.0.allowed() && taken.1.allowed() {
            return Ok(());
        }
        tracing::warn!(bucket = "pin", "rate limited");
        // Refused attempts do not count, so the lockout ends with its window.
        self.give_back(limits).await;
        taken.0.refuse("wrong PINs for this cashier")?;
        taken.1.refuse("wrong PINs on this till")
    }

    /// The right PIN: the attempt does not count.
    pub async fn give_back(&mut self, limits: &Limits) {
        if let Some((by_user, by_device)) = self.taken.take() {
            tokio::join!(
                limits.limiter.give_back("pin_user", &self.user, by_user),
                limits.limiter.give_back("pin_device", &self.device, by_device)
            );
        }
    }
}

/// A caller within its write limits, judged from the headers alone: a write
/// over its limit is refused before its body (up to 2 MiB for a sync batch)
/// is read. Handlers that write take this instead of `AuthUser`.
pub struct Writer(pub AuthUser);

impl<S> FromRequestParts<S> for Writer
where
    S: Send + Sync,
    Limits: FromRef<S>,
    Arc<TokenKeys>: FromRef<S>,
    Arc<crate::auth::sessions::Sessions>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        writes(&Limits::from_ref(state), &auth).await?;
        Ok(Writer(auth))
    }
}

/// Orders and sync batches, per user and per tenant (many shops share one
/// carrier NAT address, so writes are limited by who, not by where).
pub async fn writes(limits: &Limits, auth: &AuthUser) -> Result<(), ApiError> {
    let per_min = limits.per_min;
    let (user_key, tenant_key) = (auth.user_id.to_string(), auth.tenant_id.to_string());
    let (user, tenant) = tokio::join!(
        limits.limiter.hit("user_writes", &user_key, per_min.user_writes_per_min),
        limits.limiter.hit("tenant_writes", &tenant_key, per_min.tenant_writes_per_min),
    );
    for (bucket, verdict) in [("user_writes", user), ("tenant_writes", tenant)] {
        if !verdict.allowed() {
            tracing::warn!(bucket, tenant_id = %auth.tenant_id, "rate limited");
        }
        verdict.refuse("orders in the last minute")?;
    }
    Ok(())
}
