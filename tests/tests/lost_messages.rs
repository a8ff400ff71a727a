//! A pending order whose message never reached the queue is not left
//! pending for ever: the workers' sweep republishes it.

use common::order::{canonical_hash, validate_order};
use harness::{Options, Pipeline, order};

#[tokio::test]
async fn a_pending_order_whose_message_was_lost_is_republished_and_committed() {
    let p = Pipeline::start_with(Options::default().with_env("REPUBLISH_PENDING_AFTER", "1s")).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 2_000, 5).await;
    // As if ingest died between writing the pending row and publishing its message.
    let body = order(&[(product, 2, 2_000)]);
    let hash = canonical_hash(&body).to_vec();
    let validated = validate_order(body, chrono::Utc::now()).expect("valid");
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, tenant_id, client_order_id, source, request, request_hash, created_at, received_at, updated_at)
         VALUES ($1, $2, $3, 'online', $4, $5, now() - interval '1 minute', now() - interval '1 minute', now() - interval '1 minute')",
    )
    .bind(id)
    .bind(shop.id)
    .bind(validated.client_order_id.0)
    .bind(serde_json::to_value(&validated).expect("json"))
    .bind(hash)
    .execute(&p.db)
    .await
    .expect("a pending row without a message");
    assert_eq!(p.settled(id).await, "committed");
    assert_eq!(p.stock(product).await, 3);
    p.drained(std::time::Duration::from_secs(10)).await;
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_pending_refund_whose_message_was_lost_is_republished_and_applied() {
    let p = Pipeline::start_with(Options::default().with_env("REPUBLISH_PENDING_AFTER", "1s")).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 2_000, 5).await;
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 2, 2_000)])).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = harness::uuid(&placed.body["orderId"]);
    // As if ingest died between admitting the refund and publishing it.
    let body = serde_json::json!({ "clientRefundId": uuid::Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }] });
    let hash = canonical_hash(&body).to_vec();
    let refund = common::refund::validate_refund(body, chrono::Utc::now()).expect("valid");
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refunds (id, tenant_id, order_id, client_refund_id, request, request_hash, created_at, received_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now() - interval '1 minute', now() - interval '1 minute')",
    )
    .bind(id)
    .bind(shop.id)
    .bind(order_id)
    .bind(refund.client_refund_id)
    .bind(serde_json::to_value(&refund).expect("json"))
    .bind(hash)
    .execute(&p.db)
    .await
    .expect("a pending refund without a message");
    sqlx::query("INSERT INTO refund_items (tenant_id, refund_id, product_id, quantity) VALUES ($1, $2, $3, 1)")
        .bind(shop.id)
        .bind(id)
        .bind(product)
        .execute(&p.db)
        .await
        .expect("its item");
    harness::eventually("the refund to be applied", std::time::Duration::from_secs(30), || async {
        let status: String =
            sqlx::query_scalar("SELECT status FROM refunds WHERE id = $1").bind(id).fetch_one(&p.db).await.ok()?;
        (status == "committed").then_some(())
    })
    .await;
    assert_eq!(p.stock(product).await, 4);
    p.assert_books_balance().await;
    p.stop().await;
}
