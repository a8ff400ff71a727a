//! Taking orders end to end: committed with its effects, read back, `?wait=`.

use harness::{Options, Pipeline, order, uuid};
use serde_json::json;

#[tokio::test]
async fn a_valid_order_is_committed_with_all_its_effects() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let noodles = p.product(&shop, 3_500, 10).await;
    let tea = p.product(&shop, 6_000, 5).await;
    let mut body = order(&[(noodles, 2, 3_500), (tea, 1, 6_000), (noodles, 1, 3_500)]);
    body["payment"] = json!({ "method": "cash", "amount": 20_000 });
    body["discount"] = json!(500);

    let accepted = p.post(&shop.token, "/api/orders", &body).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "pending");
    let order_id = uuid(&accepted.body["orderId"]);
    assert_eq!(accepted.body["statusUrl"], format!("/api/orders/{order_id}"));
    assert_eq!(p.settled(order_id).await, "committed");

    let shown = p.get(&shop.token, &format!("/api/orders/{order_id}")).await;
    assert_eq!(shown.status, 200);
    let o = &shown.body;
    assert_eq!(o["status"], "committed");
    assert_eq!(o["source"], "online");
    assert_eq!(o["subtotal"], 16_500);
    assert_eq!(o["discountTotal"], 500);
    assert_eq!(o["total"], 16_000);
    assert_eq!(o["discounts"], json!([{ "kind": "manual", "name": "Manual discount", "amount": 500 }]));
    assert_eq!(o["payment"], json!({ "method": "cash", "amount": 20_000, "change": 4_000 }));
    assert_eq!(o["items"][0]["lineTotal"], 7_000);
    assert!(o["committedAt"].is_string());

    assert_eq!(p.stock(noodles).await, 7);
    assert_eq!(p.stock(tea).await, 4);
    assert_eq!(p.count("SELECT count(*) FROM order_items").await, 3);
    assert_eq!(p.count("SELECT count(*) FROM payments WHERE amount = 20000 AND change = 4000").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'sale'").await, 2);
    p.assert_books_balance().await;
    p.drained(std::time::Duration::from_secs(10)).await;
    p.stop().await;
}

#[tokio::test]
async fn an_order_reads_pending_right_after_202_and_wait_gives_the_outcome() {
    // No worker yet: the order must read `pending`, never 404.
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 1).await;
    let first = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 10_000)])).await;
    assert_eq!(first.status, 202);
    let shown =
        p.get(&shop.token, &format!("/api/orders/{}", first.body["orderId"].as_str().unwrap_or_default())).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["status"], "pending");
    assert_eq!(shown.body["total"], 10_000, "a pending order shows its quote");

    let pending = p.post(&shop.token, "/api/orders?wait=200", &order(&[(product, 1, 10_000)])).await;
    assert_eq!(pending.status, 202, "still pending at the deadline");

    p.start_worker().await;
    let committed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 10_000)])).await;
    // The first two orders take the only unit in stock (in delivery order).
    assert!([200, 201].contains(&committed.status), "{}", committed.body);
    let rejected = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 10_000)])).await;
    assert_eq!(rejected.status, 200);
    assert_eq!(rejected.body["status"], "rejected");
    assert_eq!(rejected.body["rejection"]["code"], "insufficient_stock");
    let too_long = p.post(&shop.token, "/api/orders?wait=10001", &order(&[(product, 1, 10_000)])).await;
    assert_eq!(too_long.status, 422);
    p.drained(std::time::Duration::from_secs(10)).await;
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn orders_are_listed_newest_first_with_a_cursor() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 100).await;
    let mut ids = Vec::new();
    for minutes in [30, 20, 10] {
        let mut body = order(&[(product, 1, 1_000)]);
        body["createdAt"] = json!((chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339());
        let reply = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
        ids.push(reply.body["orderId"].clone());
    }
    let page = p.get(&shop.token, "/api/orders?limit=2&status=committed").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["data"][0]["orderId"], ids[2]);
    assert_eq!(page.body["data"][1]["orderId"], ids[1]);
    let cursor = page.body["nextCursor"].as_str().expect("a next cursor");
    let rest = p.get(&shop.token, &format!("/api/orders?limit=2&cursor={cursor}")).await;
    assert_eq!(rest.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest.body["data"][0]["orderId"], ids[0]);
    assert!(rest.body["nextCursor"].is_null());
    p.stop().await;
}
