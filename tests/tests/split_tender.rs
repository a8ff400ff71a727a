//! Split tender, tax, service charge and cash rounding through the whole
//! pipeline: what the API answers and what the books hold.

use harness::{Pipeline, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

fn sale(product: Uuid, quantity: u32, price: i64, payments: Value) -> Value {
    json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": quantity, "price": price }],
            "payments": payments })
}

async fn set(p: &Pipeline, token: &str, settings: Value) {
    let reply = p.call(Method::PATCH, "/api/settings", Some(token), Some(&settings)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_sale_with_three_payments_commits_one_order_and_three_payment_rows() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    set(
        &p,
        &shop.token,
        json!({ "taxMode": "exclusive", "taxRateBp": 1100, "serviceChargeBp": 500,
                                "cashRounding": "100" }),
    )
    .await;
    // 30,000 + 5 % service 1,500 = 31,500 taxed 11 % = 3,465: total 34,965.
    // QRIS 10,000 and card 10,000 leave 14,965 cash due, rounded to 15,000.
    let payments = json!([{ "method": "qris", "amount": 10_000, "reference": "QR-1" },
                          { "method": "card", "amount": 10_000 }, { "method": "cash", "amount": 20_000 }]);
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &sale(product, 3, 10_000, payments)).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let o = &placed.body;
    let figures = ["subtotal", "serviceCharge", "taxBase", "tax", "total", "rounding"].map(|f| o[f].as_i64());
    assert_eq!(figures, [30_000, 1_500, 31_500, 3_465, 34_965, 35].map(Some), "{o}");
    let changes: Vec<_> = o["payments"].as_array().into_iter().flatten().map(|p| p["change"].as_i64()).collect();
    assert_eq!(changes, [Some(0), Some(0), Some(5_000)]);
    assert!(o.get("payment").is_none(), "a split has no single payment: {o}");
    let receipt = o["receiptNumber"].as_str().unwrap_or_default();
    assert!(receipt.starts_with("WRG-") && receipt.ends_with("-000001"), "{receipt}");

    let order_id = uuid(&o["orderId"]);
    let rows: Vec<(i16, String, i64, i64)> =
        sqlx::query_as("SELECT line_no, method, amount, change FROM payments WHERE order_id = $1 ORDER BY line_no")
            .bind(order_id)
            .fetch_all(&p.db)
            .await
            .expect("payments");
    let want = [(0, "qris", 10_000, 0), (1, "card", 10_000, 0), (2, "cash", 20_000, 5_000)];
    assert_eq!(rows, want.map(|(n, m, a, c)| (n, m.to_owned(), a, c)));
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 1);
    // What was taken, net of change, is the total plus the rounding line.
    let net: i64 = rows.iter().map(|r| r.2 - r.3).sum();
    assert_eq!(net, 34_965 + 35);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn an_underpaid_split_is_refused_with_payment_mismatch_and_nothing_is_kept() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 12_000, 10).await;
    let short = sale(
        product,
        3,
        12_000,
        json!([{ "method": "qris", "amount": 20_000 }, { "method": "cash", "amount": 15_000 }]),
    );
    let refused = p.post(&shop.token, "/api/orders", &short).await;
    assert_eq!((refused.status, refused.code()), (422, "payment_mismatch"), "{}", refused.body);
    let overpaid_card = sale(product, 1, 12_000, json!([{ "method": "card", "amount": 12_001 }]));
    let refused = p.post(&shop.token, "/api/orders", &overpaid_card).await;
    assert_eq!((refused.status, refused.code()), (422, "payment_mismatch"), "{}", refused.body);
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 0);
    let both = json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1, "price": 12_000 }],
                       "payment": { "method": "cash", "amount": 12_000 }, "payments": [] });
    let refused = p.post(&shop.token, "/api/orders", &both).await;
    assert_eq!((refused.status, refused.code()), (422, "validation_failed"), "{}", refused.body);

    // Paid in full, the same split commits; an offline one short of it is kept for review.
    let paid = sale(
        product,
        3,
        12_000,
        json!([{ "method": "qris", "amount": 20_000 }, { "method": "cash", "amount": 16_000 }]),
    );
    assert_eq!(p.post(&shop.token, "/api/orders?wait=10000", &paid).await.status, 201);
    let offline =
        sale(product, 1, 12_000, json!([{ "method": "qris", "amount": 5_000 }, { "method": "card", "amount": 5_000 }]));
    let synced = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-9", "orders": [offline] })).await;
    assert_eq!(synced.status, 202, "{}", synced.body);
    let status = p.settled(uuid(&synced.body["results"][0]["orderId"])).await;
    assert_eq!(status, "failed");
    let listed = p.get(&shop.token, "/api/failed-syncs?status=open").await;
    assert_eq!(listed.body["data"][0]["reason"]["code"], "payment_mismatch", "{}", listed.body);
    assert_eq!(listed.body["data"][0]["order"]["payments"].as_array().map(Vec::len), Some(2));
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn inclusive_tax_and_rounding_to_500_and_a_total_that_rounds_to_nothing() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 11_100, 10).await;
    let cheap = p.product(&shop, 200, 10).await;
    set(&p, &shop.token, json!({ "taxMode": "inclusive", "taxRateBp": 1100, "cashRounding": "500" })).await;
    let placed = p
        .post(
            &shop.token,
            "/api/orders?wait=10000",
            &sale(product, 1, 11_100, json!([{ "method": "cash", "amount": 11_000 }])),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let o = &placed.body;
    // Prices hold PPN: 11,100 is 10,000 + 1,100 tax; cash due rounds to 11,000.
    let figures = ["total", "taxBase", "tax", "rounding"].map(|f| o[f].as_i64());
    assert_eq!(figures, [11_100, 10_000, 1_100, -100].map(Some), "{o}");
    assert_eq!(o["payment"]["change"], 0);
    let free = p
        .post(&shop.token, "/api/orders?wait=10000", &sale(cheap, 1, 200, json!([{ "method": "cash", "amount": 0 }])))
        .await;
    assert_eq!(free.status, 201, "{}", free.body);
    assert_eq!((free.body["total"].as_i64(), free.body["rounding"].as_i64()), (Some(200), Some(-200)));
    p.stop().await;
}
