//! Messages that cannot be applied never loop and never vanish: garbage
//! and unknown types are dead-lettered with their reason and recorded;
//! transient failures are retried through the delay queues, then
//! dead-lettered and kept as a failed sync.

use harness::{Options, Pipeline, eventually, order, uuid};
use lapin::BasicProperties;
use std::time::Duration;

#[tokio::test]
async fn a_garbage_message_is_dead_lettered_and_the_worker_keeps_consuming() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 5).await;
    p.broker
        .publish_raw(b"\x00\x01 definitely not an order", BasicProperties::default())
        .await
        .expect("publish garbage");
    p.broker
        .publish_raw(br#"{"type":"order.v9","whatever":1}"#, BasicProperties::default())
        .await
        .expect("publish unknown type");

    let recorded: Vec<(String, String, Vec<u8>)> =
        eventually("both dead letters recorded", Duration::from_secs(20), || async {
            let rows: Vec<(String, String, Vec<u8>)> =
                sqlx::query_as("SELECT reason_code, reason_message, body FROM dead_letters ORDER BY received_at")
                    .fetch_all(&p.db)
                    .await
                    .ok()?;
            (rows.len() == 2).then_some(rows)
        })
        .await;
    for (code, message, _) in &recorded {
        assert_eq!(code, "malformed");
        assert!(message.starts_with("undecodable message"), "{message}");
    }
    assert_eq!(recorded[0].2, b"\x00\x01 definitely not an order", "the raw body is kept");

    let after = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 1_000)])).await;
    assert_eq!(after.status, 201, "the worker keeps consuming: {}", after.body);
    p.drained(Duration::from_secs(10)).await;
    p.stop().await;
}

/// Hold a product row lock so that commits touching it time out.
async fn hold_lock(p: &Pipeline, product: uuid::Uuid) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = p.db.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE").bind(product).execute(&mut *tx).await.expect("lock");
    tx
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_a_delay_and_then_commits() {
    let options = Options::default().with_env("ORDER_TRANSACTION_TIMEOUT", "300ms");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 5).await;
    let lock = hold_lock(&p, product).await;
    let placed = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    let order_id = uuid(&placed.body["orderId"]);
    // The first attempt times out on the lock and goes to a delay queue.
    eventually("a retry waiting in a delay queue", Duration::from_secs(10), || async {
        let waiting = p.broker.depth(&p.broker.topology.retry_queue(0)).await.ok()?.0
            + p.broker.depth(&p.broker.topology.retry_queue(1)).await.ok()?.0;
        (waiting > 0).then_some(())
    })
    .await;
    assert_eq!(p.order_status(order_id).await.as_deref(), Some("pending"));
    lock.rollback().await.expect("release the lock");
    assert_eq!(p.settled(order_id).await, "committed");
    p.drained(Duration::from_secs(10)).await;
    assert_eq!(p.stock(product).await, 4);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn when_retries_run_out_the_order_fails_into_review_with_its_request() {
    let options =
        Options::default().with_env("ORDER_TRANSACTION_TIMEOUT", "200ms").with_env("WORKER_MAX_ATTEMPTS", "3");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 5).await;
    let lock = hold_lock(&p, product).await;
    let body = order(&[(product, 2, 1_000)]);
    let placed = p.post(&shop.token, "/api/orders", &body).await;
    let order_id = uuid(&placed.body["orderId"]);
    assert_eq!(p.settled(order_id).await, "failed");
    lock.rollback().await.expect("release the lock");

    let (code, attempts, request): (String, i32, serde_json::Value) =
        sqlx::query_as("SELECT reason_code, attempts, request FROM failed_syncs WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&p.db)
            .await
            .expect("a failed sync");
    assert_eq!((code.as_str(), attempts), ("retries_exhausted", 1));
    assert_eq!(request["items"], body["items"], "the full request is kept");
    let shown = p.get(&shop.token, &format!("/api/orders/{order_id}")).await;
    assert_eq!(shown.body["rejection"]["code"], "retries_exhausted");
    p.drained(Duration::from_secs(10)).await;
    assert_eq!(p.stock(product).await, 5, "nothing was applied");
    p.assert_books_balance().await;
    p.stop().await;
}
