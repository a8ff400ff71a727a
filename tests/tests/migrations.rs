//! Every migration has a down script that exactly undoes it: reversing the
//! newest one under a live shop and applying it again loses nothing, and on
//! an empty database every step down gives back the schema of the step
//! before, all the way to nothing and up again.

mod support;

use common::db::MIGRATOR;
use harness::{Pipeline, binary, db, order, uuid};
use serde_json::json;
use sqlx::Postgres;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use std::process::Output;
use support::{busy_shop, project, schema, schema_diff, table_contents, table_rows};

/// The versions of the migrations, oldest first.
fn versions() -> Vec<i64> {
    MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect()
}

/// `workers migrate ARGS` against database `name` as its owner.
async fn workers_migrate(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(binary("workers"));
    command
        .arg("migrate")
        .args(args)
        .env_remove("MIGRATE_DATABASE_URL")
        .env("DATABASE_URL", db::url_for(name).expect("database url"))
        .env("APP_ENV", "test")
        .env("LOG_FORMAT", "pretty")
        .env("LOG_LEVEL", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("running `workers migrate`")
}

fn text(output: &[u8]) -> String {
    String::from_utf8_lossy(output).into_owned()
}

#[test]
fn every_migration_has_a_down_script() {
    for version in versions() {
        assert!(
            MIGRATOR.iter().any(|m| m.version == version && m.migration_type.is_down_migration()),
            "migration {version} has no down script (migrations/{version}_<name>.down.sql)"
        );
    }
}

/// Left out of the row comparison: sqlx's bookkeeping, and the report's
/// quarter-hour summaries, which each direction recomputes from the rows
/// by its own rules (compared through the report by the other tests).
const DERIVED: &[&str] = &["_sqlx_migrations", "sales_buckets", "sales_bucket_methods", "sales_bucket_products"];

/// The rows the newest migration's down script says it drops, taken out
/// (20261206000019: the shops' charge history, `tenant_charge_settings`, a
/// table the comparison leaves out as it leaves out every table the way
/// down drops; applied again, each shop's history starts over with its
/// current settings. No column of a table kept is dropped, so nothing else
/// is taken out). Update this with each new migration.
fn without_declared_losses(
    rows: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    rows
}

#[tokio::test]
async fn reversing_the_newest_migration_and_applying_it_again_loses_nothing() {
    let p = Pipeline::start().await;
    let shop = busy_shop(&p).await;
    let name = p.database_name().to_owned();
    let (newest, previous) = match versions()[..] {
        [.., previous, newest] => (newest, previous),
        _ => panic!("expected at least two migrations"),
    };
    // sqlx's bookkeeping changes (installed_on); everything else must not.
    let data_before = table_contents(&p.db, &["_sqlx_migrations"]).await;
    let rows_before = without_declared_losses(table_rows(&p.db, DERIVED).await);
    let schema_before = schema(&p.db).await;
    for table in support::FILLED_TABLES {
        assert!(data_before.get(*table).is_some_and(|(rows, _)| *rows > 0), "{table} is empty: {data_before:?}");
    }

    // Production refuses without the backup confirmation, before touching anything.
    let production = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", "migration-test-jwt-secret-0123456789abcdef"),
        ("JWT_REFRESH_SECRET", "migration-test-refresh-secret-0123456789abc"),
        ("INTERNAL_API_KEY", "migration-test-internal-key-0123456789abcdef"),
    ];
    let refused = workers_migrate(&name, &["--down", "1"], &production).await;
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("--yes-i-have-a-backup"), "{}", text(&refused.stderr));
    assert_eq!(common::db::schema_version(&db::url_for(&name).expect("url")).await.expect("version"), Some(newest));

    let down = workers_migrate(&name, &["--down", "1"], &[]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    let stdout = text(&down.stdout);
    assert!(stdout.starts_with(&format!("reverted {newest} ")), "{stdout}");
    assert!(stdout.contains(&format!("schema version: {previous}")), "{stdout}");
    assert_ne!(schema(&p.db).await, schema_before, "the down script changed nothing");
    // What the previous release knows of survives the way down (what the
    // newest migration added is lost, as its down script says), and the
    // way up again loses none of it.
    let kept = without_declared_losses(table_rows(&p.db, DERIVED).await);
    assert_eq!(project(&rows_before, &kept), project(&kept, &kept), "the down script lost data it keeps a place for");

    let up = workers_migrate(&name, &[], &[]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let schema_after = schema(&p.db).await;
    assert!(schema_after == schema_before, "{}", schema_diff(&schema_before, &schema_after));
    let rows_after = without_declared_losses(table_rows(&p.db, DERIVED).await);
    assert_eq!(project(&rows_after, &kept), project(&kept, &kept), "the way up lost data");
    // The cancels' paybacks (written by the database since migration 12) are there.
    let cancels = p.count("SELECT count(*) FROM refunds WHERE kind = 'cancel'").await;
    assert_eq!(cancels, p.count("SELECT count(*) FROM orders WHERE status = 'cancelled'").await);
    assert!(cancels > 0, "the busy shop has a cancelled order");
    p.assert_books_balance().await;

    // The services work as before: every order reads back through the API
    // (row-level security and grants are back), and a new one commits.
    for id in &shop.orders {
        let shown = p.get(&shop.tenant.token, &format!("/api/orders/{id}")).await;
        assert_eq!(shown.status, 200, "{}", shown.body);
    }
    let placed = p.post(&shop.tenant.token, "/api/orders?wait=10000", &order(&[(shop.product, 1, 15_000)])).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    p.settled(uuid(&placed.body["orderId"])).await;
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn every_down_script_gives_back_the_schema_before_its_migration() {
    let name = format!("wt_{}_{:06x}", chrono::Utc::now().timestamp(), rand::random_range(0..0xff_ffffu32));
    let url = db::url_for(&name).expect("database url");
    Postgres::create_database(&url).await.expect("creating an empty database");
    let pool = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("connecting");
    let all = versions();
    let pristine = schema(&pool).await;

    // Up one step at a time, recording each step's schema...
    let mut schemas = vec![pristine.clone()];
    for version in &all {
        MIGRATOR.run_to(*version, &pool).await.unwrap_or_else(|e| panic!("applying {version}: {e}"));
        schemas.push(schema(&pool).await);
    }
    // ...then down one step at a time: each gives back the schema before it,
    // down to the empty database.
    for (step, version) in all.iter().enumerate().rev() {
        let reverted = common::db::migrate_down(&url, 1).await.unwrap_or_else(|e| panic!("reversing {version}: {e}"));
        assert_eq!(reverted.iter().map(|r| r.version).collect::<Vec<_>>(), [*version]);
        let now = schema(&pool).await;
        assert!(now == schemas[step], "reversing {version}: {}", schema_diff(&schemas[step], &now));
    }
    assert_eq!(common::db::schema_version(&url).await.expect("version"), None);
    assert!(common::db::migrate_down(&url, 1).await.is_err(), "nothing is left to reverse");

    // Up again all at once, and down again all at once.
    common::db::migrate(&url).await.expect("migrating again");
    let top = schema(&pool).await;
    assert!(top == schemas[all.len()], "{}", schema_diff(&schemas[all.len()], &top));
    let reverted = common::db::migrate_down(&url, all.len()).await.expect("reversing every migration");
    let newest_first: Vec<i64> = all.iter().rev().copied().collect();
    assert_eq!(reverted.iter().map(|r| r.version).collect::<Vec<_>>(), newest_first);
    let now = schema(&pool).await;
    assert!(now == pristine, "{}", schema_diff(&pristine, &now));
    common::db::migrate(&url).await.expect("migrating once more");
    assert_eq!(common::db::schema_version(&url).await.expect("version"), all.last().copied());
    pool.close().await;
    db::drop_database(&name).await;
}

/// A refund's failed sync next to its order's own (an offline order that
/// failed, refunded while in review, its failed sync then discarded): both
/// name the order. Migration 13 keeps the refund's order in
/// `refund_order_id`; reversed, it goes back into `order_id`; applied
/// again, out of it. The review API names the order throughout.
#[tokio::test]
async fn a_refunds_failed_sync_keeps_its_order_across_the_failed_sync_key_migration() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 1).await;
    let synced = p
        .post(
            &shop.token,
            "/api/sync/orders",
            &json!({ "deviceId": "till-9", "orders": [order(&[(product, 3, 5_000)])] }),
        )
        .await;
    let order_id = uuid(&synced.body["results"][0]["orderId"]);
    assert_eq!(p.settled(order_id).await, "failed");
    let refund = json!({ "clientRefundId": uuid::Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1 }] });
    let queued = p.post(&shop.token, &format!("/api/orders/{order_id}/refunds"), &refund).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    let failed: uuid::Uuid = sqlx::query_scalar("SELECT id FROM failed_syncs WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&p.db)
        .await
        .expect("the order's failed sync");
    let discard = json!({ "reason": "the customer took the goods back" });
    assert_eq!(p.post(&shop.token, &format!("/api/failed-syncs/{failed}/discard"), &discard).await.status, 200);
    let refund_sync = "SELECT order_id, refund_order_id FROM failed_syncs WHERE refund_id IS NOT NULL";
    let names = || async {
        sqlx::query_as::<_, (Option<uuid::Uuid>, Option<uuid::Uuid>)>(refund_sync).fetch_optional(&p.db).await.ok()?
    };
    let now = harness::checks::eventually("the refund's failed sync", std::time::Duration::from_secs(60), names).await;
    assert_eq!(now, (None, Some(order_id)));

    let name = p.database_name().to_owned();
    // Down to before migration 13 (and those after it), then up again.
    let steps = versions().iter().filter(|v| **v >= 20261205000013).count().to_string();
    let down = workers_migrate(&name, &["--down", &steps], &[]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    let back: Option<uuid::Uuid> = sqlx::query_scalar("SELECT order_id FROM failed_syncs WHERE refund_id IS NOT NULL")
        .fetch_one(&p.db)
        .await
        .expect("the refund's failed sync, reversed");
    assert_eq!(back, Some(order_id), "back in order_id (refund_order_id is gone)");
    let up = workers_migrate(&name, &[], &[]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert_eq!(names().await, Some((None, Some(order_id))), "out of it again");
    let listed = p.get(&shop.token, "/api/failed-syncs?status=open").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["orderId"], json!(order_id), "{}", listed.body);
    assert!(listed.body["data"][0]["refundId"].is_string(), "{}", listed.body);
    p.stop().await;
}

/// Orders from before outlets (naming none, their summaries and receipt
/// counters kept under no outlet) move to their shop's default outlet with
/// all of it: the default outlet's report is the shop's whole report.
#[tokio::test]
async fn orders_from_before_outlets_move_to_the_default_outlet_with_their_sums() {
    let p = Pipeline::start().await;
    let shop = busy_shop(&p).await;
    let name = p.database_name().to_owned();
    let day: String = sqlx::query_scalar("SELECT (now() AT TIME ZONE timezone)::date::text FROM tenants WHERE id = $1")
        .bind(shop.tenant.id)
        .fetch_one(&p.db)
        .await
        .expect("the shop's day");
    // The whole shop's report, read while today's ingest has its schema.
    let whole = p.get(&shop.tenant.token, &format!("/api/reports/daily-sales?date={day}")).await.body;
    let steps = versions().iter().filter(|&&v| v >= 20261205000014).count().to_string();
    let down = workers_migrate(&name, &["--down", &steps], &[]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    for before_outlets in [
        "UPDATE orders SET outlet_id = NULL",
        "UPDATE receipt_counters SET outlet_key = '00000000-0000-0000-0000-000000000000'",
    ] {
        sqlx::query(before_outlets).execute(&p.db).await.expect("the shop as before outlets");
    }

    let up = workers_migrate(&name, &[], &[]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let default: uuid::Uuid = sqlx::query_scalar("SELECT id FROM outlets WHERE tenant_id = $1 AND is_default")
        .bind(shop.tenant.id)
        .fetch_one(&p.db)
        .await
        .expect("default");
    let elsewhere =
        p.count("SELECT count(*) FROM orders WHERE outlet_id IS DISTINCT FROM default_outlet_id(tenant_id)").await;
    assert_eq!(elsewhere, 0, "every order at its shop's default outlet");
    let nil = p
        .count("SELECT count(*) FROM receipt_counters WHERE outlet_key = '00000000-0000-0000-0000-000000000000'")
        .await;
    assert_eq!(nil, 0, "the receipt counters moved too");
    let at_default =
        p.get(&shop.tenant.token, &format!("/api/reports/daily-sales?date={day}&outletId={default}")).await.body;
    assert!(whole["orders"].as_i64() > Some(0), "{whole}");
    for field in
        ["orders", "grossSales", "netSales", "byPaymentMethod", "topProducts", "refunds", "cancelled", "netCollected"]
    {
        assert_eq!(at_default[field], whole[field], "{field}: default outlet {at_default}, whole shop {whole}");
    }
    p.stop().await;
}

/// A shop from before stock per outlet (one stock figure per product, a
/// ledger without outlets) migrates up with each product's stock at its
/// default outlet, none at its other outlets, and a ledger that explains
/// every outlet's stock.
#[tokio::test]
async fn stock_from_before_outlets_is_the_default_outlets_stock() {
    let p = Pipeline::start().await;
    let shop = busy_shop(&p).await;
    let stall = p.post(&shop.tenant.token, "/api/outlets", &json!({ "name": "Lapak Pasar" })).await;
    assert_eq!(stall.status, 201, "{}", stall.body);
    let name = p.database_name().to_owned();
    let steps = versions().iter().filter(|&&v| v >= 20261205000015).count().to_string();
    let down = workers_migrate(&name, &["--down", &steps], &[]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    let before: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT id, stock FROM products ORDER BY id").fetch_all(&p.db).await.expect("stock before");
    assert!(before.iter().all(|&(_, stock)| stock > 0) && before.len() == 3, "{before:?}");

    let up = workers_migrate(&name, &[], &[]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let at_default: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT product_id, stock FROM outlet_stock WHERE outlet_id = default_outlet_id(tenant_id) ORDER BY product_id",
    )
    .fetch_all(&p.db)
    .await
    .expect("stock after");
    assert_eq!(at_default, before, "every product's stock is its default outlet's");
    let at_stall = p.count("SELECT count(*) FROM outlet_stock WHERE outlet_id <> default_outlet_id(tenant_id)").await;
    let stocked =
        p.count("SELECT count(*) FROM outlet_stock WHERE outlet_id <> default_outlet_id(tenant_id) AND stock <> 0");
    assert_eq!((at_stall, stocked.await), (3, 0), "the other outlet has a row per product, all empty");
    harness::checks::assert_books_balance(&p.db).await;
    let (product, stock) = before[0];
    let shown = p.get(&shop.tenant.token, &format!("/api/products/{product}")).await;
    assert_eq!(shown.body["stock"], json!(stock), "{}", shown.body);
    assert_eq!(shown.body["stockByOutlet"][0]["stock"], json!(stock), "the default outlet first: {}", shown.body);
    assert_eq!(shown.body["stockByOutlet"][1], json!({ "outletId": stall.body["id"], "stock": 0 }), "{}", shown.body);
    p.stop().await;
}
