//! Refunds and returns through the whole pipeline: idempotent, never more
//! than sold, restocked once, waiting for an order still pending, and
//! reviewable when they cannot apply.

use harness::{Options, Pipeline, eventually, order, uuid};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn refund(product: Uuid, quantity: u32) -> Value {
    json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": quantity }],
            "reason": "rusak" })
}

async fn refund_status(p: &Pipeline, id: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM refunds WHERE id = $1").bind(id).fetch_optional(&p.db).await.expect("refund")
}

async fn refund_settled(p: &Pipeline, id: Uuid) -> String {
    eventually(&format!("refund {id} to settle"), Duration::from_secs(30), || async move {
        refund_status(p, id).await.filter(|s| s != "pending")
    })
    .await
}

/// A committed order of `quantity` of a new product priced 10,000 (stock 10).
async fn sold(p: &Pipeline, token: &harness::Tenant, quantity: u32) -> (Uuid, Uuid) {
    let product = p.product(token, 10_000, 10).await;
    let placed = p.post(&token.token, "/api/orders?wait=10000", &order(&[(product, quantity, 10_000)])).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    (uuid(&placed.body["orderId"]), product)
}

#[tokio::test]
async fn one_item_of_five_refunded_twice_in_parallel_with_one_refund_id_is_one_refund() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let (order_id, product) = sold(&p, &shop, 5).await;
    let body = refund(product, 1);
    let path = format!("/api/orders/{order_id}/refunds");
    let (a, b) = tokio::join!(p.post(&shop.token, &path, &body), p.post(&shop.token, &path, &body));
    assert_eq!((a.status, b.status), (202, 202), "{} {}", a.body, b.body);
    assert_eq!(a.body["refundId"], b.body["refundId"], "one refund id answers both");
    let id = uuid(&a.body["refundId"]);
    assert_eq!(refund_settled(&p, id).await, "committed");
    assert_eq!(p.stock(product).await, 6, "5 sold, 1 back");
    assert_eq!(p.count("SELECT count(*) FROM refunds").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'return'").await, 1);
    let shown = p.get(&shop.token, &format!("/api/refunds/{id}")).await;
    assert_eq!((shown.body["status"].as_str(), shown.body["amount"].as_i64()), (Some("committed"), Some(10_000)));
    assert_eq!(shown.body["payments"], json!([{ "method": "cash", "amount": 10_000 }]));
    // The same id with a different body is a conflict, never a second refund.
    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(2);
    let conflict = p.post(&shop.token, &path, &other).await;
    assert_eq!((conflict.status, conflict.code()), (409, "idempotency_conflict"));
    let again = p.post(&shop.token, &path, &body).await;
    assert_eq!((again.status, again.body["status"].as_str()), (202, Some("committed")));
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn of_two_refunds_that_together_exceed_what_was_sold_the_second_is_refused() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let (order_id, product) = sold(&p, &shop, 2).await;
    let path = format!("/api/orders/{order_id}/refunds");
    let (both, one) = (refund(product, 2), refund(product, 1));
    let (a, b) = tokio::join!(p.post(&shop.token, &path, &both), p.post(&shop.token, &path, &one));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{} {}", a.body, b.body);
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.code(), "refund_exceeds_sold", "{}", refused.body);
    let accepted = if a.status == 202 { &a } else { &b };
    assert_eq!(refund_settled(&p, uuid(&accepted.body["refundId"])).await, "committed");
    // Whichever won, two more would bring back more than the two sold.
    let more = p.post(&shop.token, &path, &refund(product, 2)).await;
    assert_eq!((more.status, more.code()), (409, "refund_exceeds_sold"));
    let unsold = p.post(&shop.token, &path, &refund(Uuid::now_v7(), 1)).await;
    assert_eq!((unsold.status, unsold.code()), (409, "refund_exceeds_sold"));
    let missing = p.post(&shop.token, &format!("/api/orders/{}/refunds", Uuid::now_v7()), &refund(product, 1)).await;
    assert_eq!(missing.status, 404);
    let bad = p.post(&shop.token, &path, &json!({ "clientRefundId": Uuid::now_v7(), "items": [] })).await;
    assert_eq!((bad.status, bad.code()), (422, "validation_failed"));
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn an_offline_refund_of_an_order_still_pending_is_applied_after_it() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    p.stop_in_process_workers();
    let sale = order(&[(product, 3, 10_000)]);
    let synced = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-2", "orders": [sale] })).await;
    let order_id = uuid(&synced.body["results"][0]["orderId"]);
    let mut back = refund(product, 2);
    back["createdAt"] = json!(chrono::Utc::now().to_rfc3339());
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &back).await;
    assert_eq!((queued.status, queued.body["status"].as_str()), (202, Some("pending")), "{}", queued.body);
    p.start_worker().await;
    let id = uuid(&queued.body["refundId"]);
    assert_eq!(refund_settled(&p, id).await, "committed");
    assert_eq!(p.settled(order_id).await, "committed");
    let order_first: bool = sqlx::query_scalar(
        "SELECT o.committed_at <= r.committed_at FROM orders o JOIN refunds r ON r.order_id = o.id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_one(&p.db)
    .await
    .expect("times");
    assert!(order_first, "the refund commits after its order");
    assert_eq!(p.stock(product).await, 9);
    // Cancelling the partly refunded order gives back only the third unit.
    let cancel = p.post(&shop.token, &format!("/api/orders/{order_id}/cancel"), &json!({ "reason": "batal" })).await;
    assert_eq!(cancel.status, 202);
    eventually("the cancel", Duration::from_secs(30), || async {
        (p.order_status(order_id).await.as_deref() == Some("cancelled")).then_some(())
    })
    .await;
    assert_eq!(p.stock(product).await, 10);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_refund_that_cannot_apply_becomes_a_failed_sync_for_review() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    // The order is still on its way when the refund arrives (no worker
    // runs), so the door cannot know its amount and admits it; against a
    // committed order such lines are refused at the door (refund_quote.rs).
    p.stop_in_process_workers();
    let product = p.product(&shop, 10_000, 10).await;
    let placed = p.post(&shop.token, "/api/orders", &order(&[(product, 2, 10_000)])).await;
    assert_eq!(placed.status, 202, "{}", placed.body);
    let order_id = uuid(&placed.body["orderId"]);
    // Payments that cannot add up to what one unit pays back (10,000).
    let mut wrong = refund(product, 1);
    wrong["payments"] = json!([{ "method": "cash", "amount": 4_000 }]);
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &wrong).await;
    assert_eq!((queued.status, queued.body["status"].as_str()), (202, Some("pending")), "{}", queued.body);
    p.start_worker().await;
    assert_eq!(p.settled(order_id).await, "committed");
    assert_eq!(refund_settled(&p, uuid(&queued.body["refundId"])).await, "failed");
    let shown =
        p.get(&shop.token, &format!("/api/refunds/{}", queued.body["refundId"].as_str().unwrap_or_default())).await;
    assert_eq!(shown.body["rejection"]["code"], "payment_mismatch", "{}", shown.body);
    let listed = p.get(&shop.token, "/api/failed-syncs?status=open").await;
    let failed = &listed.body["data"][0];
    assert_eq!(failed["refundId"], queued.body["refundId"], "{}", listed.body);
    assert_eq!(failed["refund"]["payments"][0]["amount"], 4_000);
    assert_eq!(failed["order"]["items"][0]["quantity"], 2, "the order it refunds");
    let id = failed["id"].as_str().unwrap_or_default().to_owned();
    let discarded = p.post(&shop.token, &format!("/api/failed-syncs/{id}/discard"), &json!({ "reason": "typo" })).await;
    assert_eq!(discarded.status, 200, "{}", discarded.body);
    assert_eq!(p.stock(product).await, 8, "nothing came back");
    // The order still sold two: a correct refund of both applies.
    let right = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds?wait=10000"), &refund(product, 2)).await;
    assert_eq!((right.status, right.body["amount"].as_i64()), (201, Some(20_000)), "{}", right.body);
    assert_eq!(p.stock(product).await, 10);
    p.assert_books_balance().await;
    p.stop().await;
}

/// A refund whose retries run out is dead-lettered and kept as a failed
/// sync of that refund, with its request, not as an unreadable dead letter.
/// Once the cause is gone, a supervisor's retry applies it, once.
#[tokio::test]
async fn a_refund_whose_retries_run_out_is_kept_for_review_and_its_retry_applies_it() {
    let options =
        Options::default().with_env("ORDER_TRANSACTION_TIMEOUT", "200ms").with_env("WORKER_MAX_ATTEMPTS", "3");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let (order_id, product) = sold(&p, &shop, 2).await;
    // The product's row held: restocking waits on it, so every attempt at
    // the refund's transaction times out (recording the dead letter does
    // not touch products).
    let mut lock = p.db.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE")
        .bind(product)
        .execute(&mut *lock)
        .await
        .expect("lock");
    let body = refund(product, 1);
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &body).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let refund_id = uuid(&queued.body["refundId"]);
    assert_eq!(refund_settled(&p, refund_id).await, "failed");
    lock.rollback().await.expect("release the lock");

    let (failed, code, request): (Uuid, String, Value) =
        sqlx::query_as("SELECT id, reason_code, request FROM failed_syncs WHERE refund_id = $1")
            .bind(refund_id)
            .fetch_one(&p.db)
            .await
            .expect("a failed sync of the refund");
    assert_eq!(code, "retries_exhausted");
    assert_eq!(request["items"], body["items"], "the refund's request is kept");
    assert_eq!(p.count("SELECT count(*) FROM dead_letters").await, 0, "recorded as the refund's, not as raw");
    assert_eq!(p.stock(product).await, 8, "nothing came back yet");

    let retried = p.post(&shop.token, &format!("/api/failed-syncs/{failed}/retry"), &json!({})).await;
    assert_eq!(retried.status, 202, "{}", retried.body);
    // The refund stays `failed` until the replayed message commits it.
    eventually("the retried refund to commit", Duration::from_secs(30), || async {
        (refund_status(&p, refund_id).await.as_deref() == Some("committed")).then_some(())
    })
    .await;
    assert_eq!(p.stock(product).await, 9, "one unit back, once");
    let shown = p.get(&shop.token, &format!("/api/refunds/{refund_id}")).await;
    assert_eq!(shown.body["amount"], 10_000, "{}", shown.body);
    p.drained(Duration::from_secs(10)).await;
    p.assert_books_balance().await;
    p.stop().await;
}

/// Issue 22 #7: a refund may not be dated before the sale it refunds.
#[tokio::test]
async fn a_refund_dated_before_its_sale_is_refused_and_leaves_no_row() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 10).await;
    let mut sale = order(&[(product, 2, 10_000)]);
    sale["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339());
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &sale).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = uuid(&placed.body["orderId"]);
    let path = format!("/api/orders/{order_id}/refunds");

    let mut early = refund(product, 1);
    early["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339());
    let refused = p.post(&shop.token, &path, &early).await;
    assert_eq!((refused.status, refused.code()), (422, "sale_time_out_of_range"), "{}", refused.body);
    assert_eq!(p.count("SELECT count(*) FROM refunds").await, 0);

    let mut later = refund(product, 1);
    later["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339());
    let taken = p.post(&shop.token, &path, &later).await;
    assert_eq!(taken.status, 202, "{}", taken.body);
    assert_eq!(refund_settled(&p, uuid(&taken.body["refundId"])).await, "committed");
    p.stop().await;
}
