//! Reviewing failed syncs: listed with reasons and full requests, retried
//! (with overrides) at most once however often, discarded, tenant-scoped.

use harness::{Pipeline, Tenant, eventually, order, uuid};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn sync(p: &Pipeline, shop: &Tenant, orders: Vec<Value>) -> Vec<Uuid> {
    let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-9", "orders": orders })).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let ids: Vec<Uuid> = reply.body["results"].as_array().into_iter().flatten().map(|r| uuid(&r["orderId"])).collect();
    for id in &ids {
        p.settled(*id).await;
    }
    ids
}

async fn failed_sync_of(p: &Pipeline, order: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = $1")
        .bind(order)
        .fetch_one(&p.db)
        .await
        .expect("a failed sync")
}

#[tokio::test]
async fn twenty_orders_failing_for_four_reasons_are_listed_with_counts_and_full_requests() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let scarce = p.product(&shop, 5_000, 1).await;
    let priced = p.product(&shop, 1_000, 100).await;
    let retired = p.product(&shop, 2_000, 100).await;
    p.call(
        reqwest::Method::PATCH,
        &format!("/api/products/{retired}"),
        Some(&shop.token),
        Some(&json!({ "isActive": false })),
    )
    .await;
    let mut orders = Vec::new();
    for _ in 0..5 {
        orders.push(order(&[(scarce, 2, 5_000)]));
        orders.push(order(&[(priced, 1, 900)]));
        orders.push(order(&[(Uuid::now_v7(), 1, 1_000)]));
        orders.push(order(&[(retired, 1, 2_000)]));
    }
    sync(&p, &shop, orders.clone()).await;

    let listed = p.get(&shop.token, "/api/failed-syncs?status=open&limit=500").await;
    let data = listed.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 20);
    for sent in &orders {
        let found = data.iter().find(|f| f["clientOrderId"] == sent["clientOrderId"]).expect("every order is listed");
        assert_eq!(found["order"]["items"], sent["items"], "the full request is kept");
        assert_eq!(found["order"]["payment"], sent["payment"]);
    }
    let summary = p.get(&shop.token, "/api/failed-syncs/summary").await;
    assert_eq!(summary.body["total"], 20);
    let mut counts: Vec<(String, i64)> = summary.body["byReason"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["code"].as_str().unwrap_or("").to_owned(), r["count"].as_i64().unwrap_or(0)))
        .collect();
    counts.sort();
    let expected: Vec<(String, i64)> = ["inactive_product", "insufficient_stock", "price_mismatch", "unknown_product"]
        .iter()
        .map(|c| ((*c).to_owned(), 5))
        .collect();
    assert_eq!(counts, expected);
    let filtered = p.get(&shop.token, "/api/failed-syncs?reason=price_mismatch").await;
    assert_eq!(filtered.body["data"].as_array().map(Vec::len), Some(5));
    p.stop().await;
}

#[tokio::test]
async fn a_retry_after_restock_commits_once_even_when_retried_twice_at_once() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 2).await;
    let ids = sync(&p, &shop, vec![order(&[(product, 5, 5_000)])]).await;
    let failed = failed_sync_of(&p, ids[0]).await;
    let restock = p
        .post(
            &shop.token,
            &format!("/api/products/{product}/stock-adjustments"),
            &json!({ "delta": 3, "reason": "restock" }),
        )
        .await;
    assert_eq!(restock.body["stock"], 5);

    let path = format!("/api/failed-syncs/{failed}/retry");
    let empty = json!({});
    let (a, b) = tokio::join!(p.post(&shop.token, &path, &empty), p.post(&shop.token, &path, &empty));
    assert_eq!((a.status, b.status), (202, 202), "{} {}", a.body, b.body);
    p.reaches(ids[0], "committed").await;
    p.drained(Duration::from_secs(15)).await;
    assert_eq!(p.stock(product).await, 0);
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    let shown = p.get(&shop.token, &format!("/api/failed-syncs/{failed}")).await;
    assert_eq!(shown.body["status"], "resolved");
    let actions: Vec<&str> =
        shown.body["history"].as_array().into_iter().flatten().filter_map(|h| h["action"].as_str()).collect();
    assert_eq!(actions, ["retried", "retried"], "two history entries");
    assert!(shown.body["history"][0]["by"].as_str().is_some_and(|by| by.starts_with("owner@")));
    let again = p.post(&shop.token, &path, &json!({})).await;
    assert_eq!((again.status, again.code()), (409, "not_open"));
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn overrides_allow_oversell_and_client_prices_and_the_books_still_add_up() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 3).await;
    let other = p.product(&shop, 2_000, 10).await;
    let ids = sync(&p, &shop, vec![order(&[(product, 5, 5_000)]), order(&[(other, 1, 1_500)])]).await;
    let (short, cheap) = (failed_sync_of(&p, ids[0]).await, failed_sync_of(&p, ids[1]).await);

    let oversell = p
        .post(
            &shop.token,
            &format!("/api/failed-syncs/{short}/retry"),
            &json!({ "overrides": { "allowOversell": true } }),
        )
        .await;
    assert_eq!(oversell.status, 202, "{}", oversell.body);
    assert_eq!(oversell.body["history"][0]["note"], "overrides: allowOversell");
    p.reaches(ids[0], "committed").await;
    assert_eq!(p.stock(product).await, 0);
    let movements: Vec<(String, i64)> = sqlx::query_as(
        "SELECT kind, delta FROM stock_movements WHERE product_id = $1 AND order_id IS NOT NULL ORDER BY kind",
    )
    .bind(product)
    .fetch_all(&p.db)
    .await
    .expect("movements");
    assert_eq!(movements, [("oversold".to_owned(), 2), ("sale".to_owned(), -5)], "the shortfall is recorded");

    let client_prices = p
        .post(
            &shop.token,
            &format!("/api/failed-syncs/{cheap}/retry"),
            &json!({ "overrides": { "acceptClientPrices": true } }),
        )
        .await;
    assert_eq!(client_prices.status, 202);
    p.reaches(ids[1], "committed").await;
    let total: i64 = sqlx::query_scalar("SELECT total FROM orders WHERE id = $1")
        .bind(ids[1])
        .fetch_one(&p.db)
        .await
        .expect("total");
    assert_eq!(total, 1_500, "committed at the till's price");

    // Cancelling the oversold order gives back its full quantity (the goods came back).
    let cancel = p.post(&shop.token, &format!("/api/orders/{}/cancel", ids[0]), &json!({ "reason": "returned" })).await;
    assert_eq!(cancel.status, 202);
    p.reaches(ids[0], "cancelled").await;
    assert_eq!(p.stock(product).await, 5);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_retry_that_fails_again_updates_the_same_failed_sync_and_discard_keeps_the_order_failed() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 0).await;
    let ids = sync(&p, &shop, vec![order(&[(product, 1, 5_000)])]).await;
    let failed = failed_sync_of(&p, ids[0]).await;
    assert_eq!(p.post(&shop.token, &format!("/api/failed-syncs/{failed}/retry"), &json!({})).await.status, 202);
    let attempts = eventually("the retry to fail again", Duration::from_secs(20), || async {
        let (attempts, status): (i32, String) =
            sqlx::query_as("SELECT attempts, status FROM failed_syncs WHERE id = $1")
                .bind(failed)
                .fetch_one(&p.db)
                .await
                .ok()?;
        (attempts == 2).then_some((attempts, status))
    })
    .await;
    assert_eq!(attempts, (2, "open".to_owned()));
    assert_eq!(p.count("SELECT count(*) FROM failed_syncs").await, 1, "the same failed sync, not another");

    let discard = p
        .post(
            &shop.token,
            &format!("/api/failed-syncs/{failed}/discard"),
            &json!({ "reason": "customer left without the goods" }),
        )
        .await;
    assert_eq!(discard.status, 200, "{}", discard.body);
    assert_eq!(discard.body["status"], "discarded");
    assert_eq!(discard.body["history"][1]["action"], "discarded");
    assert_eq!(discard.body["history"][1]["note"], "customer left without the goods");
    assert_eq!(p.order_status(ids[0]).await.as_deref(), Some("failed"));
    let retry = p.post(&shop.token, &format!("/api/failed-syncs/{failed}/retry"), &json!({})).await;
    assert_eq!((retry.status, retry.code()), (409, "not_open"));
    p.stop().await;
}

#[tokio::test]
async fn another_tenants_failed_syncs_are_invisible() {
    let p = Pipeline::start().await;
    let (shop, other) = (p.tenant().await, p.tenant().await);
    let product = p.product(&shop, 5_000, 0).await;
    let ids = sync(&p, &shop, vec![order(&[(product, 1, 5_000)])]).await;
    let failed = failed_sync_of(&p, ids[0]).await;
    assert_eq!(p.get(&other.token, &format!("/api/failed-syncs/{failed}")).await.status, 404);
    assert_eq!(p.post(&other.token, &format!("/api/failed-syncs/{failed}/retry"), &json!({})).await.status, 404);
    assert_eq!(
        p.post(&other.token, &format!("/api/failed-syncs/{failed}/discard"), &json!({ "reason": "x" })).await.status,
        404
    );
    assert_eq!(p.get(&other.token, "/api/failed-syncs").await.body["data"], json!([]));
    assert_eq!(p.get(&other.token, "/api/failed-syncs/summary").await.body["total"], 0);
    p.stop().await;
}
