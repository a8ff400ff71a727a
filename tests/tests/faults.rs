//! Faults on the shared services. These run serially, after the other
//! tests (`scripts/test` runs this file with one thread), and touch only
//! this test's own processes and connections (closed by name), so parallel
//! tests and a running demo are unharmed.

use harness::{Options, Pipeline, Tenant, eventually, order, uuid};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

#[tokio::test]
async fn fault_a_worker_killed_between_commit_and_ack_leads_to_one_effect() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 3_000, 10).await;
    let mut crashing = p.spawn_worker_process("crash", &[("WORKER_FAULT", "crash_after_commit")]);
    let placed = p.post(&shop.token, "/api/orders", &order(&[(product, 4, 3_000)])).await;
    let order_id = uuid(&placed.body["orderId"]);

    let exit = tokio::time::timeout(Duration::from_secs(30), crashing.child.wait())
        .await
        .expect("the worker died")
        .expect("exit status");
    assert!(!exit.success(), "the worker aborted after its commit");
    assert_eq!(p.order_status(order_id).await.as_deref(), Some("committed"), "the commit happened before the crash");
    // Unacknowledged, the message returns to the queue ...
    eventually("the message to be back in the queue", Duration::from_secs(20), || async {
        (p.broker.depth(&p.broker.topology.orders_queue()).await.ok()?.0 == 1).then_some(())
    })
    .await;
    // ... and a healthy worker consumes it without applying it again.
    p.start_worker().await;
    p.drained(Duration::from_secs(20)).await;
    assert_eq!(p.stock(product).await, 6);
    assert_eq!(p.count("SELECT count(*) FROM payments").await, 1);
    assert_eq!(p.count("SELECT count(*) FROM stock_movements WHERE kind = 'sale'").await, 1);
    p.assert_books_balance().await;
    p.stop().await;
}

/// A till that keeps selling and, like a POS, resends the same order on
/// 503 or a dropped connection until it is accepted.
async fn till(
    p: Arc<Pipeline>,
    shop: Tenant,
    product: Uuid,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<HashSet<Uuid>>>,
) -> usize {
    let mut retries = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = order(&[(product, 1, 1_000)]);
        loop {
            let reply = p.post(&shop.token, "/api/orders", &body).await;
            if reply.status == 202 {
                accepted.lock().await.insert(uuid(&reply.body["orderId"]));
                break;
            }
            assert_eq!(reply.status, 503, "only 503 while the broker is away: {}", reply.body);
            assert!(reply.headers.contains_key("retry-after"));
            retries += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    retries
}

#[tokio::test]
async fn fault_every_accepted_order_commits_after_broker_connections_are_force_closed() {
    let p = Arc::new(Pipeline::start_with(Options::workers(2)).await);
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 100_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let tills: Vec<_> =
        (0..4).map(|_| tokio::spawn(till(p.clone(), shop.clone(), product, stop.clone(), accepted.clone()))).collect();

    // Ingest's publisher, and each worker's consumer, publisher and dead-letter consumer.
    let connections = 1 + 2 * 3;
    let closed = p.broker.close_connections(connections).await.expect("closing connections");
    assert_eq!(closed, connections, "all of this pipeline's connections were closed");
    let before = accepted.lock().await.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed_again = p.broker.close_connections(connections).await.expect("closing connections");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut retries = 0;
    for till in tills {
        retries += till.await.expect("till task");
    }
    let accepted = accepted.lock().await.clone();
    assert!(accepted.len() > before, "orders were accepted after the connections came back");

    p.drained(Duration::from_secs(60)).await;
    let committed: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM orders WHERE status = 'committed'").fetch_all(&p.db).await.expect("orders");
    let committed: HashSet<Uuid> = committed.into_iter().collect();
    let missing: Vec<_> = accepted.difference(&committed).collect();
    assert!(missing.is_empty(), "every order that got 202 is committed; missing {missing:?}");
    assert_eq!(p.stock(product).await, 100_000 - i64::try_from(committed.len()).unwrap_or(0));
    p.assert_books_balance().await;
    println!(
        "{} orders accepted, {} committed; connections closed {closed} + {closed_again}; the tills retried {retries} times on 503",
        accepted.len(),
        committed.len()
    );
    if let Ok(p) = Arc::try_unwrap(p) {
        p.stop().await;
    }
}

#[tokio::test]
async fn fault_orders_commit_after_the_workers_database_sessions_are_terminated() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 1_000).await;
    p.adopt(p.spawn_worker_process("db", &[]));
    let first = p.post(&shop.token, "/api/orders?wait=10000", &order(&[(product, 1, 1_000)])).await;
    assert_eq!(first.status, 201, "the worker process commits: {}", first.body);

    let prefix = format!("{}-proc-db", p.database_name());
    let killed = harness::db::terminate_sessions(p.database_name(), &prefix).await.expect("terminating sessions");
    assert!(killed >= 1, "the worker's sessions were terminated");
    let bodies: Vec<_> = (0..50).map(|_| order(&[(product, 1, 1_000)])).collect();
    let replies = futures::future::join_all(bodies.iter().map(|b| p.post(&shop.token, "/api/orders", b))).await;
    assert!(replies.iter().all(|r| r.status == 202));
    p.drained(Duration::from_secs(60)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await, 51);
    assert_eq!(p.stock(product).await, 949);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn fault_sigterm_to_each_worker_in_turn_while_2000_orders_stream_in_loses_and_duplicates_nothing() {
    let p = Arc::new(Pipeline::start_with(Options::workers(0)).await);
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 100_000).await;
    let mut workers =
        vec![p.spawn_worker_with_port("a", &[], None).await, p.spawn_worker_with_port("b", &[], None).await];
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let target = 2_000;
    let tills: Vec<_> = (0..4)
        .map(|_| {
            let (p, shop, accepted) = (p.clone(), shop.clone(), accepted.clone());
            tokio::spawn(async move {
                while accepted.lock().await.len() < target {
                    let reply = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
                    assert_eq!(reply.status, 202, "{}", reply.body);
                    accepted.lock().await.insert(uuid(&reply.body["orderId"]));
                }
            })
        })
        .collect();
    for (turn, threshold) in [(0, 400), (1, 1_000)] {
        eventually("orders streaming in", Duration::from_secs(60), || async {
            (accepted.lock().await.len() >= threshold).then_some(())
        })
        .await;
        let status = workers[turn].terminate().await;
        assert!(status.success(), "worker {turn} drained and exited cleanly on SIGTERM: {status}");
        workers[turn] = p.spawn_worker_with_port(&format!("{turn}-again"), &[], None).await;
    }
    for till in tills {
        till.await.expect("till");
    }
    p.drained(Duration::from_secs(60)).await;
    let accepted = accepted.lock().await.len();
    let committed = p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await;
    assert_eq!(i64::try_from(accepted).unwrap_or(0), committed, "every 202 committed");
    assert_eq!(p.count("SELECT count(*) FROM payments").await, committed, "exactly once");
    assert_eq!(p.stock(product).await, 100_000 - committed);
    p.assert_books_balance().await;
    drop(workers);
    if let Ok(p) = Arc::try_unwrap(p) {
        p.stop().await;
    }
}

/// The fault run's checker can fail: a deliberately broken build (workers
/// that ack before they commit, and no pending sweep to hide it) loses the
/// orders of the batches a `kill -9` interrupts, and the run says so.
#[tokio::test]
async fn fault_the_checker_catches_a_worker_that_acks_before_commit() {
    let out = std::env::temp_dir().join(format!("warungin-chaos-broken-{}", uuid::Uuid::now_v7()));
    let run = tokio::process::Command::new(harness::binary("chaos"))
        .args(["--worker-fault", "ack_before_commit", "--republish-after", "1h", "--kinds", "kill-worker"])
        .args(["--rounds", "4", "--gap", "1s", "--drain", "20s", "--seed", "7", "--out"])
        .arg(&out)
        .output()
        .await
        .expect("running the chaos binary");
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(!run.status.success(), "the checker must fail a broken build:\n{printed}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json")).expect("report");
    let lost_or_stuck =
        report["verdict"]["lost"].as_u64().unwrap_or(0) + report["verdict"]["stuck"].as_u64().unwrap_or(0);
    assert!(lost_or_stuck > 0, "orders acked before their commit were lost with the killed workers:\n{printed}");
    assert_eq!(report["fault_errors"], 0, "every fault was injected");
    println!("{printed}");
    let _ = std::fs::remove_dir_all(&out);
}
