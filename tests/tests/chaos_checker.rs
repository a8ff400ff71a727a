//! The fault run's checker always ends with a verdict: a check that cannot
//! be made (here the daily report's endpoint hangs) is a finding, named,
//! that fails the run, and the other checks are still made.

use harness::chaos::checker::History;
use harness::chaos::verdict::{self, Books};
use harness::loadgen::Target;
use harness::{Pipeline, order, uuid};
use std::collections::HashMap;
use std::time::Duration;

/// An HTTP server that accepts connections and never answers.
async fn hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_report_call_that_hangs_is_a_named_finding_in_a_failing_verdict_not_a_crash() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 10).await;
    let body = order(&[(product, 2, 5_000)]);
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &body).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    p.settled(uuid(&placed.body["orderId"])).await;

    let client_id = uuid(&body["clientOrderId"]);
    let history = History { requests: 1, sent: [client_id].into(), accepted: [client_id].into(), ..History::default() };
    let logs = std::env::temp_dir().join(format!("{}-logs", p.database_name()));
    std::fs::create_dir_all(&logs).expect("log directory");
    let books = Books { db: &p.db, broker: &p.broker, tenant: shop.id, initial: &HashMap::new(), logs: &logs };
    let hanging = Target {
        http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client"),
        base: hanging_server().await,
        token: shop.token.clone(),
        history: None,
    };

    let verdict = verdict::check(&history, &books, &hanging).await;

    assert_eq!(verdict.failed_checks, 1, "{:?}", verdict.examples);
    assert!(!verdict.ok(), "a check that could not be made fails the run");
    assert!(
        verdict.examples[0].starts_with("CHECK FAILED: checking the daily reports failed"),
        "the finding names the check: {:?}",
        verdict.examples
    );
    // The books were still checked: the order is there, once.
    assert_eq!(verdict.by_status.get("committed"), Some(&1));
    assert_eq!(verdict.lost + verdict.duplicated + verdict.unexpected + verdict.stuck, 0);
    let _ = std::fs::remove_dir_all(&logs);
    p.stop().await;
}
