//! The failed-sync review page, driven in headless Chromium: sign in,
//! filter by reason, retry one with allowOversell, discard another; the
//! effects are checked in Postgres and a screenshot of the list is kept.

use harness::browser::Browser;
use harness::{Pipeline, order, uuid};
use serde_json::json;

#[tokio::test]
async fn an_operator_reviews_failed_syncs_in_the_browser() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let scarce = p.product(&shop, 5_000, 3).await;
    let priced = p.product(&shop, 1_000, 100).await;
    let orders = vec![order(&[(scarce, 5, 5_000)]), order(&[(scarce, 4, 5_000)]), order(&[(priced, 1, 800)])];
    let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-b", "orders": orders })).await;
    let ids: Vec<_> = reply.body["results"].as_array().into_iter().flatten().map(|r| uuid(&r["orderId"])).collect();
    for id in &ids {
        assert_eq!(p.settled(*id).await, "failed");
    }

    let browser = Browser::start().await;
    browser.client.goto(&format!("{}/ops/failed-syncs", p.base_url)).await.expect("open the page");
    browser.type_into("#email", &format!("owner@{}.test", shop.slug)).await;
    browser.type_into("#password", "owner-pass-123").await;
    browser.click("#signin").await;
    browser.count("#list tbody tr", 3).await;
    browser.text("#reasons", "insufficient_stock (2)").await;

    browser.text("#list tbody", "Rp 25.000").await;
    let screenshot = browser.client.screenshot().await.expect("screenshot");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output");
    std::fs::create_dir_all(&dir).expect("output directory");
    std::fs::write(dir.join("failed-syncs.png"), &screenshot).expect("saving the screenshot");
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");

    browser.click("[data-reason=insufficient_stock]").await;
    browser.count("#list tbody tr", 2).await;
    let first: String = sqlx::query_scalar("SELECT id::text FROM failed_syncs WHERE order_id = $1")
        .bind(ids[0])
        .fetch_one(&p.db)
        .await
        .expect("id");
    browser.click(&format!("#list tr[data-id='{first}']")).await;
    browser.text("#detail-reason", "insufficient_stock").await;
    browser.text("#detail-facts", "offline").await;
    browser.text("#detail-lines", "Product SKU-").await;
    browser.click("#allow-oversell").await;
    browser.click("#retry").await;
    browser.text("#message", "Retry sent").await;
    p.reaches(ids[0], "committed").await;
    assert_eq!(p.stock(scarce).await, 0);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'oversold' AND delta = 2").await, 1);

    browser.click("#reasons button").await;
    browser.text("#reasons", "All (2)").await;
    browser.count("#list tbody tr", 2).await;
    let price: String = sqlx::query_scalar("SELECT id::text FROM failed_syncs WHERE order_id = $1")
        .bind(ids[2])
        .fetch_one(&p.db)
        .await
        .expect("id");
    browser.click(&format!("#list tr[data-id='{price}']")).await;
    browser.text("#detail-reason", "price_mismatch").await;
    browser.type_into("#discard-reason", "re-rung at the till").await;
    browser.click("#discard").await;
    browser.text("#message", "Discarded").await;
    let (status, note): (String, String) = sqlx::query_as(
        "SELECT f.status, e.note FROM failed_syncs f JOIN failed_sync_events e ON e.failed_sync_id = f.id WHERE f.id::text = $1",
    )
    .bind(&price)
    .fetch_one(&p.db)
    .await
    .expect("discarded");
    assert_eq!((status.as_str(), note.as_str()), ("discarded", "re-rung at the till"));
    browser.close().await;

    // Another shop signing in sees none of it.
    let other = p.tenant().await;
    let browser = Browser::start().await;
    browser.client.goto(&format!("{}/ops/failed-syncs", p.base_url)).await.expect("open the page");
    browser.type_into("#email", &format!("owner@{}.test", other.slug)).await;
    browser.type_into("#password", "owner-pass-123").await;
    browser.click("#signin").await;
    browser.text("#reasons", "All (0)").await;
    browser.count("#list tbody tr", 0).await;
    browser.close().await;
    p.assert_books_balance().await;
    p.stop().await;
}
