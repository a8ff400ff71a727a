//! The same clientOrderId never makes a second order.

use harness::{Options, Pipeline, order, uuid};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn the_same_order_posted_twenty_times_at_once_is_one_order() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 10).await;
    let body = order(&[(product, 2, 5_000)]);
    let replies = futures::future::join_all((0..20).map(|_| p.post(&shop.token, "/api/orders", &body))).await;
    assert!(
        replies.iter().all(|r| r.status == 202),
        "identical requests never conflict: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let order_id = replies[0].body["orderId"].clone();
    assert!(replies.iter().all(|r| r.body["orderId"] == order_id), "one orderId for all");
    assert_eq!(p.settled(uuid(&order_id)).await, "committed");
    p.drained(Duration::from_secs(15)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'sale'").await, 1);
    assert_eq!(p.stock(product).await, 8);

    // Resent later, it answers the same order (now committed) ...
    let again = p.post(&shop.token, "/api/orders", &body).await;
    assert_eq!(
        (again.status, again.body["orderId"].clone(), again.body["status"].clone()),
        (202, order_id.clone(), json!("committed"))
    );
    // ... and the same id with another body is a conflict.
    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(3);
    other["payment"]["amount"] = json!(15_000);
    let conflict = p.post(&shop.token, "/api/orders", &other).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.code(), "idempotency_conflict");
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 1);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn field_order_and_whitespace_do_not_make_a_different_body() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    let body = order(&[(product, 1, 1_000)]);
    let first = p.post(&shop.token, "/api/orders", &body).await;
    let reordered = format!(
        "{{ \"payment\": {},\n \"items\": {}, \"clientOrderId\": {} }}",
        body["payment"], body["items"], body["clientOrderId"]
    );
    let second = p
        .http
        .post(format!("{}/api/orders", p.base_url))
        .bearer_auth(&shop.token)
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status().as_u16(), 202);
    let second: serde_json::Value = second.json().await.expect("json");
    assert_eq!(second["orderId"], first.body["orderId"]);
    p.drained(Duration::from_secs(15)).await;
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    p.stop().await;
}

/// A sale the till could not complete in stock (3 of the 1 there is), made a few minutes ago.
fn short_sale(product: uuid::Uuid) -> Value {
    let mut sale = order(&[(product, 3, 1_000)]);
    sale["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339());
    sale
}

/// The orders' first messages never reach the workers (as if their publishes got a 503).
async fn lose_published(p: &Pipeline) {
    let taken = p.broker.take_ready(&p.broker.topology.orders_queue()).await.expect("taking the queued message");
    assert_eq!(taken.len(), 2, "both first publishes were queued");
}

#[tokio::test]
async fn a_resend_through_the_other_door_is_applied_as_first_sent() {
    // Without Redis a resend always reaches the pending row and republishes it.
    let p = Pipeline::start_with(Options::workers(0).with_env("REDIS_URL", "off")).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 1).await;
    let sync = |sale: &Value| json!({ "deviceId": "till-9", "orders": [sale] });

    // Each sale's first publish is lost (it got a 503), and the till resends it through the other door.
    let (online, offline) = (short_sale(product), short_sale(product));
    let first = p.post(&shop.token, "/api/orders", &online).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let first = p.post(&shop.token, "/api/sync/orders", &sync(&offline)).await;
    assert_eq!(first.body["results"][0]["status"], "accepted", "{}", first.body);
    lose_published(&p).await;
    let resent = p.post(&shop.token, "/api/sync/orders", &sync(&online)).await;
    assert_eq!(resent.body["results"][0]["status"], "duplicate", "{}", resent.body);
    let resent = p.post(&shop.token, "/api/orders", &offline).await;
    assert_eq!(resent.status, 202, "{}", resent.body);

    p.start_worker().await;
    let (online_id, offline_id) = (order_id(&p, &online).await, order_id(&p, &offline).await);
    let outcomes = (p.settled(online_id).await, p.settled(offline_id).await);
    assert_eq!(
        outcomes,
        ("rejected".to_owned(), "failed".to_owned()),
        "(online order resent by the offline sync, offline order resent online)"
    );
    let failed: Vec<(uuid::Uuid, Option<String>)> =
        sqlx::query_as("SELECT order_id, device_id FROM failed_syncs").fetch_all(&p.db).await.expect("failed syncs");
    assert_eq!(failed, vec![(offline_id, Some("till-9".to_owned()))], "one failed sync, the offline sale's");
    p.assert_books_balance().await;
    p.stop().await;
}

async fn order_id(p: &Pipeline, sale: &Value) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM orders WHERE client_order_id = $1")
        .bind(uuid(&sale["clientOrderId"]))
        .fetch_one(&p.db)
        .await
        .expect("the order")
}
