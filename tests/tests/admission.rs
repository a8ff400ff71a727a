//! Group commit at ingest: concurrent requests' pending rows are written in
//! shared transactions. Every answer must be what the request would get
//! alone, tenants sharing a transaction stay isolated, and a row that fails
//! its group costs only its own request.

use futures::future::join_all;
use harness::{Options, Pipeline, Reply, Tenant, order, uuid};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Group commit made likely: the first order of a group waits 5 ms for company.
fn grouping() -> Options {
    Options::workers(0).with_env("ADMIT_MAX_WAIT", "5ms").with_env("ADMIT_MAX_BATCH", "64")
}

/// A Prometheus series' value from ingest's `/metrics` (0 when absent).
async fn metric(p: &Pipeline, series: &str) -> f64 {
    let text = p.http.get(format!("{}/metrics", p.base_url)).send().await.expect("metrics").text().await.expect("text");
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

/// One tenant's 25 requests: 15 new orders, 4 resends of them, 3 other
/// bodies under their clientOrderIds, 2 invalid, 1 under a clientOrderId
/// another tenant also uses.
fn requests_of(product: Uuid, shared_client_id: Uuid) -> Vec<Value> {
    let mut bodies: Vec<Value> = (0..15).map(|i| order(&[(product, 1 + i % 3, 1_000)])).collect();
    for i in 0..4 {
        bodies.push(bodies[i].clone());
    }
    for i in 4..7 {
        let mut other = order(&[(product, 9, 1_000)]);
        other["clientOrderId"] = bodies[i]["clientOrderId"].clone();
        bodies.push(other);
    }
    for _ in 0..2 {
        bodies.push(order(&[(product, 0, 1_000)]));
    }
    let mut shared = order(&[(product, 1, 1_000)]);
    shared["clientOrderId"] = json!(shared_client_id);
    bodies.push(shared);
    bodies
}

/// For one tenant: the answers must be those of one request at a time.
fn check_tenant(sent: &[Value], answers: &[&Reply]) -> HashSet<Uuid> {
    let mut by_client: HashMap<&str, Vec<(&Value, &Reply)>> = HashMap::new();
    let mut accepted = HashSet::new();
    for (body, reply) in sent.iter().zip(answers) {
        if body["items"][0]["quantity"] == 0 {
            assert_eq!((reply.status, reply.code()), (422, "validation_failed"), "{}", reply.body);
            continue;
        }
        by_client.entry(body["clientOrderId"].as_str().unwrap_or("")).or_default().push((body, reply));
    }
    for (client, tries) in by_client {
        let winners: Vec<&(&Value, &Reply)> = tries.iter().filter(|(_, r)| r.status == 202).collect();
        assert!(!winners.is_empty(), "clientOrderId {client}: no request accepted: {tries:?}");
        let (body, first) = winners[0];
        let order_id = uuid(&first.body["orderId"]);
        for (other_body, reply) in &tries {
            if *other_body == *body {
                assert_eq!((reply.status, uuid(&reply.body["orderId"])), (202, order_id), "a resend gets the first id");
            } else {
                assert_eq!((reply.status, reply.code()), (409, "idempotency_conflict"), "{}", reply.body);
                let message = reply.body["error"]["message"].as_str().unwrap_or("");
                assert!(message.contains(&order_id.to_string()), "the 409 names the order: {message}");
            }
        }
        accepted.insert(order_id);
    }
    accepted
}

/// The orders a tenant sees through row-level security (as the services' role).
async fn visible_to(p: &Pipeline, tenant: &Tenant) -> HashSet<Uuid> {
    let url = harness::db::url_as(p.database_name(), &harness::db::app_userinfo()).expect("url");
    let app = sqlx::PgPool::connect(&url).await.expect("the services' pool");
    let mut tx = common::db::tenant_tx(&app, &[tenant.id]).await.expect("tenant transaction");
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders").fetch_all(&mut *tx).await.expect("orders");
    ids.into_iter().collect()
}

#[tokio::test]
async fn five_hundred_concurrent_orders_from_twenty_tenants_are_answered_as_one_at_a_time() {
    let p = Pipeline::start_with(grouping()).await;
    let shared_client_id = Uuid::now_v7();
    let mut shops = Vec::new();
    for _ in 0..20 {
        let shop = p.tenant().await;
        let product = p.product(&shop, 1_000, 1_000).await;
        shops.push((shop, requests_of(product, shared_client_id)));
    }
    let api = &p;
    let calls =
        shops.iter().flat_map(|(shop, bodies)| bodies.iter().map(move |b| api.post(&shop.token, "/api/orders", b)));
    let replies = join_all(calls).await;
    let mut replies = replies.iter();
    let mut all_accepted = HashSet::new();
    for (shop, bodies) in &shops {
        let answers: Vec<&Reply> = replies.by_ref().take(bodies.len()).collect();
        let accepted = check_tenant(bodies, &answers);
        assert_eq!(accepted.len(), 16, "15 new orders and the shared clientOrderId's");
        assert_eq!(visible_to(&p, shop).await, accepted, "a tenant sees exactly its own orders");
        assert!(all_accepted.is_disjoint(&accepted), "one clientOrderId in two tenants is two orders");
        all_accepted.extend(accepted);
    }
    let groups = metric(&p, "warungin_admission_group_requests_count").await;
    let requests = metric(&p, "warungin_admission_group_requests_sum").await;
    assert!(groups > 0.0 && requests / groups > 1.0, "requests shared groups ({requests} in {groups} groups)");
    p.stop().await;
}

#[tokio::test]
async fn a_group_with_one_order_failing_a_constraint_admits_the_others() {
    let p = Pipeline::start_with(grouping().with_env("ADMIT_MAX_WAIT", "20ms")).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 1_000).await;
    // A constraint only one order breaks (standing in for any row-level failure).
    sqlx::query("ALTER TABLE orders ADD CONSTRAINT poison_refused CHECK (request->>'notes' IS DISTINCT FROM 'poison')")
        .execute(&p.db)
        .await
        .expect("constraint");
    let poison = || {
        let mut body = order(&[(product, 1, 1_000)]);
        body["notes"] = json!("poison");
        body
    };
    let alone = p.post(&shop.token, "/api/orders", &poison()).await;
    assert!(alone.status >= 400, "the poisoned order is refused alone: {}", alone.body);
    let mut bodies: Vec<Value> = (0..39).map(|_| order(&[(product, 1, 1_000)])).collect();
    bodies.insert(20, poison());
    let replies = join_all(bodies.iter().map(|b| p.post(&shop.token, "/api/orders", b))).await;
    for (i, reply) in replies.iter().enumerate() {
        if i == 20 {
            assert_eq!((reply.status, reply.code()), (alone.status, alone.code()), "the same answer as alone");
        } else {
            assert_eq!(reply.status, 202, "a group-mate of the poisoned order: {}", reply.body);
        }
    }
    assert!(metric(&p, "warungin_admission_splits_total").await >= 1.0, "the poisoned order shared a group");
    let pending = p.count("SELECT count(*) FROM orders WHERE status = 'pending'").await;
    assert_eq!(pending, 39);
    p.stop().await;
}
