//! The backup drill: a shop's orders, payments and stock movements survive
//! `scripts/backup`, the loss of the database and `scripts/restore`, with
//! the schema (row-level security, grants, functions) as it was, and the
//! services carry on against the restored database.

mod support;

use harness::{Pipeline, db, order, uuid};
use sqlx::{Connection, PgConnection, PgPool};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{busy_shop, schema, schema_diff, table_contents};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run `scripts/<script>` with `env`; its output, or the test fails with it.
fn script(script: &str, args: &[&Path], env: &[(&str, String)]) -> String {
    let mut command = Command::new(repo_root().join("scripts").join(script));
    command.args(args).current_dir(repo_root()).env_remove("MIGRATE_DATABASE_URL");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("running scripts/{script}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "scripts/{script} failed:\n{text}");
    text
}

fn installed(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

/// Orders (id, status), payments and stock movements, whole rows as text.
async fn ledger(db: &PgPool) -> Vec<Vec<String>> {
    let mut sets = Vec::new();
    for sql in [
        "SELECT id::text || ' ' || status FROM orders ORDER BY 1",
        "SELECT t::text FROM payments t ORDER BY 1",
        "SELECT t::text FROM stock_movements t ORDER BY 1",
    ] {
        sets.push(sqlx::query_scalar(sql).fetch_all(db).await.expect("reading the ledger"));
    }
    sets
}

#[tokio::test]
async fn a_restored_backup_has_every_order_payment_and_stock_movement() {
    let p = Pipeline::start().await;
    let shop = busy_shop(&p).await;
    let name = p.database_name().to_owned();
    let url = db::url_for(&name).expect("database url");
    let ledger_before = ledger(&p.db).await;
    let data_before = table_contents(&p.db, &[]).await;
    let schema_before = schema(&p.db).await;
    assert_eq!(ledger_before[0].len(), shop.orders.len());
    for table in support::FILLED_TABLES {
        assert!(data_before.get(*table).is_some_and(|(rows, _)| *rows > 0), "{table} is empty: {data_before:?}");
    }

    let dir = std::env::temp_dir().join(format!("warungin-backup-drill-{name}"));
    std::fs::create_dir_all(&dir).expect("drill directory");
    let mut env = vec![("DATABASE_URL", url.clone()), ("BACKUP_DIR", dir.display().to_string())];
    if installed("age") && installed("age-keygen") {
        let identity = dir.join("identity.txt");
        let made = Command::new("age-keygen").arg("-o").arg(&identity).output().expect("age-keygen");
        assert!(made.status.success(), "age-keygen: {}", String::from_utf8_lossy(&made.stderr));
        let public = Command::new("age-keygen").arg("-y").arg(&identity).output().expect("age-keygen -y");
        let recipient = String::from_utf8_lossy(&public.stdout).trim().to_owned();
        assert!(recipient.starts_with("age1"), "not an age public key: {recipient}");
        env.push(("BACKUP_RECIPIENT", recipient));
        // Also makes scripts/backup decrypt the new backup and read it back.
        env.push(("BACKUP_IDENTITY", identity.display().to_string()));
    } else {
        eprintln!("age is not installed: drilling an unencrypted backup (BACKUP_ENCRYPT=none) instead");
        env.push(("BACKUP_ENCRYPT", "none".to_owned()));
    }
    let backed_up = script("backup", &[], &env);
    eprint!("{backed_up}");
    assert!(backed_up.contains("backup: ok"), "{backed_up}");
    let backups: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("listing the drill directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.file_name().is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}-"))))
        .collect();
    assert_eq!(backups.len(), 1, "one backup in {}: {backups:?}", dir.display());

    // The database is lost (the services' connections with it).
    p.stop_in_process_workers();
    db::drop_database(&name).await;
    let mut admin = PgConnection::connect(&db::url_for("postgres").expect("url")).await.expect("admin connection");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_database");
    assert!(!exists, "the database is gone");

    let restored = script("restore", &[&backups[0]], &env);
    eprint!("{restored}");
    assert!(restored.contains("restore: ok"), "{restored}");
    let newest = common::db::MIGRATOR.iter().map(|m| m.version).max().expect("migrations");
    assert!(restored.contains(&format!("schema version: {newest}")), "{restored}");

    // Everything is back, row for row.
    assert_eq!(ledger(&p.db).await, ledger_before);
    assert_eq!(table_contents(&p.db, &[]).await, data_before);
    let schema_after = schema(&p.db).await;
    assert!(schema_after == schema_before, "{}", schema_diff(&schema_before, &schema_after));
    p.assert_books_balance().await;
    assert_eq!(common::db::schema_version(&url).await.expect("schema version"), Some(newest));

    // The services carry on: every order reads back through the API (as the
    // services' role, through row-level security), and a new order commits.
    for id in &shop.orders {
        let shown = p.get(&shop.tenant.token, &format!("/api/orders/{id}")).await;
        assert_eq!(shown.status, 200, "order {id}: {}", shown.body);
    }
    p.start_worker().await;
    let placed = p.post(&shop.tenant.token, "/api/orders?wait=10000", &order(&[(shop.product, 1, 15_000)])).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    p.settled(uuid(&placed.body["orderId"])).await;
    p.assert_books_balance().await;

    let _ = std::fs::remove_dir_all(&dir);
    admin.close().await.ok();
    p.stop().await;
}
