//! The back office during the fault run: a supervisor cancelling committed
//! orders (sometimes twice, as a double click would), refunding some of
//! their items (sometimes the same refund twice at once, sometimes more
//! than is left), restocking either outlet, and moving stock between the
//! two outlets (sometimes the same transfer twice at once, sometimes more
//! than the source has: a failed transfer, retried later), so the checker's
//! per-outlet stock conservation covers cancellations, returns, adjustments
//! and transfers; and opening, paying in and out of, and closing cash
//! shifts (`shifts`).

use crate::loadgen::Target;
use rand::RngExt;
use rand::SeedableRng;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct Activity {
    pub cancels_sent: u64,
    pub refunds_sent: u64,
    pub restocks_sent: u64,
    pub transfers_sent: u64,
    pub shift_steps_sent: u64,
}

pub async fn run(target: Arc<Target>, db: PgPool, tenant: Uuid, stop: Arc<AtomicBool>, seed: u64) -> Activity {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut activity = Activity::default();
    let outlets: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM outlets WHERE tenant_id = $1 ORDER BY is_default DESC, created_at")
            .bind(tenant)
            .fetch_all(&db)
            .await
            .unwrap_or_default();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
        match rng.random_range(0..12) {
            0..4 => activity.refunds_sent += refund(&target, &db, tenant, &mut rng).await,
            4..7 => activity.cancels_sent += cancel(&target, &db, tenant, &mut rng).await,
            7..9 => activity.transfers_sent += transfer(&target, &db, tenant, &outlets, &mut rng).await,
            9..11 => {
                let Some(&outlet) = outlets.get(rng.random_range(0..outlets.len().max(1))) else { continue };
                activity.shift_steps_sent += super::shifts::step(&target, &db, tenant, outlet, &mut rng).await;
            }
            _ => activity.restocks_sent += restock(&target, &db, tenant, &outlets, &mut rng).await,
        }
    }
    activity
}

/// A committed order and its request: mostly a recent one, a fifth of the
/// time a sale of the closed day (its refunds and cancel are dated today and
/// must leave that day's report as it was).
async fn committed(db: &PgPool, tenant: Uuid, rng: &mut impl rand::Rng) -> Option<(Uuid, Value)> {
    let query = if rng.random_bool(0.2) {
        sqlx::query_as(
            "SELECT id, request FROM orders WHERE tenant_id = $1 AND status = 'committed'
               AND device_id = 'chaos-closed-day' ORDER BY id LIMIT 1 OFFSET $2 % 24",
        )
    } else {
        sqlx::query_as(
            "SELECT id, request FROM orders WHERE tenant_id = $1 AND status = 'committed'
             ORDER BY committed_at DESC LIMIT 1 OFFSET $2 % 50",
        )
    };
    query
        .bind(tenant)
        .bind(rng.random_range(0..50i64))
        .fetch_optional(db)
        .await
        .ok()
        .flatten()
        .map(|(id, request): (Uuid, sqlx::types::Json<Value>)| (id, request.0))
}

async fn cancel(target: &Target, db: &PgPool, tenant: Uuid, rng: &mut impl rand::Rng) -> u64 {
    let Some((order, _)) = committed(db, tenant, rng).await else { return 0 };
    let times = if rng.random_bool(0.2) { 2 } else { 1 };
    for _ in 0..times {
        let path = format!("/api/orders/{order}/cancel");
        post(target, &path, json!({ "reason": "chaos: customer returned it" })).await;
    }
    times
}

/// Some units of one line back; a fifth sent twice at once, a tenth the
/// whole line again (likely more than is left: 409).
async fn refund(target: &Target, db: &PgPool, tenant: Uuid, rng: &mut impl rand::Rng) -> u64 {
    let Some((order, request)) = committed(db, tenant, rng).await else { return 0 };
    let lines = request["items"].as_array().cloned().unwrap_or_default();
    if lines.is_empty() {
        return 0;
    }
    let line = &lines[rng.random_range(0..lines.len())];
    let sold = line["quantity"].as_i64().unwrap_or(1).max(1);
    let quantity = if rng.random_bool(0.1) { sold } else { rng.random_range(1..=sold) };
    let body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": line["productId"], "quantity": quantity }],
                       "reason": "chaos: rusak" });
    let path = format!("/api/orders/{order}/refunds");
    if rng.random_bool(0.2) {
        tokio::join!(post_until_answered(target, &path, &body), post_until_answered(target, &path, &body));
        2
    } else {
        post_until_answered(target, &path, &body).await;
        1
    }
}

async fn any_product(db: &PgPool, tenant: Uuid) -> Option<Uuid> {
    sqlx::query_scalar("SELECT id FROM products WHERE tenant_id = $1 ORDER BY random() LIMIT 1")
        .bind(tenant)
        .fetch_optional(db)
        .await
        .ok()
        .flatten()
}

/// Restock one product at either outlet.
async fn restock(target: &Target, db: &PgPool, tenant: Uuid, outlets: &[Uuid], rng: &mut impl rand::Rng) -> u64 {
    let Some(product) = any_product(db, tenant).await else { return 0 };
    let outlet = outlets.get(rng.random_range(0..outlets.len().max(1))).copied();
    let path = format!("/api/products/{product}/stock-adjustments");
    post(target, &path, json!({ "delta": rng.random_range(1..50), "reason": "restock", "outletId": outlet })).await;
    1
}

/// Move some of one product from one outlet to the other: a fifth sent
/// twice at once under one clientTransferId, a tenth far more than there is
/// (it fails for review); a third of the time a failed one is retried instead.
async fn transfer(target: &Target, db: &PgPool, tenant: Uuid, outlets: &[Uuid], rng: &mut impl rand::Rng) -> u64 {
    let [first, second, ..] = outlets else { return 0 };
    if rng.random_bool(0.3) {
        let failed: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM stock_transfers WHERE tenant_id = $1 AND status = 'failed' ORDER BY random() LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(db)
        .await
        .ok()
        .flatten();
        if let Some(failed) = failed {
            post_until_answered(target, &format!("/api/stock-transfers/{failed}/retry"), &json!({})).await;
            return 1;
        }
    }
    let Some(product) = any_product(db, tenant).await else { return 0 };
    let (from, to) = if rng.random_bool(0.5) { (first, second) } else { (second, first) };
    let quantity = if rng.random_bool(0.1) { 10_000 } else { rng.random_range(1..20) };
    let body = json!({ "clientTransferId": Uuid::now_v7(), "fromOutletId": from, "toOutletId": to,
                       "items": [{ "productId": product, "quantity": quantity }], "note": "chaos: moving stock" });
    if rng.random_bool(0.2) {
        let path = "/api/stock-transfers";
        tokio::join!(post_until_answered(target, path, &body), post_until_answered(target, path, &body));
        2
    } else {
        post_until_answered(target, "/api/stock-transfers", &body).await;
        1
    }
}

/// A refund is money at the counter: resent, as a till would, while a
/// fault leaves it unanswered (a few times; the checker counts only the
/// answered ones as accepted).
async fn post_until_answered(target: &Target, path: &str, body: &Value) {
    for attempt in 0..5u32 {
        let status = post(target, path, body.clone()).await;
        if status != 0 && status != 429 && status < 500 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
    }
}

/// One request, answered or not (a fault may be under way), into the history.
pub(super) async fn post(target: &Target, path: &str, body: Value) -> u16 {
    let sent_at = chrono::Utc::now();
    let response =
        target.http.post(format!("{}{path}", target.base)).bearer_auth(&target.token).json(&body).send().await;
    let status = response.as_ref().map_or(0, |r| r.status().as_u16());
    let answer = match response {
        Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if let Some(history) = &target.history {
        let line = json!({ "at": sent_at, "path": path, "body": body, "status": status, "answer": answer });
        if let Ok(mut file) = history.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
    status
}
