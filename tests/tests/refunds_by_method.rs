//! Refunds go back the way the money came (issue 22 #1): by default to each
//! payment method in proportion to what it took net of change; never more
//! to a method than it has left (422 `refund_exceeds_paid` at the door for
//! explicit lines), unless the shop lets cash stand in for non-cash.

use harness::{Pipeline, Tenant, eventually, uuid};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// A committed order of one product at `price` (quantity `units`) paid by `payments`.
async fn sold(p: &Pipeline, shop: &Tenant, price: i64, units: u32, payments: Value) -> (Uuid, Uuid) {
    let product = p.product(shop, price, 100).await;
    let body = json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": units, "price": price }],
                       "payments": payments });
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    (uuid(&placed.body["orderId"]), product)
}

/// Refund `units` of `product`, wait until it settles; its payments by method.
async fn refunded(
    p: &Pipeline,
    shop: &Tenant,
    order: Uuid,
    product: Uuid,
    units: u32,
    lines: Option<Value>,
) -> BTreeMap<String, i64> {
    let mut body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": units }] });
    if let Some(lines) = lines {
        body["payments"] = lines;
    }
    let queued = p.post(&shop.token, &format!("/api/orders/{order}/refunds?wait=10000"), &body).await;
    assert_eq!(queued.body["status"], "committed", "{}", queued.body);
    let id = uuid(&queued.body["refundId"]);
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT method, sum(amount)::bigint FROM refund_payments WHERE refund_id = $1 GROUP BY 1")
            .bind(id)
            .fetch_all(&p.db)
            .await
            .expect("refund payments");
    rows.into_iter().collect()
}

fn methods(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(m, a)| ((*m).to_owned(), *a)).collect()
}

#[tokio::test]
async fn without_lines_a_refund_goes_back_to_each_method_in_proportion_to_what_it_paid() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    // 90,000 by card + 10,000 cash: a full refund pays 10,000 from the drawer, not 100,000.
    let split = json!([{ "method": "card", "amount": 90_000 }, { "method": "cash", "amount": 10_000 }]);
    let (order, product) = sold(&p, &shop, 50_000, 2, split).await;
    assert_eq!(refunded(&p, &shop, order, product, 1, None).await, methods(&[("card", 45_000), ("cash", 5_000)]));
    assert_eq!(refunded(&p, &shop, order, product, 1, None).await, methods(&[("card", 45_000), ("cash", 5_000)]));
    // 100,000 by card + 5,000 cash handed back entirely as change: the drawer took nothing and pays nothing.
    let change = json!([{ "method": "card", "amount": 100_000 }, { "method": "cash", "amount": 5_000 }]);
    let (order, product) = sold(&p, &shop, 100_000, 1, change).await;
    assert_eq!(refunded(&p, &shop, order, product, 1, None).await, methods(&[("card", 100_000)]));
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn an_explicit_line_beyond_what_its_method_paid_is_refused_unless_cash_may_stand_in() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let (order, product) = sold(&p, &shop, 20_000, 2, json!([{ "method": "qris", "amount": 40_000 }])).await;
    // A QRIS sale refunded in cash: refused at the door, nothing written.
    let cash = json!([{ "method": "cash", "amount": 20_000 }]);
    let body = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }], "payments": cash });
    let refused = p.post(&shop.token, &format!("/api/orders/{order}/refunds"), &body).await;
    assert_eq!((refused.status, refused.code()), (422, "refund_exceeds_paid"), "{}", refused.body);
    assert_eq!(p.count("SELECT count(*) FROM refunds").await, 0);

    // The shop allows cash for non-cash payments (a setting, off by default): the same refund is paid in cash.
    let settings = p
        .call(
            reqwest::Method::PATCH,
            "/api/settings",
            Some(&shop.token),
            Some(&json!({ "refundCashForNoncash": true })),
        )
        .await;
    assert_eq!(settings.body["refundCashForNoncash"], true, "{}", settings.body);
    assert_eq!(refunded(&p, &shop, order, product, 1, Some(cash)).await, methods(&[("cash", 20_000)]));
    // The rest goes back by QRIS by default: what the order took less what went back in cash.
    assert_eq!(refunded(&p, &shop, order, product, 1, None).await, methods(&[("qris", 20_000)]));
    eventually("nothing left to refund", Duration::from_secs(10), || async {
        let back: i64 = sqlx::query_scalar("SELECT coalesce(sum(amount), 0)::bigint FROM refund_payments")
            .fetch_one(&p.db)
            .await
            .ok()?;
        (back == 40_000).then_some(())
    })
    .await;
    p.assert_books_balance().await;
    p.stop().await;
}
