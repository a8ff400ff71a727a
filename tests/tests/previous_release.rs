//! A rolling upgrade or an image-only rollback runs the previous release's
//! workers against the schema it can run on (issue 22 #8): today's up to
//! migration 14. Today's ingest accepts the orders on today's schema (it
//! writes columns of migration 17) and cannot run on 14: the orders wait in
//! the queue while the schema is rolled back, and that release commits them. Migration 15 (stock per outlet) is a contract step that
//! release cannot run past (it updates `products.stock`): a rollback to it
//! reverts 15 first, an upgrade from it applies 15 once its workers are
//! stopped, and this test does both around the release's run. Their binary is built by
//! `scripts/previous-release` from the commit before the POS money change
//! and named by `PREVIOUS_RELEASE_WORKERS`; scripts/test builds it and runs
//! this test. Today's ingest publishes, the previous workers commit: an
//! online order, an offline batch with an order short of stock (a failed
//! sync, written with the `ON CONFLICT` that release infers), a retry that
//! fails again and one that commits after a restock.

use harness::{Options, Pipeline, binary, db, order, uuid};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn previous_release_workers() -> PathBuf {
    let path = std::env::var_os("PREVIOUS_RELEASE_WORKERS")
        .map(PathBuf::from)
        .expect("PREVIOUS_RELEASE_WORKERS: the path scripts/previous-release prints");
    assert!(path.exists(), "{} is missing: run scripts/previous-release", path.display());
    path
}

async fn failed_attempts(p: &Pipeline, order: uuid::Uuid) -> Option<(uuid::Uuid, i32, String)> {
    sqlx::query_as("SELECT id, attempts, status FROM failed_syncs WHERE order_id = $1")
        .bind(order)
        .fetch_optional(&p.db)
        .await
        .expect("failed syncs")
}

/// `workers migrate ARGS` (today's binary) on the pipeline's database.
async fn migrate(p: &Pipeline, args: &[&str]) {
    let out = tokio::process::Command::new(binary("workers"))
        .arg("migrate")
        .args(args)
        .env_remove("MIGRATE_DATABASE_URL")
        .env("DATABASE_URL", db::url_for(p.database_name()).expect("database url"))
        .env("APP_ENV", "test")
        .env("LOG_LEVEL", "warn")
        .output()
        .await
        .expect("workers migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The product's stock as that release keeps it (one figure per product).
async fn stock(p: &Pipeline, product: uuid::Uuid) -> i64 {
    sqlx::query_scalar("SELECT stock FROM products WHERE id = $1").bind(product).fetch_one(&p.db).await.expect("stock")
}

async fn today_in_shop_zone(p: &Pipeline, tenant: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT (now() AT TIME ZONE timezone)::date::text FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&p.db)
        .await
        .expect("the shop's day")
}

#[tokio::test]
#[ignore = "needs the previous release's workers: PREVIOUS_RELEASE_WORKERS=$(scripts/previous-release)"]
async fn the_previous_release_workers_run_the_core_order_flow_on_the_schema_they_run_on() {
    let binary = previous_release_workers();
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 4_000, 3).await;

    // Today's ingest accepts (on today's schema: it writes the cashier of
    // each order) an online order with one payment, which goes out as
    // order.v1, and an offline batch: one order short of stock, one that fits.
    let online = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 4_000)])).await;
    assert_eq!(online.status, 202, "{}", online.body);
    let online_id = uuid(&online.body["orderId"]);
    let short = order(&[(product, 5, 4_000)]);
    let fits = order(&[(product, 1, 4_000)]);
    let batch =
        p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-old", "orders": [short, fits] })).await;
    assert_eq!(batch.status, 202, "{}", batch.body);
    let short_id = uuid(&batch.body["results"][0]["orderId"]);
    let fits_id = uuid(&batch.body["results"][1]["orderId"]);

    // Rolled back to the schema that release runs on (before stock per
    // outlet), its workers commit what was queued.
    let steps =
        common::db::MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration() && m.version >= 20261205000015);
    migrate(&p, &["--down", &steps.count().to_string()]).await;
    let log = std::env::temp_dir().join(format!("{}-previous-workers.log", p.database_name()));
    let mut worker = p.spawn_worker_build(&binary, "previous", Some(&log)).await;
    assert_eq!(p.settled(online_id).await, "committed", "log: {}", log.display());
    assert_eq!(p.settled(fits_id).await, "committed");
    assert_eq!(p.settled(short_id).await, "failed", "log: {}", log.display());
    let (failed, attempts, status) = failed_attempts(&p, short_id).await.expect("the short order's failed sync");
    assert_eq!((attempts, status.as_str()), (1, "open"));
    assert_eq!(stock(&p, product).await, 1);

    // A retry that fails again counts on the same failed sync (the upsert).
    // Retried by that release's operator CLI: today's ingest needs today's
    // schema (its session checks and audit trail), the rolled-back one has
    // neither.
    let failed = failed.to_string();
    let retry = ["dlq", "replay", failed.as_str()];
    let (ok, out, _) = p.cli_of(&binary, &retry).await;
    assert!(ok, "{out}");
    harness::checks::eventually("the retry to fail again", Duration::from_secs(30), || async {
        failed_attempts(&p, short_id).await.filter(|(_, attempts, _)| *attempts == 2)
    })
    .await;

    // Restocked (as that release's back office does), the retry commits and resolves it.
    sqlx::query(
        "WITH p AS (UPDATE products SET stock = stock + 10 WHERE id = $1 RETURNING tenant_id, id)
         INSERT INTO stock_movements (id, tenant_id, product_id, kind, delta, reason)
         SELECT gen_random_uuid(), tenant_id, id, 'adjustment', 10, 'restock' FROM p",
    )
    .bind(product)
    .execute(&p.db)
    .await
    .expect("restock");
    let (ok, out, _) = p.cli_of(&binary, &retry).await;
    assert!(ok, "{out}");
    p.reaches(short_id, "committed").await;
    p.drained(Duration::from_secs(30)).await;
    assert_eq!(failed_attempts(&p, short_id).await.map(|f| f.2), Some("resolved".to_owned()));
    assert_eq!(stock(&p, product).await, 6);
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 3);

    // The upgrade: that release's workers stopped, migration 15 puts the
    // stock it kept at the default outlet, and the books balance per outlet.
    worker.terminate().await;
    migrate(&p, &[]).await;
    assert_eq!(p.stock(product).await, 6);
    p.assert_books_balance().await;

    // The day's report (kept by the database's summaries, read by today's
    // ingest on today's schema) counts what that release wrote; the sales
    // carry no time, so they are on today in the shop's zone.
    let day = today_in_shop_zone(&p, shop.id).await;
    let report = p.get(&shop.token, &format!("/api/reports/daily-sales?date={day}")).await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!((report.body["orders"].as_i64(), report.body["grossSales"].as_i64()), (Some(3), Some(7 * 4_000)));
    assert_eq!(report.body["byPaymentMethod"]["cash"], 7 * 4_000, "{}", report.body);
    p.stop().await;
}
