//! (d) The point-in-time recovery drill. Orders are written continuously
//! through the system; at T the drill notes the time, then writes a marker
//! (a product created after T); the WAL up to then is archived
//! (pgBackRest), orders go on being written, and the primary is killed.
//! From the archive alone:
//! - restored to the end of the archive (`--to latest`), the newest order
//!   commit there against the moment the primary died is the RPO, and the
//!   time from the kill to that server taking writes is the RTO;
//! - restored to T, every order committed before T is there, committed,
//!   and the marker is not.
//!
//! The cluster is whole again afterwards (standby promoted, old primary rejoined).

use harness::{Pipeline, order};
use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `scripts/<name> args…`: its output; the drill fails with it when the script does.
async fn script(name: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(repo_root().join("scripts").join(name))
        .args(args)
        .current_dir(repo_root())
        .output()
        .await
        .unwrap_or_else(|e| panic!("running scripts/{name}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "scripts/{name} {args:?} failed:\n{text}");
    text
}

/// What `scripts/cluster env` prints, as a map.
async fn cluster_env() -> HashMap<String, String> {
    let printed = script("cluster", &["env"]).await;
    printed.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A server restored from the archive, stopped and removed when the drill is done with it.
struct Restored {
    dir: PathBuf,
    port: u16,
}

impl Restored {
    async fn start(to: &str, dir: PathBuf, port: u16) -> Self {
        let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
        let printed =
            script("restore", &["--to", to, "--data-dir", &dir.display().to_string(), "--port", &port.to_string()])
                .await;
        eprintln!("{printed}");
        Self { dir, port }
    }

    async fn connect(&self, database: &str) -> PgConnection {
        let url = format!("postgres://postgres:postgres@127.0.0.1:{}/{database}", self.port);
        PgConnection::connect(&url).await.expect("connecting to the restored server")
    }

    async fn remove(self) {
        let stopped = tokio::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D"])
            .arg(&self.dir)
            .args(["stop", "-m", "immediate"])
            .output()
            .await;
        assert!(stopped.is_ok_and(|o| o.status.success()), "stopping the restored server in {}", self.dir.display());
        let _ = std::fs::remove_dir_all(self.dir.parent().unwrap_or(&self.dir));
    }
}

/// Orders one after another until `stop`; the ids of those answered 202.
async fn write_orders(http: reqwest::Client, base: String, token: String, product: Uuid, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = http.post(format!("{base}/api/orders")).bearer_auth(&token).json(&order(&[(product, 1, 10_000)]));
        // After the kill nothing answers for a while; the drill is not about these.
        if sent.send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `pg_switch_wal()` on the primary, then wait until that segment is archived.
async fn archive_now(admin: &mut PgConnection) -> String {
    let segment: String =
        sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())").fetch_one(&mut *admin).await.expect("switch");
    let started = Instant::now();
    loop {
        let archived: Option<String> = sqlx::query_scalar("SELECT last_archived_wal FROM pg_stat_archiver")
            .fetch_one(&mut *admin)
            .await
            .expect("pg_stat_archiver");
        if archived.as_deref().is_some_and(|a| a >= segment.as_str()) {
            return segment;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "segment {segment} not archived within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn drill() {
    let env = cluster_env().await;
    let dir = PathBuf::from(&env["CLUSTER_DIR"]);
    let p = Pipeline::start().await;
    let database = p.database_name().to_owned();
    let shop = p.tenant().await;
    let product = p.product(&shop, 10_000, 1_000_000).await;
    let admin_url = common::db::primary_url(&env["CLUSTER_DATABASE_URL"]).await.expect("the primary");
    let mut admin = PgConnection::connect(&admin_url).await.expect("admin connection");
    let archive_timeout: String = sqlx::query_scalar("SHOW archive_timeout").fetch_one(&mut admin).await.expect("show");
    eprintln!("{}", script("backup", &["--pitr", "--type", "incr"]).await);

    let stop = Arc::new(AtomicBool::new(false));
    let writer =
        tokio::spawn(write_orders(p.http.clone(), p.base_url.clone(), shop.token.clone(), product, stop.clone()));
    tokio::time::sleep(Duration::from_secs(4)).await;
    // T, and the orders committed before it: those this statement's
    // snapshot sees, whose commit records are all older than the clock read
    // after the snapshot was taken. (`committed_at` is its transaction's
    // start: a batch begun before T may commit after it.)
    let (t, before_t): (String, Vec<Uuid>) = sqlx::query_as(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00'),
                coalesce(array_agg(id), '{}') FROM orders WHERE tenant_id = $1 AND status = 'committed'",
    )
    .bind(shop.id)
    .fetch_one(&p.db)
    .await
    .expect("T and the orders committed before it");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let marker = p.product(&shop, 1, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let segment = archive_now(&mut admin).await;
    // Orders go on after the last forced archive, as they would up to a
    // crash: 10 s in the test command; longer than archive_timeout
    // (PITR_DRILL_TAIL_SECS=150) shows the RPO archive_timeout gives.
    let tail = std::env::var("PITR_DRILL_TAIL_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    tokio::time::sleep(Duration::from_secs(tail)).await;
    assert!(before_t.len() >= 5, "only {} orders committed before T", before_t.len());
    admin.close().await.ok();

    let destroyed = chrono::Utc::now();
    let killed = Instant::now();
    script("cluster", &["pg-kill-primary"]).await;
    stop.store(true, Ordering::Relaxed);
    let _ = writer.await;

    let latest = Restored::start("latest", dir.join("restore/drill-latest/data"), 5443).await;
    let rto = killed.elapsed();
    let mut conn = latest.connect(&database).await;
    let last_commit: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(committed_at) FROM orders").fetch_one(&mut conn).await.expect("newest commit");
    conn.close().await.ok();
    latest.remove().await;
    let rpo = (destroyed - last_commit).num_milliseconds() as f64 / 1000.0;

    let at_t = Restored::start(&t, dir.join("restore/drill-at-t/data"), 5444).await;
    let mut conn = at_t.connect(&database).await;
    let committed: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM orders WHERE tenant_id = $1 AND status = 'committed' AND id = ANY($2)")
            .bind(shop.id)
            .bind(&before_t)
            .fetch_all(&mut conn)
            .await
            .expect("orders at T");
    let marker_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE id = $1")
        .bind(marker)
        .fetch_one(&mut conn)
        .await
        .expect("marker");
    conn.close().await.ok();
    at_t.remove().await;

    eprintln!(
        "pitr drill: T = {t}; {} orders committed before T, {} of them restored committed; marker after T restored: {}; \
         last archived segment {segment}; RPO {rpo:.1} s (newest commit in the archive {last_commit}, primary \
         killed {destroyed}; archive_timeout {archive_timeout}); RTO {:.1} s (kill to a restored primary taking writes)",
        before_t.len(),
        committed.len(),
        marker_rows > 0,
        rto.as_secs_f64()
    );
    // The cluster back to a primary and a standby before judging, so that a
    // failed drill does not fail the cluster tests after it.
    script("cluster", &["pg-promote"]).await;
    script("cluster", &["pg-rejoin"]).await;
    p.stop().await;
    assert_eq!(committed.len(), before_t.len(), "every order committed before T is back");
    assert_eq!(marker_rows, 0, "the marker written after T is not");
}
