//! Operators at 3 a.m.: two of them working the same failed syncs at once,
//! one retrying (the other retrying with allowOversell) while a third
//! discards. Each failed sync must end resolved with its order committed
//! once, or discarded with its order failed and no effect; never both.
//!
//! The fault makes its own failed syncs first: a till syncs offline sales of
//! more units than the hot products have, which cannot be applied.

use crate::loadgen::{Catalogue, Target};
use rand::RngExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Sync `n` unapplicable offline sales, then race retries and discards on their failed syncs.
pub async fn race(
    target: &Target,
    catalogue: &Catalogue,
    db: &PgPool,
    tenant: Uuid,
    n: usize,
    rng: &mut impl rand::Rng,
) -> anyhow::Result<String> {
    let clients = sync_short_sales(target, catalogue, db, n, rng).await?;
    // Behind a backlog (a broker restart just before) the sales take a while
    // to fail; 30 s was too short in the long run, where 4 of 6 races found none.
    let failed = failed_syncs_of(db, tenant, &clients, Duration::from_secs(120)).await?;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for id in &failed {
        let retry = json!({});
        let retry_oversell = json!({ "overrides": { "allowOversell": rng.random_bool(0.5) } });
        let discard = json!({ "reason": "chaos: a second operator discards it" });
        let (retry_path, discard_path) =
            (format!("/api/failed-syncs/{id}/retry"), format!("/api/failed-syncs/{id}/discard"));
        let (a, b, c) = tokio::join!(
            post(target, &retry_path, retry),
            post(target, &retry_path, retry_oversell),
            post(target, &discard_path, discard),
        );
        for (what, status) in [("retry", a), ("retry", b), ("discard", c)] {
            *answers.entry(format!("{what} {status}")).or_default() += 1;
        }
    }
    Ok(format!("{} of {n} offline sales failed; each retried twice and discarded at once: {answers:?}", failed.len()))
}

/// One sync batch of `n` sales, each of a hot product's stock plus a few units.
async fn sync_short_sales(
    target: &Target,
    catalogue: &Catalogue,
    db: &PgPool,
    n: usize,
    rng: &mut impl rand::Rng,
) -> anyhow::Result<Vec<Uuid>> {
    let mut orders = Vec::with_capacity(n);
    for _ in 0..n {
        let (product, price) = catalogue.products[rng.random_range(0..catalogue.products.len().min(5))];
        // The shop's whole stock of it: more than its default outlet has.
        let stock = crate::checks::stock(db, product, None).await;
        let quantity = u32::try_from(stock + rng.random_range(1..=3)).unwrap_or(u32::MAX).min(10_000);
        orders.push(crate::api::order(&[(product, quantity, price)]));
    }
    let clients = orders.iter().filter_map(|o| o["clientOrderId"].as_str()?.parse().ok()).collect();
    let batch = json!({ "deviceId": "till-chaos-review", "orders": orders });
    // A till resends what was not accepted (a 503 while a fault settles).
    for _ in 0..10 {
        if post(target, "/api/sync/orders", batch.clone()).await == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(clients)
}

/// The failed syncs of these client orders, once they settled (bounded: a fault may slow them).
async fn failed_syncs_of(db: &PgPool, tenant: Uuid, clients: &[Uuid], wait: Duration) -> anyhow::Result<Vec<Uuid>> {
    let deadline = Instant::now() + wait;
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE tenant_id = $1 AND client_order_id = ANY($2) AND status = 'pending'",
        )
        .bind(tenant)
        .bind(clients)
        .fetch_one(db)
        .await
        .unwrap_or(-1);
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(sqlx::query_scalar(
        "SELECT f.id FROM failed_syncs f JOIN orders o ON o.tenant_id = f.tenant_id AND o.id = f.order_id AND f.refund_id IS NULL
         WHERE o.tenant_id = $1 AND o.client_order_id = ANY($2) AND f.status = 'open'",
    )
    .bind(tenant)
    .bind(clients)
    .fetch_all(db)
    .await?)
}

/// One request into the history (with its answer, as the checker reads a
/// sync batch's results); its status, 0 when unanswered (a fault may be under way).
async fn post(target: &Target, path: &str, body: Value) -> u16 {
    let sent_at = chrono::Utc::now();
    let response =
        target.http.post(format!("{}{path}", target.base)).bearer_auth(&target.token).json(&body).send().await;
    let (status, answer) = match response {
        Ok(r) => (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null)),
        Err(e) => (0, Value::String(e.to_string())),
    };
    if let Some(history) = &target.history {
        let line = json!({ "at": sent_at, "path": path, "body": body, "status": status, "answer": answer });
        if let Ok(mut file) = history.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
    status
}
