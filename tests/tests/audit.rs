//! The audit trail: every change a person makes leaves exactly one row with
//! actor, time, client address, request id and before/after, read through
//! `GET /api/audit`; a resend of the same request leaves none; the
//! services' role can add and read rows, never change or delete them.

use harness::{Pipeline, Tenant, eventually, order, uuid};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use std::time::Duration;
use uuid::Uuid;

/// The audit rows of one entity, oldest first.
async fn trail(p: &Pipeline, shop: &Tenant, entity: &str, id: impl std::fmt::Display) -> Vec<Value> {
    let reply = p.get(&shop.token, &format!("/api/audit?entity={entity}&entityId={id}&limit=500")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut rows = reply.body["data"].as_array().cloned().unwrap_or_default();
    rows.reverse();
    rows
}

/// Exactly one row of `action`, made by `actor`, with the given before/after presence.
fn one(rows: &[Value], action: &str, actor: Uuid, before: bool, after: bool) -> Value {
    let found: Vec<&Value> = rows.iter().filter(|r| r["action"] == action).collect();
    assert_eq!(found.len(), 1, "one {action} row: {rows:#?}");
    let row = found[0].clone();
    assert_eq!(uuid(&row["actorUserId"]), actor, "{row}");
    assert_eq!(!row["before"].is_null(), before, "{action} before: {row}");
    assert_eq!(!row["after"].is_null(), after, "{action} after: {row}");
    assert!(row["requestId"].as_str().is_some_and(|r| !r.is_empty()), "{row}");
    assert!(row["clientAddr"].as_str().is_some_and(|a| a.starts_with("127.")), "{row}");
    row
}

async fn patch(p: &Pipeline, token: &str, path: &str, body: Value) -> harness::Reply {
    p.call(Method::PATCH, path, Some(token), Some(&body)).await
}

#[tokio::test]
async fn every_change_a_person_makes_leaves_exactly_one_audit_row_with_before_and_after() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let me = shop.owner_id;
    let outlets = p.get(&shop.token, "/api/outlets").await.body;
    let default = uuid(&outlets["data"][0]["id"]);

    // Settings, products and prices, stock.
    assert_eq!(patch(&p, &shop.token, "/api/settings", json!({ "taxRateBp": 1100 })).await.status, 200);
    let row = one(&trail(&p, &shop, "settings", shop.id).await, "update", me, true, true);
    assert_ne!(row["before"], row["after"]);
    let product = p.product(&shop, 10_000, 50).await;
    assert_eq!(
        patch(&p, &shop.token, &format!("/api/products/{product}"), json!({ "price": 12_000 })).await.status,
        200
    );
    let rows = trail(&p, &shop, "product", product).await;
    one(&rows, "create", me, false, true);
    let row = one(&rows, "update", me, true, true);
    assert_eq!((row["before"]["price"].as_i64(), row["after"]["price"].as_i64()), (Some(10_000), Some(12_000)));
    let adjust = json!({ "delta": 5, "reason": "restock" });
    assert_eq!(p.post(&shop.token, &format!("/api/products/{product}/stock-adjustments"), &adjust).await.status, 200);
    let row = one(&trail(&p, &shop, "stock_adjustment", product).await, "adjust", me, true, true);
    assert_eq!((row["before"]["stock"].as_i64(), row["after"]["stock"].as_i64()), (Some(50), Some(55)));

    // Discounts, members, outlets, people, tills.
    let rule = json!({ "name": "Hemat", "type": "amount_based", "minAmount": 100_000, "valueType": "fixed", "value": 1_000, "isActive": true });
    let discount = uuid(&p.post(&shop.token, "/api/discounts", &rule).await.body["id"]);
    assert_eq!(
        patch(&p, &shop.token, &format!("/api/discounts/{discount}"), json!({ "isActive": false })).await.status,
        200
    );
    assert_eq!(
        p.call(Method::DELETE, &format!("/api/discounts/{discount}"), Some(&shop.token), None).await.status,
        204
    );
    let rows = trail(&p, &shop, "discount", discount).await;
    one(&rows, "create", me, false, true);
    one(&rows, "update", me, true, true);
    one(&rows, "delete", me, true, false);
    let member = json!({ "name": "Bu Tini", "phone": "081200000001", "memberCode": "M-1", "isActive": true });
    let member = uuid(&p.post(&shop.token, "/api/members", &member).await.body["id"]);
    assert_eq!(
        patch(&p, &shop.token, &format!("/api/members/{member}"), json!({ "memberCode": "M-2" })).await.status,
        200
    );
    let rows = trail(&p, &shop, "member", member).await;
    one(&rows, "create", me, false, true);
    one(&rows, "update", me, true, true);
    let stall = uuid(&p.post(&shop.token, "/api/outlets", &json!({ "name": "Lapak pasar" })).await.body["id"]);
    assert_eq!(
        patch(&p, &shop.token, &format!("/api/outlets/{stall}"), json!({ "address": "Jl. Pasar 1" })).await.status,
        200
    );
    let rows = trail(&p, &shop, "outlet", stall).await;
    one(&rows, "create", me, false, true);
    one(&rows, "update", me, true, true);
    let person = json!({ "email": format!("kasir@{}.test", shop.slug), "password": "user-pass-123", "name": "Kasir", "role": "cashier" });
    let person = uuid(&p.post(&shop.token, "/api/users", &person).await.body["id"]);
    assert_eq!(
        patch(&p, &shop.token, &format!("/api/users/{person}"), json!({ "role": "supervisor" })).await.status,
        200
    );
    assert_eq!(
        p.post(&shop.token, &format!("/api/users/{person}/password"), &json!({ "password": "new-pass-456" }))
            .await
            .status,
        204
    );
    assert_eq!(p.post(&shop.token, &format!("/api/users/{person}/pin"), &json!({ "pin": "8642" })).await.status, 204);
    let rows = trail(&p, &shop, "user", person).await;
    one(&rows, "create", me, false, true);
    let row = one(&rows, "update", me, true, true);
    assert_eq!((row["before"]["role"].as_str(), row["after"]["role"].as_str()), (Some("cashier"), Some("supervisor")));
    one(&rows, "reset_password", me, true, true);
    let row = one(&rows, "set_pin", me, true, true);
    assert_eq!((row["before"]["hasPin"].as_bool(), row["after"]["hasPin"].as_bool()), (Some(false), Some(true)));
    assert!(!rows.iter().any(|r| r.to_string().contains("argon2")), "no hash is ever recorded: {rows:?}");
    let till = p.post(&shop.token, "/api/devices", &json!({ "outletId": default, "name": "Kasir 1" })).await.body;
    let till_id = uuid(&till["id"]);
    assert_eq!(
        p.call(Method::POST, &format!("/api/devices/{till_id}/revoke"), Some(&shop.token), None).await.status,
        200
    );
    assert_eq!(
        p.call(Method::POST, &format!("/api/devices/{till_id}/revoke"), Some(&shop.token), None).await.status,
        200
    );
    let rows = trail(&p, &shop, "device", till_id).await;
    one(&rows, "register", me, false, true);
    one(&rows, "revoke", me, true, true);
    assert!(!rows.iter().any(|r| r.to_string().contains(till["secret"].as_str().unwrap_or("?"))));

    // Transfers (a resend is the same transfer and no new row), a failed one retried.
    let moving = json!({ "clientTransferId": Uuid::now_v7(), "fromOutletId": default, "toOutletId": stall,
                         "items": [{ "productId": product, "quantity": 500 }] });
    let sent = p.post(&shop.token, "/api/stock-transfers", &moving).await;
    let transfer = uuid(&sent.body["transferId"]);
    p.post(&shop.token, "/api/stock-transfers", &moving).await;
    eventually("the too-large transfer to fail", Duration::from_secs(20), || async {
        let view = p.get(&shop.token, &format!("/api/stock-transfers/{transfer}")).await;
        (view.body["status"] == "failed").then_some(())
    })
    .await;
    assert_eq!(p.post(&shop.token, &format!("/api/stock-transfers/{transfer}/retry"), &json!({})).await.status, 202);
    let rows = trail(&p, &shop, "stock_transfer", transfer).await;
    one(&rows, "create", me, false, true);
    one(&rows, "retry", me, true, true);

    // A sale, its cancel; another sale, its refund (resent: one row).
    let sold = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 12_000)])).await;
    let cancelled = uuid(&sold.body["orderId"]);
    assert_eq!(
        p.post(&shop.token, &format!("/api/orders/{cancelled}/cancel"), &json!({ "reason": "salah" })).await.status,
        202
    );
    one(&trail(&p, &shop, "order", cancelled).await, "cancel", me, true, true);
    let sold = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 2, 12_000)])).await;
    let refunded = uuid(&sold.body["orderId"]);
    let refund = json!({ "clientRefundId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }] });
    let first = p.post(&shop.token, &format!("/api/orders/{refunded}/refunds?wait=10000"), &refund).await;
    p.post(&shop.token, &format!("/api/orders/{refunded}/refunds"), &refund).await;
    one(&trail(&p, &shop, "refund", uuid(&first.body["refundId"])).await, "refund", me, true, true);

    // Failed syncs: one retried, one discarded, by the API; one discarded and one replayed by the operator CLI.
    let scarce = p.product(&shop, 5_000, 0).await;
    let short = || order(&[(scarce, 1, 5_000)]);
    let synced = p
        .post(
            &shop.token,
            "/api/sync/orders",
            &json!({ "deviceId": "t", "orders": [short(), short(), short(), short()] }),
        )
        .await;
    let orders: Vec<Uuid> =
        synced.body["results"].as_array().into_iter().flatten().map(|r| uuid(&r["orderId"])).collect();
    let failed: Vec<Uuid> = eventually("four failed syncs", Duration::from_secs(20), || async {
        let ids: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = ANY($1) ORDER BY order_id")
                .bind(&orders)
                .fetch_all(&p.db)
                .await
                .ok()?;
        (ids.len() == 4).then_some(ids)
    })
    .await;
    assert_eq!(p.post(&shop.token, &format!("/api/failed-syncs/{}/retry", failed[0]), &json!({})).await.status, 202);
    assert_eq!(
        p.post(&shop.token, &format!("/api/failed-syncs/{}/discard", failed[1]), &json!({ "reason": "rusak" }))
            .await
            .status,
        200
    );
    one(&trail(&p, &shop, "failed_sync", failed[0]).await, "retry", me, true, true);
    one(&trail(&p, &shop, "failed_sync", failed[1]).await, "discard", me, true, true);
    let (ok, out, _) = p.cli(&["dlq", "discard", &failed[2].to_string(), "--reason", "operator"]).await;
    assert!(ok, "{out}");
    let rows = trail(&p, &shop, "failed_sync", failed[2]).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["actor"].as_str(), rows[0]["action"].as_str()),
        (Some("operator:test-operator"), Some("discard"))
    );
    assert_eq!(rows[0]["after"]["status"], "discarded");
    let (ok, out, _) = p.cli(&["dlq", "replay", &failed[3].to_string()]).await;
    assert!(ok, "{out}");
    let rows = trail(&p, &shop, "failed_sync", failed[3]).await;
    assert_eq!(
        (rows.len(), rows[0]["actor"].as_str(), rows[0]["action"].as_str()),
        (1, Some("operator:test-operator"), Some("retry"))
    );
    let (ok, shown, _) = p.cli(&["dlq", "show", &failed[1].to_string()]).await;
    assert!(
        ok && shown.contains("\"audit:discard\"") && shown.contains(&format!("owner@{}.test", shop.slug)),
        "{shown}"
    );

    // A shift: open, a pay-out, close.
    let shift = uuid(&p.post(&shop.token, "/api/shifts", &json!({ "openingFloat": 100_000 })).await.body["shiftId"]);
    let pay_out = json!({ "kind": "pay_out", "amount": 5_000, "reason": "parkir" });
    assert_eq!(p.post(&shop.token, &format!("/api/shifts/{shift}/cash-movements"), &pay_out).await.status, 201);
    assert_eq!(
        p.post(&shop.token, &format!("/api/shifts/{shift}/close"), &json!({ "countedCash": 95_000 })).await.status,
        200
    );
    let rows = trail(&p, &shop, "shift", shift).await;
    one(&rows, "open", me, false, true);
    one(&rows, "cash_movement", me, false, true);
    let row = one(&rows, "close", me, true, true);
    assert_eq!((row["before"]["status"].as_str(), row["after"]["status"].as_str()), (Some("open"), Some("closed")));

    // Filters: by actor and time; another shop sees none of it; a cashier may not read it.
    let mine = p.get(&shop.token, &format!("/api/audit?actor={me}&limit=2")).await;
    assert_eq!(mine.body["data"].as_array().map(Vec::len), Some(2));
    assert!(mine.body["nextCursor"].is_string(), "paged: {}", mine.body);
    let future = p.get(&shop.token, "/api/audit?from=2100-01-01T00:00:00Z").await;
    assert_eq!(future.body["data"], json!([]));
    let other = p.tenant().await;
    let theirs = p.get(&other.token, &format!("/api/audit?entity=product&entityId={product}")).await;
    assert_eq!(theirs.body["data"], json!([]));
    let cashier = p.user(&shop, "cashier").await;
    assert_eq!(p.get(&cashier, "/api/audit").await.status, 403);
    p.stop().await;
}

#[tokio::test]
async fn the_services_and_operators_roles_can_add_and_read_audit_rows_never_change_or_delete_them() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    p.product(&shop, 1_000, 1).await;
    for userinfo in [harness::db::app_userinfo(), harness::db::platform_userinfo()] {
        let url = harness::db::url_as(p.database_name(), &userinfo).expect("url");
        let mut db = sqlx::PgConnection::connect(&url).await.expect("connect as a services' role");
        db.execute(sqlx::query("SELECT set_config('app.tenant_ids', $1, false)").bind(format!("{{{}}}", shop.id)))
            .await
            .expect("tenant");
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&mut db).await.expect("read");
        assert!(seen >= 1, "{userinfo}: the product's row is readable");
        let added = sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor, action, entity, entity_id) VALUES ($1, $2, 'test', 'probe', 'product', 'x')",
        )
        .bind(Uuid::now_v7())
        .bind(shop.id)
        .execute(&mut db)
        .await;
        assert!(added.is_ok(), "{userinfo}: INSERT is granted: {added:?}");
        for statement in ["UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
            let refused = sqlx::query(statement).execute(&mut db).await.expect_err(statement);
            let code = refused.as_database_error().and_then(|e| e.code()).unwrap_or_default().into_owned();
            assert_eq!(code, "42501", "{userinfo}: {statement} is refused with insufficient_privilege: {refused}");
        }
    }
    let forged: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'forged'")
        .fetch_one(&p.db)
        .await
        .expect("count");
    assert_eq!(forged, 0);
    p.stop().await;
}
