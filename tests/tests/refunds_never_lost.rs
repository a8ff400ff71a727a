//! A refund answered 202 is never dropped (issue 22, defects 2 and 3): one
//! whose row is gone when its message arrives (a restore from an older
//! backup) is recreated from the message and applied, and one whose order
//! is not applied yet waits for that order however long it takes, instead
//! of running out of retries.

use harness::{Options, Pipeline, eventually, order, uuid};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn refund_row(p: &Pipeline, id: Uuid) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT status, rejection_code FROM refunds WHERE id = $1")
        .bind(id)
        .fetch_optional(&p.db)
        .await
        .expect("refund")
}

#[tokio::test]
async fn a_refund_whose_row_is_gone_when_its_message_arrives_is_recreated_and_applied() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 3, 10_000)])).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    let order_id = uuid(&placed.body["orderId"]);
    p.stop_in_process_workers();
    let body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }],
                       "reason": "rusak" });
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &body).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let id = uuid(&queued.body["refundId"]);
    // The database is restored from a backup taken before the refund: its
    // row is gone, its message is still queued.
    sqlx::query("DELETE FROM refund_items WHERE refund_id = $1").bind(id).execute(&p.db).await.expect("items");
    sqlx::query("DELETE FROM refunds WHERE id = $1").bind(id).execute(&p.db).await.expect("refund");

    p.start_worker().await;
    let settled = eventually("the refund to be applied", Duration::from_secs(30), || async {
        refund_row(&p, id).await.filter(|(status, _)| status != "pending")
    })
    .await;
    assert_eq!(settled.0, "committed", "{settled:?}");
    assert_eq!(p.stock(product).await, 8, "3 sold, 1 back");
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'return'").await, 1);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_refund_waits_for_its_order_past_the_retry_schedule_and_applies_once_the_order_commits() {
    // Retries run out after 3 attempts, 0.2 s apart; the sweep republishes
    // a pending order whose message was lost after 8 s.
    let options = Options::workers(1)
        .with_env("RETRY_DELAYS", "200ms")
        .with_env("WORKER_MAX_ATTEMPTS", "3")
        .with_env("REPUBLISH_PENDING_AFTER", "8s");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    // The sale's message never reaches the queue (a lost publish): the order stays pending.
    p.stop_in_process_workers();
    let sale = order(&[(product, 2, 10_000)]);
    let synced = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": [sale] })).await;
    let order_id = uuid(&synced.body["results"][0]["orderId"]);
    let taken = p.broker.take_ready(&p.broker.topology.orders_queue()).await.expect("taking the sale's message");
    assert_eq!(taken.len(), 1);
    let body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }],
                       "createdAt": chrono::Utc::now().to_rfc3339() });
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &body).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let id = uuid(&queued.body["refundId"]);
    p.start_worker().await;

    // Five times the whole retry schedule (3 attempts, 0.2 s apart): the
    // refund still waits, it did not run out of attempts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(refund_row(&p, id).await.map(|r| r.0), Some("pending".to_owned()), "waiting, not failed");
    assert_eq!(p.count("SELECT count(*) FROM failed_syncs").await, 0, "nothing for review");

    // The sweep republishes the sale: the order commits, then the refund.
    assert_eq!(p.settled(order_id).await, "committed");
    let settled = eventually("the refund to be applied", Duration::from_secs(30), || async {
        refund_row(&p, id).await.filter(|(status, _)| status != "pending")
    })
    .await;
    assert_eq!(settled.0, "committed", "{settled:?}");
    assert_eq!(p.stock(product).await, 9, "2 sold, 1 back");
    p.assert_books_balance().await;
    p.stop().await;
}
