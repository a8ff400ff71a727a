//! Offline sync: a terminal's backlog, validated order by order; what
//! cannot be applied is kept as a failed sync, never lost.

use harness::{Options, Pipeline, order, uuid};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_batch_of_100_with_3_invalid_gives_97_accepted_and_3_invalid_in_order() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 2_500, 1_000).await;
    let mut orders: Vec<Value> = (0..100)
        .map(|i| {
            let mut o = order(&[(product, 1, 2_500)]);
            o["createdAt"] =
                json!((chrono::Utc::now() - chrono::Duration::hours(30) + chrono::Duration::seconds(i)).to_rfc3339());
            o
        })
        .collect();
    orders[10]["items"][0]["quantity"] = json!(0);
    orders[50]["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::hours(80)).to_rfc3339());
    orders[99]["items"] = json!("not a list");
    let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-7", "orders": orders })).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let results = reply.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 100);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["clientOrderId"], orders[i]["clientOrderId"], "results are in request order");
        let expected = if [10, 50, 99].contains(&i) { "invalid" } else { "accepted" };
        assert_eq!(result["status"], expected, "order {i}: {result}");
    }
    assert_eq!(results[10]["error"]["code"], "validation_failed");
    assert_eq!(results[50]["error"]["code"], "sale_time_out_of_range");
    assert_eq!(results[99]["error"]["code"], "malformed_json");

    p.drained(Duration::from_secs(30)).await;
    let batch =
        p.get(&shop.token, &format!("/api/sync/batches/{}", reply.body["batchId"].as_str().unwrap_or_default())).await;
    assert_eq!(batch.status, 200);
    assert_eq!(batch.body["deviceId"], "till-7");
    let listed = batch.body["orders"].as_array().expect("orders");
    assert_eq!(listed.len(), 97);
    assert!(listed.iter().all(|o| o["status"] == "committed"));
    assert_eq!(p.count("SELECT count(*) FROM orders WHERE source = 'offline' AND device_id = 'till-7'").await, 97);
    assert_eq!(p.stock(product).await, 903);

    // The terminal resends the whole batch (its response was lost): nothing doubles.
    let again = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-7", "orders": orders })).await;
    assert_eq!(again.status, 202);
    let statuses: Vec<&str> =
        again.body["results"].as_array().expect("results").iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "duplicate").count(), 97);
    assert_eq!(again.body["results"][1]["orderId"], results[1]["orderId"]);
    p.drained(Duration::from_secs(10)).await;
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 97);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn an_offline_order_short_of_stock_becomes_a_failed_sync_and_is_kept_whole() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 9_000, 1).await;
    let mut short = order(&[(product, 3, 9_000)]);
    short["notes"] = json!("pelanggan tetap");
    let fine = order(&[(product, 1, 9_000)]);
    let reply =
        p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": [short, fine] })).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let short_id = uuid(&reply.body["results"][0]["orderId"]);
    let fine_id = uuid(&reply.body["results"][1]["orderId"]);
    assert_eq!(p.settled(short_id).await, "failed");
    assert_eq!(p.settled(fine_id).await, "committed");

    let listed = p.get(&shop.token, "/api/failed-syncs?status=open&reason=insufficient_stock").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let failed = &listed.body["data"][0];
    assert_eq!(failed["orderId"], json!(short_id));
    assert_eq!(failed["reason"]["code"], "insufficient_stock");
    assert_eq!(failed["deviceId"], "till-1");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["order"]["notes"], "pelanggan tetap", "the full request is kept");
    assert_eq!(failed["order"]["items"], short["items"]);
    assert_eq!(failed["history"], serde_json::json!([]), "no one has acted on it yet");
    let one = p.get(&shop.token, &format!("/api/failed-syncs/{}", failed["id"].as_str().unwrap_or_default())).await;
    assert_eq!(one.body["id"], failed["id"]);
    let shown = p.get(&shop.token, &format!("/api/orders/{short_id}")).await;
    assert_eq!((shown.body["status"].as_str(), shown.body["source"].as_str()), (Some("failed"), Some("offline")));
    assert_eq!(shown.body["rejection"]["code"], "insufficient_stock");

    let cashier = p.user(&shop, "cashier").await;
    assert_eq!(p.get(&cashier, "/api/failed-syncs").await.status, 403);
    let other = p.tenant().await;
    assert_eq!(
        p.get(&other.token, &format!("/api/failed-syncs/{}", failed["id"].as_str().unwrap_or_default())).await.status,
        404
    );
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_sync_batch_is_rejected_whole_only_when_its_envelope_is_bad() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let empty = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": [] })).await;
    assert_eq!((empty.status, empty.code()), (422, "validation_failed"));
    let no_device = p.post(&shop.token, "/api/sync/orders", &json!({ "orders": [order(&[])] })).await;
    assert_eq!(no_device.status, 422);
    let too_many: Vec<Value> = (0..501).map(|_| json!({})).collect();
    let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-1", "orders": too_many })).await;
    assert_eq!(reply.status, 422);
    assert_eq!(p.broker.total_ready().await.ok(), Some(0));
    p.stop().await;
}
