//! The same clientOrderId never makes a second order.

use harness::{Pipeline, order, uuid};
use serde_json::json;
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
