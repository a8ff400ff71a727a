//! Bad input gets the contract's status and error code, and nothing is queued.

use harness::{Options, Pipeline, order};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

#[tokio::test]
async fn bad_orders_get_the_right_status_and_code_and_nothing_is_queued() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    let valid = order(&[(product, 1, 1_000)]);
    let with = |path: &str, value: Value| {
        let mut body = valid.clone();
        if let Some(slot) = body.pointer_mut(path) {
            *slot = value;
        }
        serde_json::to_vec(&body).unwrap_or_default()
    };
    let mut unknown = valid.clone();
    unknown["discout"] = json!(100);
    let cases = vec![
        Case {
            name: "not JSON",
            content_type: "application/json",
            body: b"{\"items\": [".to_vec(),
            status: 400,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "wrong type",
            content_type: "application/json",
            body: with("/items/0/quantity", json!("two")),
            status: 400,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "unknown field",
            content_type: "application/json",
            body: serde_json::to_vec(&unknown).unwrap_or_default(),
            status: 422,
            code: "validation_failed",
            field: Some("discout"),
        },
        Case {
            name: "empty items",
            content_type: "application/json",
            body: with("/items", json!([])),
            status: 422,
            code: "validation_failed",
            field: Some("items"),
        },
        Case {
            name: "zero quantity",
            content_type: "application/json",
            body: with("/items/0/quantity", json!(0)),
            status: 422,
            code: "validation_failed",
            field: Some("items[0].quantity"),
        },
        Case {
            name: "negative quantity",
            content_type: "application/json",
            body: with("/items/0/quantity", json!(-3)),
            status: 422,
            code: "validation_failed",
            field: Some("items[0].quantity"),
        },
        Case {
            name: "negative price",
            content_type: "application/json",
            body: with("/items/0/price", json!(-1)),
            status: 422,
            code: "validation_failed",
            field: Some("items[0].price"),
        },
        Case {
            name: "missing payment",
            content_type: "application/json",
            body: with("/payment", Value::Null),
            status: 422,
            code: "validation_failed",
            field: Some("payment"),
        },
        Case {
            name: "not JSON content type",
            content_type: "text/plain",
            body: serde_json::to_vec(&valid).unwrap_or_default(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
        },
        Case {
            name: "oversized body",
            content_type: "application/json",
            body: format!("{{\"notes\": \"{}\"}}", "x".repeat(1_100_000)).into_bytes(),
            status: 413,
            code: "payload_too_large",
            field: None,
        },
    ];
    for case in cases {
        let response = p
            .http
            .post(format!("{}/api/orders", p.base_url))
            .bearer_auth(&shop.token)
            .header(CONTENT_TYPE, case.content_type)
            .header("X-Request-Id", format!("case-{}", case.name.replace(' ', "-")))
            .body(case.body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let echoed = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.name);
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}: a message a person can act on",
            case.name
        );
        assert_eq!(
            body["error"]["requestId"].as_str(),
            echoed.as_deref(),
            "{}: the request id is in the body",
            case.name
        );
        if let Some(field) = case.field {
            let fields = body["error"]["details"]["fields"].as_array().cloned().unwrap_or_default();
            assert!(fields.iter().any(|f| f["field"] == field), "{}: names {field}: {body}", case.name);
        }
    }

    let no_token = p.call(reqwest::Method::POST, "/api/orders", None, Some(&valid)).await;
    assert_eq!((no_token.status, no_token.code()), (401, "unauthorized"));
    let bad_token = p.post("not.a.jwt", "/api/orders", &valid).await;
    assert_eq!((bad_token.status, bad_token.code()), (401, "invalid_token"));
    let not_found = p.get(&shop.token, "/api/orders/not-a-uuid").await;
    assert_eq!(not_found.status, 404);
    let no_route = p.get(&shop.token, "/api/nothing-here").await;
    assert_eq!((no_route.status, no_route.code()), (404, "not_found"));

    assert_eq!(p.count("SELECT count(*) FROM orders").await, 0, "nothing was admitted");
    assert_eq!(p.broker.total_ready().await.ok(), Some(0), "nothing was queued");
    p.stop().await;
}
