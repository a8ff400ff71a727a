//! Receipt numbers: gap-free and unique per tenant, outlet and day however
//! many worker processes commit, and a rolled-back commit takes none.

use common::message::Message;
use common::order::Source;
use harness::commit::{CommitDb, order_message};
use harness::{Options, Pipeline};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Receipt numbers by period: the sequence numbers each one was given.
fn sequences(numbers: &[String]) -> BTreeMap<String, Vec<u64>> {
    let mut by_period: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for number in numbers {
        let mut parts = number.rsplitn(3, '-');
        let seq = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a receipt number: {number}"));
        let period = parts.next().unwrap_or_default().to_owned();
        by_period.entry(period).or_default().push(seq);
    }
    by_period.values_mut().for_each(|s| s.sort_unstable());
    by_period
}

fn gap_free(by_period: &BTreeMap<String, Vec<u64>>) -> bool {
    by_period.values().all(|seqs| seqs.iter().copied().eq(1..=seqs.len() as u64))
}

#[tokio::test]
async fn ten_thousand_orders_from_four_worker_processes_are_numbered_without_gaps_or_repeats() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let products = [p.product(&shop, 2_500, 1_000_000).await, p.product(&shop, 7_000, 1_000_000).await];
    for i in 0..4 {
        p.adopt(p.spawn_worker_process(&format!("receipts-{i}"), &[]));
    }
    let orders: Vec<_> = (0..10_000)
        .map(|i: usize| {
            let product = products[i % 2];
            let price = if i.is_multiple_of(2) { 2_500 } else { 7_000 };
            json!({ "clientOrderId": Uuid::now_v7(), "items": [{ "productId": product, "quantity": 1, "price": price }],
                    "payment": { "method": "qris", "amount": price } })
        })
        .collect();
    for chunk in orders.chunks(500) {
        let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-r", "orders": chunk })).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    p.drained(Duration::from_secs(300)).await;
    assert_eq!(p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await, 10_000);
    let numbers: Vec<String> = sqlx::query_scalar("SELECT receipt_number FROM orders WHERE receipt_number IS NOT NULL")
        .fetch_all(&p.db)
        .await
        .expect("receipt numbers");
    assert_eq!(numbers.len(), 10_000, "every committed order has a number");
    let by_period = sequences(&numbers);
    assert!(
        gap_free(&by_period),
        "numbers per period must be 1..n: {:?}",
        by_period.values().map(Vec::len).collect::<Vec<_>>()
    );
    let batches: i64 = sqlx::query_scalar("SELECT count(DISTINCT applied_message_id) FROM orders")
        .fetch_one(&p.db)
        .await
        .expect("count");
    assert!(batches > 1, "many messages committed them");
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn a_rolled_back_batch_leaves_no_gap() {
    let c = CommitDb::create().await;
    let (tenant, products) = c.shop(&[100]).await;
    let product = products[0];
    let first: Vec<_> = (0..3).map(|_| order_message(tenant, &[(product, 1)], Source::Online, None)).collect();
    c.admit(&first.iter().collect::<Vec<_>>()).await;
    c.apply(&first.iter().cloned().map(Message::Order).collect::<Vec<_>>()).await.expect("first batch");
    // The second batch reads the stock unlocked (97), then an adjustment
    // takes all but 2: its first attempt, numbers taken, fails the stock
    // guard and rolls back; redone on locked rows, two commit, one is short.
    let second: Vec<_> = (0..3).map(|_| order_message(tenant, &[(product, 1)], Source::Online, None)).collect();
    c.admit(&second.iter().collect::<Vec<_>>()).await;
    let messages: Vec<Message> = second.iter().cloned().map(Message::Order).collect();
    let refs: Vec<&Message> = messages.iter().collect();
    let window = c.adjust(tenant, product, -95);
    let mut client = c.pool.get().await.expect("connection");
    let plan = workers::commit::store::apply_with_window(&mut client, &refs, window).await.expect("second batch");
    let kinds: Vec<_> = plan.effects.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, ["committed", "committed", "rejected"]);
    let numbers: Vec<String> = sqlx::query_scalar("SELECT receipt_number FROM orders WHERE status = 'committed'")
        .fetch_all(&c.db)
        .await
        .expect("numbers");
    let by_period = sequences(&numbers);
    assert!(gap_free(&by_period) && numbers.len() == 5, "{numbers:?}");
    let counter: i64 = sqlx::query_scalar("SELECT sum(last_number)::bigint FROM receipt_counters")
        .fetch_one(&c.db)
        .await
        .expect("counter");
    assert_eq!(counter, 5, "the rolled-back attempt's increment is gone");
    c.assert_books_balance().await;
    c.drop().await;
}
