//! A worker's own HTTP port: `/livez` (the process runs), `/readyz`
//! (consuming the order queue and reaching PostgreSQL) for orchestrators,
//! and `/metrics` for Prometheus.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Clone)]
pub struct Health {
    pub pool: deadpool_postgres::Pool,
    pub consuming: Arc<AtomicBool>,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(|| async { common::metrics::render() }))
        .with_state(health)
}

async fn ready(State(health): State<Health>) -> (StatusCode, &'static str) {
    if !health.consuming.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not consuming the order queue");
    }
    let database = tokio::time::timeout(Duration::from_secs(1), async {
        let client = health.pool.get().await.ok()?;
        client.query_one("SELECT 1", &[]).await.ok()
    });
    match database.await {
        Ok(Some(_)) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}
