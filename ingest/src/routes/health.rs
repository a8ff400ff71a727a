//! Health: `/api/health` checks every dependency for real, each within a
//! deadline so the answer comes in under a second even when one hangs;
//! `/livez` (the process runs) and `/readyz` (Postgres and RabbitMQ
//! reachable) are for orchestrators. Redis is optional: down means degraded.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_millis(800);
/// Below this much free disk the service reports itself down.
const MIN_FREE_DISK_BYTES: u64 = 256 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health)).route("/livez", get(|| async { "ok" })).route("/readyz", get(ready))
}

async fn within(check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, check).await.unwrap_or_else(|_| Err("timed out".to_owned()))
}

async fn database(state: &AppState) -> Result<(), String> {
    within(async { sqlx::query("SELECT 1").execute(&state.db).await.map(|_| ()).map_err(|e| e.to_string()) }).await
}

/// A round trip to the broker (a passive declare of the order queue), not
/// just the connection's last known state: a hung broker times out here
/// instead of looking connected until the heartbeat notices.
async fn broker(state: &AppState) -> Result<(), String> {
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

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (db, redis, rabbitmq) = tokio::join!(database(&state), within(state.duplicates.ping()), broker(&state));
    let disk = disk();
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

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::join!(database(&state), broker(&state)) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready"),
        (Err(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        (_, Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "broker unreachable"),
    }
}
