//! The load generator's stock audit: clean after a real run, and failing
//! when a stock row is deliberately corrupted (so it can catch a real bug).

use harness::loadgen::{self, Plan, Scenario, Target};
use harness::{Options, Pipeline};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn the_stock_audit_passes_a_real_run_and_fails_on_a_corrupted_row() {
    let p = Pipeline::start_with(Options::workers(2)).await;
    let shop = loadgen::setup::shop(&p.http, &p.base_url, &p.internal_key, &p.db, 50, 1_000).await.expect("load shop");
    let target =
        Arc::new(Target { http: p.http.clone(), base: p.base_url.clone(), token: shop.token.clone(), history: None });
    for scenario in [Scenario::Hot, Scenario::Duplicates, Scenario::Offline] {
        let plan = Plan {
            scenario,
            terminals: 4,
            requests: Some(if scenario == Scenario::Offline { 1 } else { 25 }),
            rate: None,
            duration: Duration::from_secs(60),
            duplicate_share: 0.3,
            seed: 7,
            quiet: true,
            ..Plan::default()
        };
        let tally = loadgen::drive::run(target.clone(), Arc::new(shop.catalogue.clone()), plan).await;
        assert!(tally.accepted > 0, "{scenario:?} accepted orders");
        if scenario == Scenario::Duplicates {
            assert!(tally.duplicates > 0, "some requests were resent");
        }
    }
    assert_eq!(loadgen::drain(&p.db, shop.tenant_id, Duration::from_secs(60)).await.expect("drain"), 0);
    let audit = loadgen::audit(&p.db, shop.tenant_id, &shop.initial).await.expect("audit");
    assert!(audit.clean(), "a real run audits clean: {audit:?}");
    assert_eq!(audit.products, 50);

    let corrupted = shop.catalogue.products[3].0;
    sqlx::query(
        "UPDATE outlet_stock SET stock = stock + 1 WHERE product_id = $1 AND outlet_id = default_outlet_id(tenant_id)",
    )
    .bind(corrupted)
    .execute(&p.db)
    .await
    .expect("corrupt");
    let audit = loadgen::audit(&p.db, shop.tenant_id, &shop.initial).await.expect("audit");
    assert!(!audit.clean());
    assert_eq!(audit.stock_mismatches, vec![corrupted]);
    assert_eq!(audit.ledger_mismatches, vec![corrupted], "the ledger no longer explains the stock");
    p.stop().await;
}

#[test]
fn the_k6_script_uses_the_contracts_endpoints_and_fields() {
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/load-test-stock.js")).expect("script");
    for needle in [
        "/api/auth/login",
        "/api/products",
        "/api/orders?wait=",
        "/api/orders?status=committed",
        "/stock-movements",
        "/api/stock-transfers",
        "/api/shifts",
        "countedCash",
        "clientOrderId",
        "productId",
        "quantity",
        "price",
        "payment",
        "insufficient_stock",
        "accessToken",
        "nextCursor",
        "p(95)<500",
        "rate<0.01",
        "vus: 50, iterations: 10",
    ] {
        assert!(script.contains(needle), "the k6 script uses {needle}");
    }
}
