//! Stock per outlet: each outlet sells from its own shelf, cancels and
//! refunds give back to the outlet that sold, and neither outlet of a shop
//! oversells when many tills sell the same hot products at both at once.

use futures::StreamExt;
use harness::{Pipeline, Tenant, order, uuid};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

async fn new_outlet(p: &Pipeline, shop: &Tenant, name: &str) -> Uuid {
    let created = p.post(&shop.token, "/api/outlets", &json!({ "name": name })).await;
    assert_eq!(created.status, 201, "{}", created.body);
    uuid(&created.body["id"])
}

async fn adjust(p: &Pipeline, shop: &Tenant, product: Uuid, body: Value) -> harness::Reply {
    p.post(&shop.token, &format!("/api/products/{product}/stock-adjustments"), &body).await
}

fn at(outlet: Uuid, mut body: Value) -> Value {
    body["outletId"] = json!(outlet);
    body
}

#[tokio::test]
async fn each_outlet_sells_from_its_own_stock_and_gets_back_what_it_sold() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let other = p.tenant().await;
    let product = p.product(&shop, 5_000, 10).await;
    let stall = new_outlet(&p, &shop, "Lapak Pasar").await;
    let theirs = new_outlet(&p, &other, "Their stall").await;

    let restocked = adjust(&p, &shop, product, json!({ "delta": 4, "reason": "restock", "outletId": stall })).await;
    assert_eq!(restocked.status, 200, "{}", restocked.body);
    assert_eq!(restocked.body["stock"], 14, "the total over outlets: {}", restocked.body);
    assert_eq!(restocked.body["stockByOutlet"][1], json!({ "outletId": stall, "stock": 4 }), "{}", restocked.body);
    let foreign = adjust(&p, &shop, product, json!({ "delta": 4, "reason": "restock", "outletId": theirs })).await;
    assert_eq!((foreign.status, foreign.code()), (422, "unknown_outlet"), "{}", foreign.body);
    let below = adjust(&p, &shop, product, json!({ "delta": -5, "reason": "waste", "outletId": stall })).await;
    assert_eq!((below.status, below.code()), (409, "insufficient_stock"), "{}", below.body);

    // The stall has 4 of the shop's 14: 3 fit, 2 more do not.
    let sold = p.post(&shop.token, "/api/orders?wait=10000", &at(stall, order(&[(product, 3, 5_000)]))).await;
    assert_eq!(sold.body["status"], "committed", "{}", sold.body);
    let short = p.post(&shop.token, "/api/orders?wait=10000", &at(stall, order(&[(product, 2, 5_000)]))).await;
    assert_eq!(short.body["rejection"]["code"], "insufficient_stock", "{}", short.body);
    assert_eq!((p.stock_at(product, stall).await, p.stock(product).await), (1, 11));

    // A refund of one and the cancel of the rest go back to the stall.
    let order_id = uuid(&sold.body["orderId"]);
    let refund = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }],
                         "reason": "rusak" });
    assert_eq!(p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &refund).await.status, 202);
    p.drained(Duration::from_secs(30)).await;
    assert_eq!(p.stock_at(product, stall).await, 2);
    let cancel = json!({ "reason": "salah input" });
    assert_eq!(p.post(&shop.token, &format!("/api/orders/{order_id}/cancel"), &cancel).await.status, 202);
    p.reaches(order_id, "cancelled").await;
    assert_eq!((p.stock_at(product, stall).await, p.stock(product).await), (4, 14));

    let ledger = p.get(&shop.token, &format!("/api/products/{product}/stock-movements?outletId={stall}")).await;
    let rows = ledger.body["data"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = rows.iter().filter_map(|m| m["kind"].as_str()).collect();
    assert_eq!(kinds, ["cancel", "return", "sale", "adjustment"], "{}", ledger.body);
    assert!(rows.iter().all(|m| m["outletId"] == json!(stall)), "{}", ledger.body);
    assert_eq!(rows.iter().filter_map(|m| m["delta"].as_i64()).sum::<i64>(), 4, "the stall's ledger sums to its stock");
    p.assert_books_balance().await;
    p.stop().await;
}

/// Per (outlet, product): its opening stock, at the default outlet and at the stall.
const OPENING: [i64; 2] = [20, 15];

#[tokio::test]
async fn two_outlets_five_hot_products_a_thousand_concurrent_orders_oversell_neither() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let mut products = Vec::new();
    for _ in 0..5 {
        products.push(p.product(&shop, 1_000, OPENING[0]).await);
    }
    let default = uuid(&p.get(&shop.token, "/api/outlets").await.body["data"][0]["id"]);
    let stall = new_outlet(&p, &shop, "Lapak Pasar").await;
    for &product in &products {
        let body = json!({ "delta": OPENING[1], "reason": "restock", "outletId": stall });
        assert_eq!(adjust(&p, &shop, product, body).await.status, 200);
    }

    // Half the orders sell one product, half two (in either order, so the
    // workers' lock order is what keeps them from deadlocking).
    let orders: Vec<Value> = (0..1_000)
        .map(|i| {
            let outlet = if i % 2 == 0 { default } else { stall };
            let a = products[i % 5];
            let lines =
                if i % 4 < 2 { vec![(a, 1, 1_000)] } else { vec![(a, 1, 1_000), (products[(i / 4) % 5], 1, 1_000)] };
            let lines = if lines.len() == 2 && lines[0].0 == lines[1].0 { vec![(a, 2, 1_000)] } else { lines };
            at(outlet, order(&lines))
        })
        .collect();
    let replies: Vec<_> = futures::stream::iter(orders.iter().map(|body| p.post(&shop.token, "/api/orders", body)))
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(replies.iter().all(|r| r.status == 202), "{:?}", replies.iter().find(|r| r.status != 202));
    p.drained(Duration::from_secs(120)).await;

    let settled = p.count("SELECT count(*) FROM orders WHERE status IN ('committed', 'rejected')").await;
    assert_eq!(settled, 1_000, "every order committed or rejected");
    let sold: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT o.outlet_id, i.product_id, sum(i.quantity)::bigint FROM orders o
         JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
         WHERE o.status = 'committed' GROUP BY 1, 2",
    )
    .fetch_all(&p.db)
    .await
    .expect("sold per outlet");
    let sold: HashMap<(Uuid, Uuid), i64> = sold.into_iter().map(|(o, p, n)| ((o, p), n)).collect();
    for &product in &products {
        for (outlet, opening) in [(default, OPENING[0]), (stall, OPENING[1])] {
            let left = p.stock_at(product, outlet).await;
            // Single-line orders alone ask each outlet for ~50 of each product.
            assert_eq!(left, 0, "product {product} at outlet {outlet}: the demand took it all");
            assert_eq!(sold.get(&(outlet, product)).copied(), Some(opening), "sold exactly the outlet's stock");
        }
    }
    p.assert_books_balance().await;
    p.stop().await;
}
