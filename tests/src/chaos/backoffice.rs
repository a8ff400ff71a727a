//! The back office during the fault run: a supervisor cancelling committed
//! orders (sometimes twice, as a double click would) and restocking, so
//! the checker's stock conservation covers cancellations and adjustments.

use crate::loadgen::Target;
use rand::RngExt;
use rand::SeedableRng;
use serde_json::json;
use sqlx::PgPool;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct Activity {
    pub cancels_sent: u64,
    pub restocks_sent: u64,
}

pub async fn run(target: Arc<Target>, db: PgPool, tenant: Uuid, stop: Arc<AtomicBool>, seed: u64) -> Activity {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut activity = Activity::default();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
        if rng.random_bool(0.8) {
            let committed: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM orders WHERE tenant_id = $1 AND status = 'committed' ORDER BY committed_at DESC LIMIT 1 OFFSET $2",
            )
            .bind(tenant)
            .bind(rng.random_range(0..50i64))
            .fetch_optional(&db)
            .await
            .ok()
            .flatten();
            let Some(order) = committed else { continue };
            for _ in 0..if rng.random_bool(0.2) { 2 } else { 1 } {
                let path = format!("/api/orders/{order}/cancel");
                post(&target, &path, json!({ "reason": "chaos: customer returned it" })).await;
                activity.cancels_sent += 1;
            }
        } else {
            let product: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM products WHERE tenant_id = $1 ORDER BY random() LIMIT 1")
                    .bind(tenant)
                    .fetch_optional(&db)
                    .await
                    .ok()
                    .flatten();
            let Some(product) = product else { continue };
            let path = format!("/api/products/{product}/stock-adjustments");
            post(&target, &path, json!({ "delta": rng.random_range(1..50), "reason": "restock" })).await;
            activity.restocks_sent += 1;
        }
    }
    activity
}

/// One request, answered or not (a fault may be under way), into the history.
async fn post(target: &Target, path: &str, body: serde_json::Value) {
    let sent_at = chrono::Utc::now();
    let response =
        target.http.post(format!("{}{path}", target.base)).bearer_auth(&target.token).json(&body).send().await;
    let status = response.as_ref().map_or(0, |r| r.status().as_u16());
    if let Some(history) = &target.history {
        let line = json!({ "at": sent_at, "path": path, "body": body, "status": status });
        if let Ok(mut file) = history.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
}
