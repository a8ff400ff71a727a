//! The catalogue and its stock ledger.

use harness::{Options, Pipeline, uuid};
use serde_json::json;

#[tokio::test]
async fn products_are_created_listed_updated_and_adjusted_with_a_ledger() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let body = json!({ "sku": "TEH-1", "name": "Teh Botol", "price": 6_000, "stock": 24 });
    let created = p.post(&shop.token, "/api/products", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = uuid(&created.body["id"]);
    for key in ["id", "sku", "name", "price", "stock", "isActive", "updatedAt"] {
        assert!(created.body.get(key).is_some(), "Product has {key}");
    }
    let taken = p.post(&shop.token, "/api/products", &body).await;
    assert_eq!((taken.status, taken.code()), (409, "sku_taken"));
    let invalid =
        p.post(&shop.token, "/api/products", &json!({ "sku": "", "name": "x", "price": -1, "stock": 0 })).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.body["error"]["details"]["fields"].as_array().map(Vec::len), Some(2));

    p.post(&shop.token, "/api/products", &json!({ "sku": "KOPI", "name": "Kopi", "price": 2_000, "stock": 0 })).await;
    let found = p.get(&shop.token, "/api/products?search=teh").await;
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1));
    let paged = p.get(&shop.token, "/api/products?limit=1").await;
    assert!(paged.body["nextCursor"].is_string());

    let patched = p
        .call(
            reqwest::Method::PATCH,
            &format!("/api/products/{id}"),
            Some(&shop.token),
            Some(&json!({ "price": 6_500, "isActive": false })),
        )
        .await;
    assert_eq!((patched.body["price"].as_i64(), patched.body["isActive"].as_bool()), (Some(6_500), Some(false)));

    let adjust = format!("/api/products/{id}/stock-adjustments");
    let restocked = p.post(&shop.token, &adjust, &json!({ "delta": 6, "reason": "restock" })).await;
    assert_eq!(restocked.body["stock"], 30);
    let too_much = p.post(&shop.token, &adjust, &json!({ "delta": -31, "reason": "waste" })).await;
    assert_eq!((too_much.status, too_much.code()), (409, "insufficient_stock"));
    let wasted = p.post(&shop.token, &adjust, &json!({ "delta": -4, "reason": "waste" })).await;
    assert_eq!(wasted.body["stock"], 26);

    let movements = p.get(&shop.token, &format!("/api/products/{id}/stock-movements")).await;
    let list = movements.body["data"].as_array().cloned().unwrap_or_default();
    let deltas: Vec<i64> = list.iter().filter_map(|m| m["delta"].as_i64()).collect();
    assert_eq!(deltas, [-4, 6, 24], "newest first");
    assert_eq!(deltas.iter().sum::<i64>(), 26, "the ledger sums to the stock");
    assert_eq!(list[0]["kind"], "adjustment");
    assert_eq!(list[0]["reason"], "waste");
    p.assert_books_balance().await;
    p.stop().await;
}
