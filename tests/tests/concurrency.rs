//! Many tills selling the last units at once: stock is never oversold.

use harness::{Options, Pipeline, order, uuid};
use std::time::{Duration, Instant};

#[tokio::test]
async fn two_hundred_orders_for_fifty_units_across_two_worker_processes() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 12_000, 50).await;
    // Small prefetch and batches, so both processes get a share of the burst.
    let small = [("WORKER_PREFETCH", "10"), ("WORKER_BATCH_SIZE", "5")];
    let mut workers = Vec::new();
    for label in ["a", "b"] {
        let worker = p.spawn_worker_with_port(label, &small, None).await;
        harness::eventually("the worker to consume", Duration::from_secs(20), || async {
            let ready = p.http.get(format!("{}/readyz", worker.base_url)).send().await.ok()?;
            ready.status().is_success().then_some(())
        })
        .await;
        workers.push(worker);
    }

    let started = Instant::now();
    let requests = (0..200).map(|_| {
        let body = order(&[(product, 1, 12_000)]);
        let (p, token) = (&p, shop.token.clone());
        async move { p.post(&token, "/api/orders", &body).await }
    });
    let replies = futures::future::join_all(requests).await;
    let accepted_in = started.elapsed();
    assert!(
        replies.iter().all(|r| r.status == 202),
        "every order is accepted: {:?}",
        replies.iter().find(|r| r.status != 202)
    );
    let ids: Vec<_> = replies.iter().map(|r| uuid(&r.body["orderId"])).collect();
    p.drained(Duration::from_secs(60)).await;
    let settled_in = started.elapsed();

    let committed = p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await;
    let rejected = p
        .count("SELECT count(*) FROM orders WHERE status = 'rejected' AND rejection_code = 'insufficient_stock'")
        .await;
    assert_eq!((committed, rejected), (50, 150));
    assert_eq!(p.stock(product).await, 0);
    assert_eq!(p.count("SELECT count(*) FROM orders").await, 200);
    assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 200);
    let ledger: i64 =
        sqlx::query_scalar("SELECT sum(delta)::bigint FROM stock_movements WHERE product_id = $1 AND kind = 'sale'")
            .bind(product)
            .fetch_one(&p.db)
            .await
            .unwrap_or_default();
    assert_eq!(ledger, -50, "the sale movements sum to the stock change");
    p.assert_books_balance().await;
    let consumers: Vec<i64> =
        sqlx::query_scalar("SELECT count(DISTINCT applied_message_id) FROM orders WHERE status <> 'pending'")
            .fetch_all(&p.db)
            .await
            .unwrap_or_default();
    assert_eq!(consumers, vec![200]);
    for worker in &workers {
        let metrics = p.http.get(format!("{}/metrics", worker.base_url)).send().await.expect("scrape");
        let text = metrics.text().await.unwrap_or_default();
        let settled: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with(r#"warungin_orders_total{status="committed"}"#)
                    || l.starts_with(r#"warungin_orders_total{status="rejected"}"#)
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        assert!(settled > 0.0, "both worker processes settled orders; {} settled none", worker.base_url);
    }
    println!(
        "200 orders: accepted in {:?} ({:.0}/s), all settled in {:?} ({:.0} orders/s end to end)",
        accepted_in,
        200.0 / accepted_in.as_secs_f64(),
        settled_in,
        200.0 / settled_in.as_secs_f64()
    );
    p.stop().await;
}
