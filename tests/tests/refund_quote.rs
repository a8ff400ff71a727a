//! Refund quotes (issue 21): `POST /api/orders/{id}/refunds/quote` says
//! what a refund would pay back, by method, creating nothing, and equals
//! what the refund then commits; a refund whose lines carry other amounts
//! is refused at the door (422 `payment_mismatch` with the expected
//! amount), leaving no row.

use harness::{Pipeline, Tenant, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A committed order of `units` at `price` (11 % exclusive PPN) paid by `payments`.
async fn sold(p: &Pipeline, shop: &Tenant, price: i64, units: u32, payments: Value) -> (Uuid, Uuid) {
    let product = p.product(shop, price, 100).await;
    let body = json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": units, "price": price }],
                       "payments": payments });
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    (uuid(&placed.body["orderId"]), product)
}

async fn ppn_11(p: &Pipeline, shop: &Tenant) {
    let settings = json!({ "taxMode": "exclusive", "taxRateBp": 1100 });
    let set = p.call(Method::PATCH, "/api/settings", Some(&shop.token), Some(&settings)).await;
    assert_eq!(set.status, 200, "{}", set.body);
}

fn refund(product: Uuid, units: u32) -> Value {
    json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": units }] })
}

/// `[{"method", "amount"}]` as method → amount.
fn by_method(payments: &Value) -> BTreeMap<String, i64> {
    let lines = payments.as_array().cloned().unwrap_or_default();
    lines
        .iter()
        .map(|l| (l["method"].as_str().unwrap_or_default().to_owned(), l["amount"].as_i64().unwrap_or(-1)))
        .collect()
}

async fn refunds_of(p: &Pipeline, order: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM refunds WHERE order_id = $1")
        .bind(order)
        .fetch_one(&p.db)
        .await
        .expect("count refunds")
}

/// The amount refund `id` committed, once it has.
async fn committed_amount(p: &Pipeline, id: Uuid) -> i64 {
    harness::eventually("the refund to commit", std::time::Duration::from_secs(30), || async move {
        sqlx::query_scalar::<_, Option<i64>>("SELECT amount FROM refunds WHERE id = $1 AND status = 'committed'")
            .bind(id)
            .fetch_optional(&p.db)
            .await
            .ok()
            .flatten()
            .flatten()
    })
    .await
}

#[tokio::test]
async fn a_quote_for_one_item_of_five_is_what_its_refund_commits() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    ppn_11(&p, &shop).await;
    // 5 × 10,000 + PPN 11 % = 55,500: 50,000 by card, 5,500 cash.
    let split = json!([{ "method": "card", "amount": 50_000 }, { "method": "cash", "amount": 5_500 }]);
    let (order, product) = sold(&p, &shop, 10_000, 5, split).await;
    let (quote_path, refund_path) =
        (format!("/api/orders/{order}/refunds/quote"), format!("/api/orders/{order}/refunds?wait=10000"));

    let body = refund(product, 1);
    let quoted = p.post(&shop.token, &quote_path, &body).await;
    assert_eq!(quoted.status, 200, "{}", quoted.body);
    assert_eq!(quoted.body["amount"], 11_100, "{}", quoted.body);
    assert_eq!(by_method(&quoted.body["payments"]), BTreeMap::from([("card".into(), 10_000), ("cash".into(), 1_100)]));
    assert_eq!((quoted.body["tax"].as_i64(), quoted.body["taxBase"].as_i64()), (Some(1_100), Some(10_000)));
    assert_eq!(refunds_of(&p, order).await, 0, "a quote creates nothing");
    // A cashier may not refund, so may not quote either.
    let cashier = p.user(&shop, "cashier").await;
    assert_eq!(p.post(&cashier, &quote_path, &body).await.status, 403);

    let refunded = p.post(&shop.token, &refund_path, &body).await;
    assert_eq!(refunded.status, 201, "{}", refunded.body);
    assert_eq!(refunded.body["amount"], quoted.body["amount"], "{}", refunded.body);
    assert_eq!(by_method(&refunded.body["payments"]), by_method(&quoted.body["payments"]));

    // The rest, quoted with the lines the till chose, pays back all that is left.
    let mut rest = refund(product, 4);
    rest["payments"] = json!([{ "method": "cash" }, { "method": "card", "amount": 40_000 }]);
    let quoted = p.post(&shop.token, &quote_path, &rest).await;
    assert_eq!(quoted.status, 200, "{}", quoted.body);
    assert_eq!(quoted.body["amount"], 44_400, "{}", quoted.body);
    let refunded = p.post(&shop.token, &refund_path, &rest).await;
    assert_eq!((refunded.status, &refunded.body["amount"]), (201, &quoted.body["amount"]), "{}", refunded.body);
    assert_eq!(by_method(&refunded.body["payments"]), by_method(&quoted.body["payments"]));

    // Nothing is left to quote; an order that does not exist has nothing to quote.
    let none = p.post(&shop.token, &quote_path, &refund(product, 1)).await;
    assert_eq!((none.status, none.code()), (409, "refund_exceeds_sold"), "{}", none.body);
    let unknown = p.post(&shop.token, &format!("/api/orders/{}/refunds/quote", Uuid::now_v7()), &body).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_refund_with_a_wrong_amount_is_refused_at_the_door_with_the_expected_amount_and_leaves_no_row() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    ppn_11(&p, &shop).await;
    let (order, product) = sold(&p, &shop, 10_000, 5, json!([{ "method": "cash", "amount": 55_500 }])).await;
    let path = format!("/api/orders/{order}/refunds");

    // The till thinks one unit is 10,000 back (it forgot the tax).
    let mut wrong = refund(product, 1);
    wrong["payments"] = json!([{ "method": "cash", "amount": 10_000 }]);
    let refused = p.post(&shop.token, &path, &wrong).await;
    assert_eq!((refused.status, refused.code()), (422, "payment_mismatch"), "{}", refused.body);
    assert_eq!(refused.body["error"]["expected"], 11_100, "{}", refused.body);
    assert!(refused.body["error"]["requestId"].is_string(), "{}", refused.body);
    // The quote refuses the same lines the same way.
    let quoted = p.post(&shop.token, &format!("{path}/quote"), &wrong).await;
    assert_eq!((quoted.status, &quoted.body["error"]["expected"]), (422, &json!(11_100)), "{}", quoted.body);
    assert_eq!(refunds_of(&p, order).await, 0, "no refund row");
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM failed_syncs WHERE order_id = $1")
        .bind(order)
        .fetch_one(&p.db)
        .await
        .expect("failed syncs");
    assert_eq!(failed, 0, "nothing to review");

    // Resent with the expected amount (a new attempt: the refused one left
    // nothing under its clientRefundId), it commits.
    wrong["payments"][0]["amount"] = refused.body["error"]["expected"].clone();
    let right = p.post(&shop.token, &format!("{path}?wait=10000"), &wrong).await;
    assert_eq!((right.status, right.body["amount"].as_i64()), (201, Some(11_100)), "{}", right.body);
    p.assert_books_balance().await;
    p.stop().await;
}

/// A refund still pending counts as committed first: the quote after it
/// is what the next refund will pay (the last unit takes the rounding).
#[tokio::test]
async fn a_quote_counts_the_refunds_still_pending_before_it() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    ppn_11(&p, &shop).await;
    // 3 × 3,333 = 9,999 + PPN 1,099 = 11,098: units pay back 3,699, 3,699 and 3,700.
    let (order, product) = sold(&p, &shop, 3_333, 3, json!([{ "method": "cash", "amount": 11_098 }])).await;
    let path = format!("/api/orders/{order}/refunds");
    let quoted = p.post(&shop.token, &format!("{path}/quote"), &refund(product, 1)).await;
    assert_eq!(quoted.body["amount"], 3_699, "{}", quoted.body);

    p.stop_in_process_workers();
    let two = p.post(&shop.token, &path, &refund(product, 2)).await;
    assert_eq!((two.status, two.body["status"].as_str()), (202, Some("pending")), "{}", two.body);
    let quoted = p.post(&shop.token, &format!("{path}/quote"), &refund(product, 1)).await;
    assert_eq!(quoted.body["amount"], 3_700, "after the pending refund of two: {}", quoted.body);
    let mut last = refund(product, 1);
    last["payments"] = json!([{ "method": "cash", "amount": 3_700 }]);
    let queued = p.post(&shop.token, &path, &last).await;
    assert_eq!(queued.status, 202, "{}", queued.body);

    p.start_worker().await;
    assert_eq!(committed_amount(&p, uuid(&two.body["refundId"])).await, 7_398);
    assert_eq!(committed_amount(&p, uuid(&queued.body["refundId"])).await, 3_700);
    p.assert_books_balance().await;
    p.stop().await;
}
