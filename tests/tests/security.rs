//! Security, enforced by the server: tokens, roles on every route class,
//! tenants isolated on every route with an id (and in the database itself),
//! hostile input stored as data, body limits, rate limits, headers,
//! maintenance mode, secrets checked at start-up.

use harness::{Options, Pipeline, Tenant, order, uuid};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

const DEV_SECRET: &str = "dev-only-jwt-secret-change-me-0000000000";

fn token(secret: &str, tenant: uuid::Uuid, user: uuid::Uuid, exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": user, "tid": tenant, "role": "owner", "iat": now, "exp": now + exp_offset });
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .unwrap_or_default()
}

#[tokio::test]
async fn tokens_must_be_present_current_ours_and_hs256() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let check = |reply: harness::Reply, why: &str| assert_eq!(reply.status, 401, "{why}: {}", reply.body);
    check(p.call(Method::GET, "/api/products", None, None).await, "no token");
    let expired = token(DEV_SECRET, shop.id, shop.owner_id, -3600);
    let reply = p.get(&expired, "/api/products").await;
    assert_eq!((reply.status, reply.code()), (401, "token_expired"));
    check(
        p.get(&token("someone-elses-secret-key-0123456789abcd", shop.id, shop.owner_id, 600), "/api/products").await,
        "another key",
    );
    // alg: none, with a valid-looking payload and no signature.
    let b64 = |v: Value| base64_url(v.to_string().as_bytes());
    let unsigned = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT" })),
        b64(json!({ "sub": shop.owner_id, "tid": shop.id, "role": "owner", "iat": 0, "exp": 9_999_999_999_i64 }))
    );
    check(p.get(&unsigned, "/api/products").await, "alg none");
    check(p.get("garbage", "/api/products").await, "garbage");
    assert_eq!(
        p.get(&token(DEV_SECRET, shop.id, shop.owner_id, 600), "/api/products").await.status,
        200,
        "a good token works"
    );
    p.stop().await;
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn every_route_class_admits_exactly_the_roles_it_should() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 100).await;
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 1_000)])).await;
    let order_id = placed.body["orderId"].as_str().unwrap_or_default().to_owned();
    let main = p.get(&shop.token, "/api/outlets").await.body["data"][0]["id"].clone();
    let stall = p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak matrix" })).await.body["id"].clone();
    let tokens = [
        ("owner", shop.token.clone()),
        ("admin", p.user(&shop, "admin").await),
        ("supervisor", p.user(&shop, "supervisor").await),
        ("cashier", p.user(&shop, "cashier").await),
    ];
    // (route class, method, path, body, roles allowed)
    let everyone = &["owner", "admin", "supervisor", "cashier"][..];
    let nothing = uuid::Uuid::now_v7();
    let supervisors = &["owner", "admin", "supervisor"][..];
    let managers = &["owner", "admin"][..];
    let routes: Vec<(Method, String, Option<Value>, &[&str])> = vec![
        (Method::POST, "/api/orders".into(), Some(order(&[(product, 1, 1_000)])), everyone),
        (Method::GET, "/api/orders".into(), None, everyone),
        (Method::GET, "/api/products".into(), None, everyone),
        (Method::GET, "/api/discounts".into(), None, everyone),
        (Method::GET, "/api/members".into(), None, everyone),
        (Method::GET, "/api/outlets".into(), None, everyone),
        (Method::GET, format!("/api/outlets/{nothing}"), None, everyone),
        (Method::POST, "/api/outlets".into(), Some(json!({ "name": "Lapak {n}" })), managers),
        (Method::PATCH, format!("/api/outlets/{nothing}"), Some(json!({ "name": "x" })), managers),
        (Method::POST, format!("/api/orders/{order_id}/cancel"), Some(json!({ "reason": "x" })), supervisors),
        (
            Method::POST,
            format!("/api/products/{product}/stock-adjustments"),
            Some(json!({ "delta": 1, "reason": "restock" })),
            supervisors,
        ),
        (Method::GET, format!("/api/products/{product}/stock-movements"), None, supervisors),
        (
            Method::POST,
            "/api/sync/orders".into(),
            Some(json!({ "deviceId": "till-{n}", "orders": [order(&[(product, 1, 1_000)])] })),
            everyone,
        ),
        (Method::GET, "/api/failed-syncs".into(), None, supervisors),
        (Method::GET, "/api/failed-syncs/summary".into(), None, supervisors),
        // Roles are checked before the lookup: allowed roles get 404 for an id that does not exist.
        (Method::POST, format!("/api/failed-syncs/{nothing}/retry"), Some(json!({})), supervisors),
        (Method::POST, format!("/api/failed-syncs/{nothing}/discard"), Some(json!({ "reason": "x" })), supervisors),
        (Method::PATCH, format!("/api/discounts/{nothing}"), Some(json!({ "name": "x" })), managers),
        (Method::DELETE, format!("/api/discounts/{nothing}"), None, managers),
        (Method::PATCH, format!("/api/members/{nothing}"), Some(json!({ "name": "x" })), managers),
        (Method::GET, "/api/reports/daily-sales?date=2026-01-01".into(), None, supervisors),
        (Method::GET, "/api/settings".into(), None, everyone),
        (Method::GET, "/api/audit".into(), None, managers),
        (Method::GET, "/api/devices".into(), None, managers),
        (Method::POST, "/api/devices".into(), Some(json!({ "outletId": main, "name": "Till {n}" })), managers),
        (Method::POST, format!("/api/devices/{nothing}/revoke"), None, managers),
        (Method::GET, "/api/users".into(), None, managers),
        (Method::PATCH, format!("/api/users/{nothing}"), Some(json!({ "name": "x" })), managers),
        (Method::POST, format!("/api/users/{nothing}/password"), Some(json!({ "password": "password-9" })), managers),
        (Method::POST, format!("/api/users/{nothing}/pin"), Some(json!({ "pin": "1234" })), managers),
        (Method::GET, format!("/api/members/{nothing}/personal-data"), None, managers),
        (Method::POST, format!("/api/members/{nothing}/erase"), None, &["owner"][..]),
        (Method::PATCH, "/api/settings".into(), Some(json!({ "receiptPrefix": "WRG" })), managers),
        // A quote creates nothing: every allowed role gets the same answer.
        (
            Method::POST,
            format!("/api/orders/{order_id}/refunds/quote"),
            Some(json!({ "clientRefundId": nothing, "items": [{ "productId": product, "quantity": 1 }] })),
            supervisors,
        ),
        // One refund id for every role: the first allowed call takes it, the others get the same refund.
        (
            Method::POST,
            format!("/api/orders/{order_id}/refunds"),
            Some(json!({ "clientRefundId": nothing, "items": [{ "productId": product, "quantity": 1 }] })),
            supervisors,
        ),
        (Method::GET, format!("/api/orders/{order_id}/refunds"), None, everyone),
        (Method::GET, format!("/api/refunds/{nothing}"), None, everyone),
        // One transfer id for every role, as for refunds.
        (
            Method::POST,
            "/api/stock-transfers".into(),
            Some(json!({ "clientTransferId": nothing, "fromOutletId": main, "toOutletId": stall,
                         "items": [{ "productId": product, "quantity": 1 }] })),
            supervisors,
        ),
        (Method::GET, "/api/stock-transfers".into(), None, supervisors),
        // Each role opens its own shift; the id that does not exist is 404 for every role.
        (Method::POST, "/api/shifts".into(), Some(json!({ "openingFloat": 0 })), everyone),
        (Method::GET, "/api/shifts".into(), None, everyone),
        (Method::GET, format!("/api/shifts/{nothing}"), None, everyone),
        (Method::POST, format!("/api/shifts/{nothing}/close"), Some(json!({ "countedCash": 0 })), everyone),
        (Method::GET, format!("/api/stock-transfers/{nothing}"), None, supervisors),
        (Method::POST, format!("/api/stock-transfers/{nothing}/retry"), Some(json!({})), supervisors),
        (
            Method::POST,
            "/api/products".into(),
            Some(json!({ "sku": "R-{n}", "name": "x", "price": 1, "stock": 0 })),
            managers,
        ),
        (Method::PATCH, format!("/api/products/{product}"), Some(json!({ "name": "renamed" })), managers),
        (
            Method::POST,
            "/api/discounts".into(),
            Some(
                json!({ "name": "d", "type": "amount_based", "valueType": "fixed", "value": 1, "minAmount": 0, "isActive": true }),
            ),
            managers,
        ),
        (
            Method::POST,
            "/api/members".into(),
            Some(json!({ "name": "m", "phone": "0800{n}", "memberCode": "m", "isActive": true })),
            managers,
        ),
        (
            Method::POST,
            "/api/users".into(),
            Some(json!({ "email": "c{n}@x.test", "password": "password-1", "name": "c", "role": "cashier" })),
            managers,
        ),
        (
            Method::POST,
            "/api/users".into(),
            Some(json!({ "email": "a{n}@x.test", "password": "password-1", "name": "a", "role": "admin" })),
            &["owner"][..],
        ),
    ];
    let mut n = 0;
    for (method, path, body, allowed) in &routes {
        for (role, token) in &tokens {
            n += 1;
            let body = body.as_ref().map(|b| {
                serde_json::from_str::<Value>(&b.to_string().replace("{n}", &n.to_string())).unwrap_or_default()
            });
            let reply = p.call(method.clone(), path, Some(token), body.as_ref()).await;
            if allowed.contains(role) {
                let fine = (200..300).contains(&reply.status) || [404, 409].contains(&reply.status);
                assert!(fine, "{role} may {method} {path}: {} {}", reply.status, reply.body);
            } else {
                assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{role} may not {method} {path}");
            }
        }
    }
    // Platform routes answer to the internal key only, whatever the role.
    let tenant = json!({ "name": "x", "slug": "x-by-role", "owner": { "email": "x@role.test", "password": "password-1", "name": "x" } });
    for (role, token) in &tokens {
        for (method, path, body) in [
            (Method::POST, "/api/admin/tenants", tenant.clone()),
            (Method::PUT, "/api/admin/maintenance", json!({ "enabled": true })),
        ] {
            let reply = p.call(method.clone(), path, Some(token), Some(&body)).await;
            assert_eq!(reply.status, 401, "{role} may not {method} {path}: {}", reply.body);
        }
    }
    p.stop().await;
}

/// Everything tenant A owns that has an id, and the routes that name it.
async fn a_shop_with_one_of_everything(p: &Pipeline, shop: &Tenant) -> Vec<(Method, String, Option<Value>)> {
    let product = p.product(shop, 1_000, 1).await;
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 1_000)])).await;
    let order_id = placed.body["orderId"].as_str().unwrap_or_default().to_owned();
    let synced = p
        .post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "t", "orders": [order(&[(product, 5, 1_000)])] }))
        .await;
    let batch = synced.body["batchId"].as_str().unwrap_or_default().to_owned();
    p.settled(uuid(&synced.body["results"][0]["orderId"])).await;
    let failed: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM failed_syncs LIMIT 1").fetch_one(&p.db).await.expect("a failed sync");
    let discount = p.post(&shop.token, "/api/discounts", &json!({ "name": "d", "type": "amount_based", "valueType": "fixed", "value": 1, "minAmount": 0, "isActive": true })).await;
    let discount = discount.body["id"].as_str().unwrap_or_default().to_owned();
    let member = p
        .post(
            &shop.token,
            "/api/members",
            &json!({ "name": "m", "phone": "0811", "memberCode": "m", "isActive": true }),
        )
        .await;
    let member = member.body["id"].as_str().unwrap_or_default().to_owned();
    let outlet = p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak Pasar" })).await;
    let outlet = outlet.body["id"].as_str().unwrap_or_default().to_owned();
    let main = p.get(&shop.token, "/api/outlets").await.body["data"][0]["id"].clone();
    // More than there is: it fails, so a retry by another shop would be taken.
    let transfer = json!({ "clientTransferId": uuid::Uuid::now_v7(), "fromOutletId": main, "toOutletId": outlet,
                           "items": [{ "productId": product, "quantity": 10_000 }] });
    let transfer = p.post(&shop.token, "/api/stock-transfers", &transfer).await.body["transferId"].clone();
    let transfer = transfer.as_str().unwrap_or_default().to_owned();
    harness::eventually("the transfer to fail", std::time::Duration::from_secs(30), || async {
        let shown = p.get(&shop.token, &format!("/api/stock-transfers/{transfer}")).await;
        (shown.body["status"] == "failed").then_some(())
    })
    .await;
    let till =
        p.post(&shop.token, "/api/devices", &json!({ "outletId": main, "name": "Kasir" })).await.body["id"].clone();
    let till = till.as_str().unwrap_or_default().to_owned();
    let person = json!({ "email": format!("kasir@{}.test", shop.slug), "password": "password-1", "name": "k", "role": "cashier" });
    let person = p.post(&shop.token, "/api/users", &person).await.body["id"].clone();
    let person = person.as_str().unwrap_or_default().to_owned();
    let shift = p.post(&shop.token, "/api/shifts", &json!({ "openingFloat": 50_000 })).await.body["shiftId"].clone();
    let shift = shift.as_str().unwrap_or_default().to_owned();
    let refund = json!({ "clientRefundId": uuid::Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }] });
    // Waited for, so its commit (stock back) is not taken for B's doing.
    let refunded = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds?wait=10000"), &refund).await;
    assert_eq!(refunded.body["status"], "committed", "{}", refunded.body);
    let refund_id = refunded.body["refundId"].as_str().unwrap_or_default().to_owned();
    vec![
        (Method::POST, format!("/api/orders/{order_id}/refunds/quote"), Some(refund.clone())),
        (Method::POST, format!("/api/orders/{order_id}/refunds"), Some(refund)),
        (Method::GET, format!("/api/orders/{order_id}/refunds"), None),
        (Method::GET, format!("/api/refunds/{refund_id}"), None),
        (Method::GET, format!("/api/orders/{order_id}"), None),
        (Method::POST, format!("/api/orders/{order_id}/cancel"), Some(json!({ "reason": "x" }))),
        (Method::GET, format!("/api/products/{product}"), None),
        (Method::PATCH, format!("/api/products/{product}"), Some(json!({ "price": 1 }))),
        (Method::GET, format!("/api/products/{product}/stock-movements"), None),
        (
            Method::POST,
            format!("/api/products/{product}/stock-adjustments"),
            Some(json!({ "delta": 5, "reason": "restock" })),
        ),
        (Method::GET, format!("/api/sync/batches/{batch}"), None),
        (Method::GET, format!("/api/failed-syncs/{failed}"), None),
        (Method::POST, format!("/api/failed-syncs/{failed}/retry"), Some(json!({}))),
        (Method::POST, format!("/api/failed-syncs/{failed}/discard"), Some(json!({ "reason": "x" }))),
        (Method::GET, format!("/api/discounts/{discount}"), None),
        (Method::PATCH, format!("/api/discounts/{discount}"), Some(json!({ "name": "stolen" }))),
        (Method::DELETE, format!("/api/discounts/{discount}"), None),
        (Method::GET, format!("/api/members/{member}"), None),
        (Method::PATCH, format!("/api/members/{member}"), Some(json!({ "name": "stolen" }))),
        (Method::GET, format!("/api/outlets/{outlet}"), None),
        (Method::PATCH, format!("/api/outlets/{outlet}"), Some(json!({ "name": "stolen" }))),
        (Method::GET, format!("/api/stock-transfers/{transfer}"), None),
        (Method::GET, format!("/api/shifts/{shift}"), None),
        (
            Method::POST,
            format!("/api/shifts/{shift}/cash-movements"),
            Some(json!({ "kind": "pay_in", "amount": 1, "reason": "x" })),
        ),
        (Method::POST, format!("/api/shifts/{shift}/close"), Some(json!({ "countedCash": 0 }))),
        (Method::POST, format!("/api/stock-transfers/{transfer}/retry"), Some(json!({}))),
        (Method::POST, format!("/api/devices/{till}/revoke"), None),
        (Method::PATCH, format!("/api/users/{person}"), Some(json!({ "isActive": false }))),
        (Method::POST, format!("/api/users/{person}/password"), Some(json!({ "password": "password-stolen" }))),
        (Method::POST, format!("/api/users/{person}/pin"), Some(json!({ "pin": "0000" }))),
        (Method::GET, format!("/api/members/{member}/personal-data"), None),
        (Method::POST, format!("/api/members/{member}/erase"), None),
    ]
}

/// Every row another shop's requests could have touched, as text.
const SHOP_SNAPSHOT: &str = "SELECT to_jsonb(array_agg(t ORDER BY t)) FROM (SELECT updated_at::text FROM products UNION ALL SELECT status FROM failed_syncs UNION ALL SELECT name FROM discount_rules UNION ALL SELECT name FROM members UNION ALL SELECT id::text FROM refunds UNION ALL SELECT name FROM outlets WHERE NOT is_default UNION ALL SELECT outlet_id || ' ' || product_id || ' ' || stock FROM outlet_stock UNION ALL SELECT id || ' ' || status || ' ' || failures FROM stock_transfers UNION ALL SELECT id || ' ' || status FROM cash_shifts UNION ALL SELECT id::text FROM cash_movements UNION ALL SELECT id || ' ' || (revoked_at IS NULL) FROM devices UNION ALL SELECT id || ' ' || is_active || ' ' || token_version || ' ' || password_hash || ' ' || coalesce(pin_hash, '') FROM users UNION ALL SELECT name || phone FROM members) t(t)";

#[tokio::test]
async fn another_tenant_gets_404_on_every_route_with_an_id_and_changes_nothing() {
    let p = Pipeline::start().await;
    let (a, b) = (p.tenant().await, p.tenant().await);
    let routes = a_shop_with_one_of_everything(&p, &a).await;
    let before: Value = sqlx::query_scalar(SHOP_SNAPSHOT).fetch_one(&p.db).await.expect("snapshot");
    let settings_before = p.get(&a.token, "/api/settings").await.body;
    for (method, path, body) in &routes {
        let reply = p.call(method.clone(), path, Some(&b.token), body.as_ref()).await;
        assert_eq!((reply.status, reply.code()), (404, "not_found"), "{method} {path}: {}", reply.body);
    }
    // Settings have no id: B's change is B's alone.
    let patched = p
        .call(
            Method::PATCH,
            "/api/settings",
            Some(&b.token),
            Some(&json!({ "taxMode": "exclusive", "taxRateBp": 1100 })),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(p.get(&a.token, "/api/settings").await.body, settings_before, "A's settings are unchanged");
    let after: Value = sqlx::query_scalar(SHOP_SNAPSHOT).fetch_one(&p.db).await.expect("snapshot");
    assert_eq!(before, after, "nothing of tenant A changed");
    p.stop().await;
}

#[tokio::test]
async fn an_unfiltered_select_through_the_services_role_sees_only_the_tenant_it_set() {
    let p = Pipeline::start().await;
    let (a, b) = (p.tenant().await, p.tenant().await);
    for shop in [&a, &b] {
        let product = p.product(shop, 1_000, 10).await;
        for _ in 0..3 {
            p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 1_000)])).await;
        }
    }
    let url = harness::db::url_as(p.database_name(), &harness::db::app_userinfo()).expect("url");
    let mut app = sqlx::PgConnection::connect(&url).await.expect("connect as warungin_app");
    let mut tx = app.begin().await.expect("begin");
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true)")
        .bind(format!("{{{}}}", a.id))
        .execute(&mut *tx)
        .await
        .expect("set tenant");
    let rows: Vec<(uuid::Uuid,)> =
        sqlx::query_as("SELECT tenant_id FROM orders").fetch_all(&mut *tx).await.expect("unfiltered select");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(tenant,)| *tenant == a.id), "only tenant A's rows");
    tx.rollback().await.expect("rollback");
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM orders").fetch_one(&mut app).await.expect("no tenant set");
    assert_eq!(none, 0, "no tenant set: nothing");
    let write = sqlx::query("UPDATE products SET price = 1").execute(&mut app).await.expect("update");
    assert_eq!(write.rows_affected(), 0, "writes are fenced too");
    let platform = harness::db::url_as(p.database_name(), &harness::db::platform_userinfo()).expect("url");
    let everyone: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut sqlx::PgConnection::connect(&platform).await.expect("platform"))
        .await
        .expect("count");
    assert_eq!(everyone, 6, "the operators' role sees every tenant, by its own policy");
    p.stop().await;
}

#[tokio::test]
async fn hostile_strings_are_stored_and_returned_verbatim_and_bad_bodies_are_refused() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let names = [
        "Robert'); DROP TABLE products;--",
        "<script>alert('x')</script>",
        "' OR '1'='1",
        "kopi \u{0000}? no: kopi ☕ \"susu\"",
    ];
    for (i, name) in names.iter().enumerate() {
        let name = name.replace('\u{0000}', "");
        let created = p
            .post(
                &shop.token,
                "/api/products",
                &json!({ "sku": format!("H-{i}"), "name": name, "price": 1, "stock": 0 }),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let shown =
            p.get(&shop.token, &format!("/api/products/{}", created.body["id"].as_str().unwrap_or_default())).await;
        assert_eq!(shown.body["name"], name, "returned verbatim");
        let searched = p.get(&shop.token, &format!("/api/products?search={}", urlencode(&name))).await;
        assert_eq!(searched.body["data"][0]["name"], name);
    }
    assert_eq!(p.count("SELECT count(*) FROM products").await, 4, "the table is still there");
    let nested = format!("{}{}", "[".repeat(40), "]".repeat(40));
    let deep = p
        .http
        .post(format!("{}/api/orders", p.base_url))
        .bearer_auth(&shop.token)
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .expect("request");
    assert_eq!(deep.status().as_u16(), 400, "deeply nested bodies are refused");
    let deep: Value = deep.json().await.unwrap_or_default();
    assert_eq!(deep["error"]["code"], "malformed_json");
    let message = deep["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("levels deep"), "refused for its depth, before any field is read: {message}");
    let big = format!("{{\"deviceId\": \"{}\"}}", "x".repeat(2_200_000));
    let too_big = p
        .http
        .post(format!("{}/api/sync/orders", p.base_url))
        .bearer_auth(&shop.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("request");
    assert_eq!(too_big.status().as_u16(), 413);
    let unknown = p
        .post(
            &shop.token,
            "/api/products",
            &json!({ "sku": "U", "name": "u", "price": 1, "stock": 0, "isAdmin": true }),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (422, "validation_failed"));
    p.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Fixed one-minute windows: start a rate-limit test with at least 25 s of window left.
async fn fresh_window() {
    let into = chrono::Utc::now().timestamp() % 60;
    if into > 35 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(61 - into).unwrap_or(0))).await;
    }
}

#[tokio::test]
async fn failed_logins_and_orders_are_rate_limited_without_touching_others() {
    let options = Options::default()
        .with_env("TRUSTED_PROXIES", "127.0.0.1/32")
        .with_env("RATE_LIMIT_USER_WRITES_PER_MIN", "100")
        .with_env("RATE_LIMIT_TENANT_WRITES_PER_MIN", "6000");
    let p = Pipeline::start_with(options).await;
    let (shop, other) = (p.tenant().await, p.tenant().await);
    let product = p.product(&shop, 1_000, 1_000).await;
    let other_product = p.product(&other, 1_000, 10).await;
    fresh_window().await;
    let login = |email: String, ip: &'static str| {
        let request = p
            .http
            .post(format!("{}/api/auth/login", p.base_url))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email, "password": "wrong-password" }));
        async move { request.send().await.expect("login") }
    };
    for i in 0..10 {
        assert_eq!(login(format!("nobody{i}@x.test"), "198.51.100.1").await.status().as_u16(), 401);
    }
    let eleventh = login("nobody-else@x.test".into(), "198.51.100.1").await;
    assert_eq!(eleventh.status().as_u16(), 429, "the 11th failed login from one address");
    assert!(eleventh.headers().contains_key("retry-after"));
    assert_eq!(eleventh.headers().get("ratelimit-limit").and_then(|v| v.to_str().ok()), Some("10"));
    let account = format!("owner@{}.test", shop.slug);
    for i in 0..10 {
        let ip: &'static str = Box::leak(format!("203.0.113.{i}").into_boxed_str());
        assert_eq!(login(account.clone(), ip).await.status().as_u16(), 401);
    }
    assert_eq!(
        login(account.clone(), "203.0.113.99").await.status().as_u16(),
        429,
        "the 11th failed login against one account"
    );
    let fine = p
        .http
        .post(format!("{}/api/auth/login", p.base_url))
        .header("x-forwarded-for", "192.0.2.55")
        .json(&json!({ "email": format!("owner@{}.test", other.slug), "password": "owner-pass-123" }))
        .send()
        .await
        .expect("login");
    assert_eq!(fine.status().as_u16(), 200, "others sign in as usual");

    for i in 0..100 {
        let reply = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
        assert_eq!(reply.status, 202, "order {i}: {}", reply.body);
    }
    let limited = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"), "the 101st order from one user");
    assert!(limited.headers.contains_key("retry-after") && limited.headers.contains_key("ratelimit-reset"));
    let elsewhere = p.post(&other.token, "/api/orders", &order(&[(other_product, 1, 1_000)])).await;
    assert_eq!(elsewhere.status, 202, "another user of another tenant, same address, is not limited");
    p.stop().await;
}

#[tokio::test]
async fn security_headers_are_on_success_and_error_responses() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    for reply in [
        p.get(&shop.token, "/api/products").await,
        p.get(&shop.token, "/api/orders/nope").await,
        p.call(Method::GET, "/api/products", None, None).await,
    ] {
        for header in [
            "content-security-policy",
            "x-frame-options",
            "x-content-type-options",
            "strict-transport-security",
            "referrer-policy",
            "x-request-id",
        ] {
            assert!(reply.headers.contains_key(header), "{header} on a {} response", reply.status);
        }
        assert_eq!(reply.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("SAMEORIGIN"));
        assert_eq!(reply.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
        assert_eq!(
            reply.headers.get("strict-transport-security").and_then(|v| v.to_str().ok()),
            Some("max-age=31536000; includeSubDomains")
        );
        let csp = reply.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(csp.contains("default-src") && !csp.contains("unsafe-inline"), "a restrictive CSP: {csp}");
        assert!(!reply.headers.contains_key("access-control-allow-origin"), "no CORS unless configured");
    }
    p.stop().await;
}

#[tokio::test]
async fn maintenance_mode_stops_writes_on_every_replica_and_keeps_reads() {
    let p = Pipeline::start().await;
    let replica = p.spawn_ingest_process("replica", &[], None).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 100).await;
    let switch = |enabled: bool| {
        let request = p
            .http
            .put(format!("{}/api/admin/maintenance", p.base_url))
            .header("X-Internal-Api-Key", &p.internal_key)
            .json(&json!({ "enabled": enabled, "message": "stock take until 10:00" }));
        async move { request.send().await.expect("switch") }
    };
    let queued = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    assert_eq!(switch(true).await.status().as_u16(), 200);
    // A replica reads the switch every FOLLOW_EVERY; three of those leave room
    // for a read that a loaded machine delays.
    let bound = ingest::http::middleware::maintenance::FOLLOW_EVERY * 3;
    let started = std::time::Instant::now();
    harness::eventually("the replica to follow", bound, || async {
        let reply = p
            .http
            .post(format!("{}/api/orders", replica.base_url))
            .bearer_auth(&shop.token)
            .json(&order(&[(product, 1, 1_000)]))
            .send()
            .await
            .ok()?;
        (reply.status().as_u16() == 503).then_some(())
    })
    .await;
    assert!(started.elapsed() < bound, "every replica obeys within {bound:?}");
    let refused = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    assert_eq!((refused.status, refused.code()), (503, "maintenance"));
    assert_eq!(refused.body["error"]["message"], "stock take until 10:00");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(p.get(&shop.token, "/api/products").await.status, 200, "reads keep working");
    assert_eq!(p.settled(uuid(&queued.body["orderId"])).await, "committed", "workers keep draining");
    assert_eq!(switch(false).await.status().as_u16(), 200);
    assert_eq!(p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await.status, 202);
    p.stop().await;
}

#[tokio::test]
async fn production_refuses_to_start_with_a_weak_secret_and_says_which() {
    let mut command = tokio::process::Command::new(harness::binary("ingest"));
    command.env_clear();
    // Under scripts/coverage the instrumented ingest writes its profile
    // there (else it would land in tests/, uncounted).
    if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
        command.env("LLVM_PROFILE_FILE", profile);
    }
    let output = command
        .env("APP_ENV", "production")
        .env("JWT_SECRET", "too-short")
        .env("JWT_REFRESH_SECRET", "r".repeat(40))
        .env("INTERNAL_API_KEY", "k".repeat(40))
        .output()
        .await
        .expect("run ingest");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET"), "names the variable: {stderr}");
    assert!(!stderr.contains("too-short"), "never prints the secret: {stderr}");
}

#[tokio::test]
async fn every_operation_in_the_openapi_document_exists() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let spec = p.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(spec.status, 200);
    let paths = spec.body["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 26);
    for (path, operations) in paths {
        for method in operations.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let reply = p.call(method.clone(), &concrete, Some(&shop.token), None).await;
            assert_ne!(reply.status, 405, "{method} {path} is routed");
            let missing_route = reply.status == 404 && reply.body["error"]["message"] == "route not found";
            assert!(!missing_route, "{method} {path} is routed");
        }
    }
    p.stop().await;
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_valid_token_counts_against_the_address() {
    let options =
        Options::workers(0).with_env("TRUSTED_PROXIES", "127.0.0.1/32").with_env("RATE_LIMIT_IP_PER_MIN", "100");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    fresh_window().await;
    let bogus = |path: &'static str| {
        let request = p
            .http
            .get(format!("{}{path}", p.base_url))
            .header("authorization", "x")
            .header("x-forwarded-for", "198.51.100.77");
        async move { request.send().await.expect("request").status().as_u16() }
    };
    let mut statuses = Vec::with_capacity(2_000);
    for wave in 0..100 {
        let path = ["/livez", "/api/health", "/api/products", "/api/orders"][wave % 4];
        statuses.extend(futures::future::join_all((0..20).map(|_| bogus(path))).await);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let through = statuses.len() - limited;
    // A window may roll over once during the run: at most twice the limit gets through.
    assert!(limited > 0 && through <= 200, "2,000 bogus-token requests: {through} got through, {limited} got 429");
    let verified = p
        .http
        .get(format!("{}/api/products", p.base_url))
        .bearer_auth(&shop.token)
        .header("x-forwarded-for", "198.51.100.77")
        .send()
        .await
        .expect("request");
    assert_eq!(verified.status().as_u16(), 200, "a verified token is limited per user, not per address");
    p.stop().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_reach_verification_at_most_the_limit() {
    let options = Options::workers(0)
        .with_env("TRUSTED_PROXIES", "127.0.0.1/32")
        .with_env("RATE_LIMIT_LOGIN_FAILURES_PER_MIN", "5");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    fresh_window().await;
    let guess = |i: usize| {
        let request = p
            .http
            .post(format!("{}/api/auth/login", p.base_url))
            .header("x-forwarded-for", format!("203.0.113.{}", i % 250))
            .json(&json!({ "email": format!("owner@{}.test", shop.slug), "password": format!("guess-{i}") }));
        async move { request.send().await.expect("login").status().as_u16() }
    };
    let statuses = futures::future::join_all((0..50).map(guess)).await;
    let (wrong, limited) =
        (statuses.iter().filter(|s| **s == 401).count(), statuses.iter().filter(|s| **s == 429).count());
    assert!(
        wrong <= 5 && wrong + limited == 50,
        "50 parallel guesses at one account, limit 5: {wrong} answered 401 (verified), {limited} answered 429"
    );
    p.stop().await;
}
