//! Health: `/api/health` checks every dependency for real, each within
//! `CHECK_BUDGET` so the answer comes in time even when one hangs;
//! `/livez` (the process runs) and `/readyz` (Postgres and RabbitMQ
//! reachable) are for orchestrators. Redis is optional: down means degraded.
//!
//! Both are unauthenticated, so a flood of calls must not become a flood of
//! round trips: callers share the probe in progress, and a probe's result is
//! reused for `PROBE_REUSE`: at most one probe of each dependency a second.

use crate::accept::duplicates::DuplicateCache;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common::broker::Publisher;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long each dependency's check may take; a probe takes no longer.
pub const CHECK_BUDGET: Duration = Duration::from_millis(800);
/// How long a probe's result answers later calls.
pub const PROBE_REUSE: Duration = Duration::from_secs(1);
/// Below this much free disk the service reports itself down.
const MIN_FREE_DISK_BYTES: u64 = 256 * 1024 * 1024;

/// The routes, with their own state: what they probe and the latest probe
/// (one per application, shared by every caller).
pub fn router<S: Clone + Send + Sync + 'static>(health: Health) -> Router<S> {
    Router::new()
        .route("/api/health", get(health_check))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(health)
}

/// One probe's findings.
#[derive(Clone, Debug)]
struct Report {
    db: Result<(), String>,
    redis: Result<(), String>,
    rabbitmq: Result<(), String>,
    disk: Result<(), String>,
}

type Probe = Shared<BoxFuture<'static, Report>>;

/// What the probe checks, and the latest probe (in progress or done) with
/// when it started.
#[derive(Clone)]
pub struct Health {
    db: PgPool,
    publisher: Publisher,
    duplicates: DuplicateCache,
    latest: Arc<Mutex<Option<(Instant, Probe)>>>,
}

impl Health {
    pub fn new(db: PgPool, publisher: Publisher, duplicates: DuplicateCache) -> Self {
        Self { db, publisher, duplicates, latest: Arc::default() }
    }
}

/// The latest probe's report, or a new probe's when that one is done and stale.
async fn report(state: &Health) -> Report {
    let probe = {
        let mut latest = state.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match latest.as_ref() {
            Some((started, probe)) if started.elapsed() < PROBE_REUSE || probe.peek().is_none() => probe.clone(),
            _ => {
                let probe = start_probe(state.clone());
                *latest = Some((Instant::now(), probe.clone()));
                probe
            }
        }
    };
    probe.await
}

/// A probe in a task of its own: it finishes (and serves the others) even
/// if the caller that started it hangs up.
fn start_probe(state: Health) -> Probe {
    crate::metrics::health_probe();
    let task = tokio::spawn(async move {
        let (db, redis, rabbitmq) = tokio::join!(database(&state), within(state.duplicates.ping()), broker(&state));
        Report { db, redis, rabbitmq, disk: disk() }
    });
    async move {
        task.await.unwrap_or_else(|_| {
            let lost = || Err("the probe did not finish".to_owned());
            Report { db: lost(), redis: lost(), rabbitmq: lost(), disk: lost() }
        })
    }
    .boxed()
    .shared()
}

async fn within(check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_BUDGET, check).await.unwrap_or_else(|_| Err("timed out".to_owned()))
}

async fn database(state: &Health) -> Result<(), String> {
    within(async { sqlx::query("SELECT 1").execute(&state.db).await.map(|_| ()).map_err(|e| e.to_string()) }).await
}

/// A round trip to the broker (a passive declare of the order queue), not
/// just the connection's last known state: a hung broker times out here
/// instead of looking connected until the heartbeat notices.
async fn broker(state: &Health) -> Result<(), String> {
    if state.publisher.is_blocked() {
        return Err("blocking publishers (resource alarm)".to_owned());
    }
    let queue = state.publisher.topology().orders_queue();
    within(async { state.publisher.queue_states(&[queue]).await.map(|_| ()).map_err(|e| e.to_string()) }).await
}

fn disk() -> Result<(), String> {
    let stats = rustix::fs::statvfs(".").map_err(|e| e.to_string())?;
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    if free >= MIN_FREE_DISK_BYTES { Ok(()) } else { Err(format!("only {} MiB free", free / (1024 * 1024))) }
}

fn label(result: &Result<(), String>) -> Value {
    match result {
        Ok(()) => json!("ok"),
        Err(e) => json!(format!("down: {e}")),
    }
}

async fn health_check(State(state): State<Health>) -> (StatusCode, Json<Value>) {
    let Report { db, redis, rabbitmq, disk } = report(&state).await;
    let required_ok = db.is_ok() && rabbitmq.is_ok() && disk.is_ok();
    let (status, code) = match (required_ok, redis.is_ok()) {
        (false, _) => ("down", StatusCode::SERVICE_UNAVAILABLE),
        (true, false) => ("degraded", StatusCode::OK),
        (true, true) => ("ok", StatusCode::OK),
    };
    let redis_label = if state.duplicates.enabled() { label(&redis) } else { json!("disabled") };
    let body = json!({
        "status": status,
        "timestamp": chrono::Utc::now(),
        "checks": { "db": label(&db), "rabbitmq": label(&rabbitmq), "redis": redis_label, "disk": label(&disk) },
    });
    (code, Json(body))
}

async fn ready(State(state): State<Health>) -> (StatusCode, &'static str) {
    let report = report(&state).await;
    match (report.db, report.rabbitmq) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready"),
        (Err(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        (_, Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable"),
    }
}
