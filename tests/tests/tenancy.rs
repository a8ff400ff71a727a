//! One shop never sees or touches another's data: its ids answer 404.

use harness::{Pipeline, order, uuid};
use serde_json::json;

#[tokio::test]
async fn another_tenants_order_and_product_are_not_found_and_cannot_be_cancelled() {
    let p = Pipeline::start().await;
    let (a, b) = (p.tenant().await, p.tenant().await);
    let product = p.product(&a, 4_000, 10).await;
    let placed = p.post(&a.token, "/api/orders?wait=10000", &order(&[(product, 1, 4_000)])).await;
    assert_eq!(placed.status, 201);
    let order_id = uuid(&placed.body["orderId"]);

    for path in [
        format!("/api/orders/{order_id}"),
        format!("/api/products/{product}"),
        format!("/api/products/{product}/stock-movements"),
    ] {
        let reply = p.get(&b.token, &path).await;
        assert_eq!((reply.status, reply.code()), (404, "not_found"), "{path}");
    }
    let cancel = p.post(&b.token, &format!("/api/orders/{order_id}/cancel"), &json!({ "reason": "steal" })).await;
    assert_eq!(cancel.status, 404);
    let adjust = p
        .post(
            &b.token,
            &format!("/api/products/{product}/stock-adjustments"),
            &json!({ "delta": -5, "reason": "waste" }),
        )
        .await;
    assert_eq!(adjust.status, 404);
    let listed = p.get(&b.token, "/api/orders").await;
    assert_eq!(listed.body["data"], json!([]));

    // Selling another shop's product finds no such product.
    let foreign = p.post(&b.token, "/api/orders?wait=10000", &order(&[(product, 1, 4_000)])).await;
    assert_eq!(foreign.body["status"], "rejected");
    assert_eq!(foreign.body["rejection"]["code"], "unknown_product");
    assert_eq!(p.stock(product).await, 9);

    // The tenant header must agree with the token.
    let mismatch = p
        .http
        .get(format!("{}/api/orders", p.base_url))
        .bearer_auth(&a.token)
        .header("X-Tenant-ID", b.id.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(mismatch.status().as_u16(), 403);
    let body: serde_json::Value = mismatch.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "tenant_mismatch", "{body}");
    p.assert_books_balance().await;
    p.stop().await;
}
