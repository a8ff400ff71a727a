//! Offline sales are priced at the price in effect when they were made.

use chrono::{Duration, Utc};
use harness::{Pipeline, order, uuid};
use serde_json::json;

#[tokio::test]
async fn an_offline_sale_made_before_a_price_change_keeps_its_price() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 100).await;
    let before_change = Utc::now();
    let changed = p
        .call(
            reqwest::Method::PATCH,
            &format!("/api/products/{product}"),
            Some(&shop.token),
            Some(&json!({ "price": 12_000 })),
        )
        .await;
    assert_eq!(changed.body["price"], 12_000);
    let after_change = Utc::now() + Duration::seconds(1);

    let sold_at = |at: chrono::DateTime<Utc>| {
        let mut o = order(&[(product, 1, 10_000)]);
        o["createdAt"] = json!(at.to_rfc3339());
        o
    };
    let batch = json!({ "deviceId": "till-2", "orders": [
        sold_at(before_change),
        sold_at(after_change),
        sold_at(Utc::now() - Duration::hours(5)),
    ] });
    let reply = p.post(&shop.token, "/api/sync/orders", &batch).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let ids: Vec<_> = (0..3).map(|i| uuid(&reply.body["results"][i]["orderId"])).collect();
    assert_eq!(p.settled(ids[0]).await, "committed", "sold before the change at the old price");
    assert_eq!(p.settled(ids[1]).await, "failed", "sold after the change at the old price");
    assert_eq!(p.settled(ids[2]).await, "committed", "before the product's first price, its first price applies");
    let reason: String = sqlx::query_scalar("SELECT reason_code FROM failed_syncs WHERE order_id = $1")
        .bind(ids[1])
        .fetch_one(&p.db)
        .await
        .expect("failed sync");
    assert_eq!(reason, "price_mismatch");

    let online = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 10_000)])).await;
    assert_eq!((online.status, online.body["status"].as_str()), (200, Some("rejected")));
    assert_eq!(online.body["rejection"]["code"], "price_mismatch");
    let current = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 12_000)])).await;
    assert_eq!(current.status, 201);
    p.assert_books_balance().await;
    p.stop().await;
}
