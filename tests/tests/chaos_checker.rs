//! The fault run's checker always ends with a verdict: a check that cannot
//! be made (here the daily report's endpoint hangs) is a finding, named,
//! that fails the run, and the other checks are still made. A closed day
//! whose report changed fails it too.

use harness::chaos::checker::History;
use harness::chaos::closed_day::ClosedDay;
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

    let day = ClosedDay { date: "2026-12-01".into(), kept: serde_json::Value::Null };
    let verdict = verdict::check(&history, &books, &hanging, Ok(&day)).await;

    assert_eq!(verdict.failed_checks, 2, "{:?}", verdict.examples);
    assert!(!verdict.ok(), "a check that could not be made fails the run");
    for check in ["the daily reports", "the closed day's report"] {
        let named = format!("CHECK FAILED: checking {check} failed");
        assert!(verdict.examples.iter().any(|e| e.starts_with(&named)), "names {check}: {:?}", verdict.examples);
    }
    // The books were still checked: the order is there, once.
    assert_eq!(verdict.by_status.get("committed"), Some(&1));
    assert_eq!(verdict.lost + verdict.duplicated + verdict.unexpected + verdict.stuck, 0);
    let _ = std::fs::remove_dir_all(&logs);
    p.stop().await;
}

#[tokio::test]
async fn a_day_whose_report_changes_after_it_was_kept_fails_the_verdict() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 5_000, 10).await;
    let (first, second) = (order(&[(product, 1, 5_000)]), order(&[(product, 2, 5_000)]));
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &first).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    let date: String =
        sqlx::query_scalar("SELECT (now() AT TIME ZONE timezone)::date::text FROM tenants WHERE id = $1")
            .bind(shop.id)
            .fetch_one(&p.db)
            .await
            .expect("the shop's day");
    let reports = Target { http: p.http.clone(), base: p.base_url.clone(), token: shop.token.clone(), history: None };
    let kept = p.get(&shop.token, &format!("/api/reports/daily-sales?date={date}")).await.body;
    let day = ClosedDay { date, kept };

    let ids = [uuid(&first["clientOrderId"]), uuid(&second["clientOrderId"])];
    let logs = std::env::temp_dir().join(format!("{}-logs", p.database_name()));
    std::fs::create_dir_all(&logs).expect("log directory");
    let books = Books { db: &p.db, broker: &p.broker, tenant: shop.id, initial: &HashMap::new(), logs: &logs };
    let history = History { requests: 1, sent: [ids[0]].into(), accepted: [ids[0]].into(), ..History::default() };
    let unchanged = verdict::check(&history, &books, &reports, Ok(&day)).await;
    assert_eq!(unchanged.closed_day_changes, 0, "{:?}", unchanged.examples);

    // Something new dated in the kept day: the checker sees the report move.
    let placed = p.post(&shop.token, "/api/orders?wait=10000", &second).await;
    assert_eq!(placed.body["status"], "committed", "{}", placed.body);
    let history = History { requests: 2, sent: ids.into(), accepted: ids.into(), ..History::default() };
    let changed = verdict::check(&history, &books, &reports, Ok(&day)).await;
    assert_eq!(changed.closed_day_changes, 1, "{:?}", changed.examples);
    assert!(!changed.ok());
    assert!(changed.examples.iter().any(|e| e.contains("changed: kept")), "{:?}", changed.examples);
    let _ = std::fs::remove_dir_all(&logs);
    p.stop().await;
}
