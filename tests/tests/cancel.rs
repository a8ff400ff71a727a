//! Cancelling gives stock back exactly once.

use harness::{Pipeline, order, uuid};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn cancelling_twice_restores_stock_once() {
    // Regression: two cancels of one order landing in the same batch once
    // restored its stock twice (the order's sold lines were summed once per
    // cancel message).
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 2_000, 10).await;
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 3, 2_000)])).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = uuid(&placed.body["orderId"]);
    assert_eq!(p.stock(product).await, 7);

    let path = format!("/api/orders/{id}/cancel");
    let reason = json!({ "reason": "customer returned it" });
    let (a, b) = tokio::join!(p.post(&shop.token, &path, &reason), p.post(&shop.token, &path, &reason));
    assert!(a.status == 202 || b.status == 202, "at least one cancel is accepted: {} {}", a.status, b.status);
    for reply in [&a, &b] {
        assert!(reply.status == 202 || (reply.status == 409 && reply.code() == "not_cancellable"));
    }
    p.reaches(id, "cancelled").await;
    p.drained(Duration::from_secs(15)).await;
    assert_eq!(p.stock(product).await, 10);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'cancel' AND delta = 3").await, 1);

    let again = p.post(&shop.token, &path, &reason).await;
    assert_eq!((again.status, again.code()), (409, "not_cancellable"));
    let shown = p.get(&shop.token, &format!("/api/orders/{id}")).await;
    assert_eq!(shown.body["status"], "cancelled");
    assert!(shown.body["cancelledAt"].is_string());
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn cashiers_cannot_cancel_and_pending_orders_are_not_cancellable() {
    let p = Pipeline::start_with(harness::Options::workers(0)).await;
    let shop = p.tenant().await;
    let cashier = p.user(&shop, "cashier").await;
    let product = p.product(&shop, 2_000, 10).await;
    let placed = p.post(&cashier, "/api/orders", &order(&[(product, 1, 2_000)])).await;
    assert_eq!(placed.status, 202, "cashiers sell");
    let path = format!("/api/orders/{}/cancel", placed.body["orderId"].as_str().unwrap_or_default());
    let forbidden = p.post(&cashier, &path, &json!({ "reason": "oops" })).await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
    let pending = p.post(&shop.token, &path, &json!({ "reason": "oops" })).await;
    assert_eq!((pending.status, pending.code()), (409, "not_cancellable"));
    p.stop().await;
}
