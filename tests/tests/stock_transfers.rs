//! Stock transfers between outlets through the whole pipeline: idempotent
//! under one `clientTransferId`, committed once as a pair of movements,
//! never taking the source below zero (a failed transfer, listed for
//! review, that applies after a restock and a retry).

use harness::{Pipeline, Tenant, eventually, uuid};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn transfer_status(p: &Pipeline, shop: &Tenant, id: Uuid, not: &str) -> Value {
    eventually(&format!("transfer {id} to leave {not}"), Duration::from_secs(30), || async move {
        let shown = p.get(&shop.token, &format!("/api/stock-transfers/{id}")).await;
        (shown.status == 200 && shown.body["status"] != not).then_some(shown.body)
    })
    .await
}

async fn setup(p: &Pipeline, stock: i64) -> (Tenant, Uuid, Uuid, Uuid) {
    let shop = p.tenant().await;
    let product = p.product(&shop, 3_000, stock).await;
    let default = uuid(&p.get(&shop.token, "/api/outlets").await.body["data"][0]["id"]);
    let stall = uuid(&p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak Pasar" })).await.body["id"]);
    (shop, product, default, stall)
}

fn transfer(from: Uuid, to: Uuid, product: Uuid, quantity: u32) -> Value {
    json!({ "clientTransferId": Uuid::now_v7(), "fromOutletId": from, "toOutletId": to,
            "items": [{ "productId": product, "quantity": quantity }], "note": "isi lapak" })
}

#[tokio::test]
async fn a_transfer_sent_twice_in_parallel_with_one_client_transfer_id_moves_stock_once() {
    let p = Pipeline::start().await;
    let (shop, product, default, stall) = setup(&p, 10).await;
    let body = transfer(default, stall, product, 4);
    let (a, b) = tokio::join!(
        p.post(&shop.token, "/api/stock-transfers", &body),
        p.post(&shop.token, "/api/stock-transfers", &body)
    );
    assert_eq!((a.status, b.status), (202, 202), "{} {}", a.body, b.body);
    assert_eq!(a.body["transferId"], b.body["transferId"], "one transfer answers both");
    let id = uuid(&a.body["transferId"]);
    let done = transfer_status(&p, &shop, id, "pending").await;
    assert_eq!(done["status"], "committed", "{done}");
    p.drained(Duration::from_secs(30)).await;
    assert_eq!((p.stock_at(product, default).await, p.stock_at(product, stall).await), (6, 4));
    let moves = p.count("SELECT count(*) FROM stock_movements WHERE kind IN ('transfer_out', 'transfer_in')").await;
    assert_eq!(moves, 2, "one transfer_out and one transfer_in");

    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(5);
    let conflict = p.post(&shop.token, "/api/stock-transfers", &other).await;
    assert_eq!((conflict.status, conflict.code()), (409, "idempotency_conflict"), "{}", conflict.body);
    let same = p.post(&shop.token, "/api/stock-transfers", &body).await;
    assert_eq!((same.status, &same.body["status"]), (202, &json!("committed")), "{}", same.body);

    let foreign = p.tenant().await;
    let theirs = uuid(&p.get(&foreign.token, "/api/outlets").await.body["data"][0]["id"]);
    let refused = p.post(&shop.token, "/api/stock-transfers", &transfer(default, theirs, product, 1)).await;
    assert_eq!((refused.status, refused.code()), (422, "unknown_outlet"), "{}", refused.body);
    let to_itself = p.post(&shop.token, "/api/stock-transfers", &transfer(stall, stall, product, 1)).await;
    assert_eq!(to_itself.status, 422, "{}", to_itself.body);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_transfer_beyond_the_source_stock_fails_for_review_and_applies_after_a_restock_and_retry() {
    let p = Pipeline::start().await;
    let (shop, product, default, stall) = setup(&p, 10).await;
    let sent = p.post(&shop.token, "/api/stock-transfers", &transfer(default, stall, product, 15)).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = uuid(&sent.body["transferId"]);
    let failed = transfer_status(&p, &shop, id, "pending").await;
    assert_eq!(
        (failed["status"].as_str(), failed["rejection"]["code"].as_str()),
        (Some("failed"), Some("insufficient_stock"))
    );
    let review = p.get(&shop.token, "/api/stock-transfers?status=failed").await;
    assert_eq!(review.body["data"][0]["transferId"], json!(id), "{}", review.body);
    assert_eq!((p.stock_at(product, default).await, p.stock_at(product, stall).await), (10, 0), "nothing moved");

    // Retried before the restock it fails again; after it, it applies.
    let retry = format!("/api/stock-transfers/{id}/retry");
    assert_eq!(p.post(&shop.token, &retry, &json!({})).await.status, 202);
    eventually("the retry to fail again", Duration::from_secs(30), || async {
        let shown = p.get(&shop.token, &format!("/api/stock-transfers/{id}")).await;
        (shown.body["failures"] == 2).then_some(())
    })
    .await;
    let restock = json!({ "delta": 10, "reason": "restock" });
    assert_eq!(p.post(&shop.token, &format!("/api/products/{product}/stock-adjustments"), &restock).await.status, 200);
    assert_eq!(p.post(&shop.token, &retry, &json!({})).await.status, 202);
    let done = transfer_status(&p, &shop, id, "failed").await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!((p.stock_at(product, default).await, p.stock_at(product, stall).await), (5, 15));
    let again = p.post(&shop.token, &retry, &json!({})).await;
    assert_eq!((again.status, again.code()), (409, "not_retryable"), "{}", again.body);
    p.drained(Duration::from_secs(30)).await;
    p.assert_books_balance().await;
    p.stop().await;
}

/// A transfer accepted (202) whose row the database lost (a restore, a
/// failover to an asynchronous standby) is rebuilt from its message.
#[tokio::test]
async fn a_transfer_whose_row_was_lost_is_recreated_from_its_message_and_applied() {
    let p = Pipeline::start_with(harness::Options::workers(0)).await;
    let (shop, product, default, stall) = setup(&p, 10).await;
    let sent = p.post(&shop.token, "/api/stock-transfers", &transfer(default, stall, product, 3)).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let id = uuid(&sent.body["transferId"]);
    for lose in ["DELETE FROM stock_transfer_items WHERE transfer_id = $1", "DELETE FROM stock_transfers WHERE id = $1"]
    {
        sqlx::query(lose).bind(id).execute(&p.db).await.expect("losing the row");
    }
    let _worker = p.spawn_worker_with_port("a", &[], None).await;
    let done = transfer_status(&p, &shop, id, "pending").await;
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!((p.stock_at(product, default).await, p.stock_at(product, stall).await), (7, 3));
    p.drained(Duration::from_secs(30)).await;
    p.assert_books_balance().await;
    p.stop().await;
}
