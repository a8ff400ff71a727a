//! Outlets: every shop has a default outlet, managers add and change
//! outlets, and every order names a real outlet of its shop (an unknown or
//! another shop's is 422; none means the default), numbered per outlet.

use harness::{Pipeline, order, uuid};
use serde_json::{Value, json};
use std::time::Duration;

async fn patch(p: &Pipeline, token: &str, path: &str, body: Value) -> harness::api::Reply {
    p.call(reqwest::Method::PATCH, path, Some(token), Some(&body)).await
}

async fn outlets(p: &Pipeline, token: &str) -> Vec<Value> {
    let listed = p.get(token, "/api/outlets").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["data"].as_array().cloned().unwrap_or_default()
}

async fn default_outlet(p: &Pipeline, token: &str) -> Value {
    outlets(p, token).await.into_iter().find(|o| o["isDefault"] == true).expect("a default outlet")
}

#[tokio::test]
async fn every_shop_has_a_default_outlet_and_managers_add_and_change_outlets() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let cashier = p.user(&shop, "cashier").await;
    let first = outlets(&p, &shop.token).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0]["name"].as_str(), first[0]["isActive"].as_bool()), (Some("Outlet utama"), Some(true)));
    assert!(first[0]["timezone"].is_null(), "the shop's timezone");

    let stall = json!({ "name": "Lapak Pasar", "address": "Jl. Pasar Baru 7", "timezone": "Asia/Makassar" });
    assert_eq!(p.post(&cashier, "/api/outlets", &stall).await.status, 403);
    let made = p.post(&shop.token, "/api/outlets", &stall).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (made.body["timezone"].as_str(), made.body["isDefault"].as_bool()),
        (Some("Asia/Makassar"), Some(false))
    );
    let again = p.post(&shop.token, "/api/outlets", &stall).await;
    assert_eq!((again.status, again.code()), (409, "name_taken"));
    let nowhere = p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak 2", "timezone": "Mars/Olympus" })).await;
    assert_eq!(nowhere.status, 422, "{}", nowhere.body);

    let default_id = first[0]["id"].as_str().unwrap_or_default().to_owned();
    let close_default =
        patch(&p, &shop.token, &format!("/api/outlets/{default_id}"), json!({ "isActive": false })).await;
    assert_eq!(close_default.status, 422, "the default outlet stays active: {}", close_default.body);
    let stall_id = made.body["id"].as_str().unwrap_or_default().to_owned();
    let closed = patch(&p, &shop.token, &format!("/api/outlets/{stall_id}"), json!({ "isActive": false })).await;
    assert_eq!((closed.status, closed.body["isActive"].as_bool()), (200, Some(false)), "{}", closed.body);
    assert_eq!(outlets(&p, &cashier).await.len(), 2, "every role reads them");

    let other = p.tenant().await;
    assert_eq!(p.get(&other.token, &format!("/api/outlets/{stall_id}")).await.status, 404, "another shop's");
    p.stop().await;
}

#[tokio::test]
async fn orders_name_a_real_outlet_of_their_shop_and_are_numbered_per_outlet() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let other = p.tenant().await;
    let product = p.product(&shop, 2_000, 100).await;
    let theirs = default_outlet(&p, &other.token).await["id"].clone();
    let ours = default_outlet(&p, &shop.token).await["id"].clone();

    for outlet in [theirs, json!(uuid::Uuid::now_v7())] {
        let mut body = order(&[(product, 1, 2_000)]);
        body["outletId"] = outlet;
        let refused = p.post(&shop.token, "/api/orders", &body).await;
        assert_eq!((refused.status, refused.code()), (422, "unknown_outlet"), "{}", refused.body);
    }
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 0, "nothing admitted");

    let stall = p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak Pasar" })).await.body["id"].clone();
    // A new outlet's shelf starts empty: stock it.
    let restock = json!({ "delta": 5, "reason": "restock", "outletId": stall });
    let path = format!("/api/products/{product}/stock-adjustments");
    assert_eq!(p.post(&shop.token, &path, &restock).await.status, 200);
    let mut at_stall = order(&[(product, 1, 2_000)]);
    at_stall["outletId"] = stall.clone();
    let mut receipts = Vec::new();
    for body in [order(&[(product, 1, 2_000)]), at_stall, order(&[(product, 2, 2_000)])] {
        let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
        assert_eq!(placed.body["status"], "committed", "{}", placed.body);
        let shown =
            p.get(&shop.token, &format!("/api/orders/{}", placed.body["orderId"].as_str().unwrap_or_default())).await;
        receipts.push((
            shown.body["outletId"].clone(),
            shown.body["receiptNumber"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(receipts[0].0, ours, "no outletId: the default outlet");
    assert_eq!(receipts[1].0, stall);
    let seq = |r: &str| r.rsplit('-').next().unwrap_or_default().to_owned();
    let numbers: Vec<String> = receipts.iter().map(|(_, r)| seq(r)).collect();
    assert_eq!(numbers, ["000001", "000001", "000002"], "numbered per outlet: {receipts:?}");

    // Offline: an order at an outlet closed since is kept; one at an unknown outlet is invalid, alone.
    let closed = patch(
        &p,
        &shop.token,
        &format!("/api/outlets/{}", stall.as_str().unwrap_or_default()),
        json!({ "isActive": false }),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let mut sold_before_closing = order(&[(product, 1, 2_000)]);
    sold_before_closing["outletId"] = stall.clone();
    let mut nowhere = order(&[(product, 1, 2_000)]);
    nowhere["outletId"] = json!(uuid::Uuid::now_v7());
    let batch =
        json!({ "deviceId": "till-2", "orders": [sold_before_closing, nowhere, order(&[(product, 1, 2_000)])] });
    let synced = p.post(&shop.token, "/api/sync/orders", &batch).await;
    assert_eq!(synced.status, 202, "{}", synced.body);
    let results = &synced.body["results"];
    let statuses: Vec<&str> = (0..3).map(|i| results[i]["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["accepted", "invalid", "accepted"], "{results}");
    assert_eq!(results[1]["error"]["code"], "unknown_outlet");
    p.drained(Duration::from_secs(30)).await;
    let stall_id = uuid(&stall);
    let at_stall: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE outlet_id = $1 AND status = 'committed'")
        .bind(stall_id)
        .fetch_one(&p.db)
        .await
        .expect("orders at the stall");
    assert_eq!(at_stall, 2);

    let day: String = sqlx::query_scalar("SELECT (now() AT TIME ZONE timezone)::date::text FROM tenants WHERE id = $1")
        .bind(shop.id)
        .fetch_one(&p.db)
        .await
        .expect("the shop's day");
    let report = p.get(&shop.token, &format!("/api/reports/daily-sales?date={day}&outletId={stall_id}")).await;
    assert_eq!(
        (report.body["orders"].as_i64(), report.body["grossSales"].as_i64()),
        (Some(2), Some(4_000)),
        "{}",
        report.body
    );
    p.assert_books_balance().await;
    p.stop().await;
}
