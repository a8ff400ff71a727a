//! Charges by sale time (issue 21): a shop's tax, service charge and cash
//! rounding have a history, and an order is charged by the settings in
//! force at its `createdAt`. A change never alters an offline sale made
//! before it and synced after it; a sale after the change pays the new way.

use chrono::{DateTime, Duration, Utc};
use harness::{Pipeline, Tenant, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

async fn set(p: &Pipeline, shop: &Tenant, settings: Value) -> Value {
    let reply = p.call(Method::PATCH, "/api/settings", Some(&shop.token), Some(&settings)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Three units at 10,000, sold at `at`, paid `paid` in cash (no change).
fn sale(product: Uuid, at: DateTime<Utc>, paid: i64) -> Value {
    json!({ "clientOrderId": Uuid::now_v7(), "createdAt": at.to_rfc3339(),
            "items": [{ "productId": product, "quantity": 3, "price": 10_000 }],
            "payment": { "method": "cash", "amount": paid } })
}

/// `[subtotal, taxBase, tax, total]` of a settled order.
async fn figures(p: &Pipeline, shop: &Tenant, order: Uuid) -> [Option<i64>; 4] {
    let shown = p.get(&shop.token, &format!("/api/orders/{order}")).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    ["subtotal", "taxBase", "tax", "total"].map(|f| shown.body[f].as_i64())
}

#[tokio::test]
async fn an_offline_sale_before_a_rate_change_is_charged_as_the_till_charged_it() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 100).await;
    // The shop has charged PPN 11 % exclusive for an hour: set now, then
    // its history moved an hour back (the API only ever appends "now").
    set(&p, &shop, json!({ "taxMode": "exclusive", "taxRateBp": 1100 })).await;
    sqlx::query(
        "UPDATE tenant_charge_settings SET effective_at = effective_at - interval '1 hour' WHERE tenant_id = $1",
    )
    .bind(shop.id)
    .execute(&p.db)
    .await
    .expect("backdating the shop's history");

    // "10:00": a till, offline, sells 30,000 + PPN 11 % = 33,300.
    let ten_oclock = Utc::now() - Duration::minutes(10);
    let before = sale(product, ten_oclock, 33_300);
    // "10:05": PPN goes to 12 %.
    let changed = set(&p, &shop, json!({ "taxRateBp": 1200 })).await;
    assert_eq!(changed["taxRateBp"], 1200, "{changed}");
    let effective: DateTime<Utc> =
        changed["effectiveFrom"].as_str().and_then(|t| t.parse().ok()).expect("effectiveFrom is a time");
    assert!(effective > ten_oclock && effective <= Utc::now(), "{changed}");
    let shown = p.get(&shop.token, "/api/settings").await;
    assert_eq!(shown.body, changed, "GET shows the settings the change answered");
    // After the change: 30,000 + PPN 12 % = 33,600; a till still at 11 % underpays.
    let after_change = effective + Duration::seconds(1);
    let after = sale(product, after_change, 33_600);
    let stale_till = sale(product, after_change, 33_300);

    // "10:10": the tills sync.
    let batch = json!({ "deviceId": "till-21", "orders": [before, after, stale_till] });
    let reply = p.post(&shop.token, "/api/sync/orders", &batch).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let ids: Vec<Uuid> = (0..3).map(|i| uuid(&reply.body["results"][i]["orderId"])).collect();
    assert_eq!(p.settled(ids[0]).await, "committed", "sold before the change, paid as the till charged");
    assert_eq!(figures(&p, &shop, ids[0]).await, [30_000, 30_000, 3_300, 33_300].map(Some), "charged 11 %");
    assert_eq!(p.settled(ids[1]).await, "committed");
    assert_eq!(figures(&p, &shop, ids[1]).await, [30_000, 30_000, 3_600, 33_600].map(Some), "charged 12 %");
    assert_eq!(p.settled(ids[2]).await, "failed", "sold after the change at the old rate");
    let reason: String = sqlx::query_scalar("SELECT reason_code FROM failed_syncs WHERE order_id = $1")
        .bind(ids[2])
        .fetch_one(&p.db)
        .await
        .expect("failed sync");
    assert_eq!(reason, "payment_mismatch");

    // Online, now: the door and the commit both charge 12 %.
    let mut online = sale(product, Utc::now(), 33_300);
    online.as_object_mut().map(|o| o.remove("createdAt"));
    let refused = p.post(&shop.token, "/api/orders", &online).await;
    assert_eq!((refused.status, refused.code()), (422, "payment_mismatch"), "{}", refused.body);
    online["clientOrderId"] = json!(Uuid::now_v7());
    online["payment"]["amount"] = json!(33_600);
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &online).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert_eq!(placed.body["tax"], 3_600, "{}", placed.body);

    // The change appended to the history; it rewrote nothing.
    let history: Vec<(i32,)> =
        sqlx::query_as("SELECT tax_rate_bp FROM tenant_charge_settings WHERE tenant_id = $1 ORDER BY effective_at")
            .bind(shop.id)
            .fetch_all(&p.db)
            .await
            .expect("history");
    assert_eq!(history, [(0,), (1100,), (1200,)]);
    p.assert_books_balance().await;
    p.stop().await;
}

/// A change that leaves the charges as they were (receipt numbering, the
/// refund rule) adds nothing to the history; two shops' histories are apart.
#[tokio::test]
async fn only_a_change_of_charges_is_recorded_and_only_for_its_shop() {
    let p = Pipeline::start().await;
    let (shop, other) = (p.tenant().await, p.tenant().await);
    let first = set(&p, &shop, json!({ "receiptPrefix": "WRG", "refundCashForNoncash": true })).await;
    let again = set(&p, &shop, json!({ "taxMode": "none" })).await;
    assert_eq!(first["effectiveFrom"], again["effectiveFrom"], "{first} {again}");
    set(&p, &other, json!({ "serviceChargeBp": 500 })).await;
    let count = |tenant: Uuid| {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tenant_charge_settings WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(&p.db)
    };
    assert_eq!(count(shop.id).await.expect("count"), 1, "the shop's entry from its creation only");
    assert_eq!(count(other.id).await.expect("count"), 2);
    p.stop().await;
}
