//! The operator CLI (`workers dlq ...`) across tenants: list, dry run,
//! rate-limited replay, a second replay that does nothing, raw dead letters.

use harness::{Pipeline, eventually, order, uuid};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn the_cli_replays_500_failed_syncs_at_the_requested_rate_and_a_second_run_is_a_no_op() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 0).await;
    for _ in 0..2 {
        let orders: Vec<_> = (0..250).map(|_| order(&[(product, 1, 1_000)])).collect();
        let reply = p.post(&shop.token, "/api/sync/orders", &json!({ "deviceId": "till-o", "orders": orders })).await;
        assert_eq!(reply.status, 202);
    }
    p.drained(Duration::from_secs(60)).await;
    assert_eq!(p.count("SELECT count(*) FROM failed_syncs WHERE status = 'open'").await, 500);
    let tenant = shop.id.to_string();

    let (ok, listed, _) = p
        .cli(&["dlq", "list", "--tenant", &tenant, "--reason", "insufficient_stock", "--json", "--limit", "1000"])
        .await;
    assert!(ok);
    assert_eq!(listed.lines().count(), 500, "one JSON line per failed sync");
    let first: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap_or("{}")).expect("JSON line");
    assert_eq!(first["reasonCode"], "insufficient_stock");

    let snapshot = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT md5(string_agg(f::text, ',' ORDER BY f.id)) FROM failed_syncs f",
        )
        .fetch_one(&p.db)
        .await
        .expect("snapshot")
    };
    let before = snapshot().await;
    let (ok, dry, _) = p.cli(&["dlq", "replay", "--tenant", &tenant, "--dry-run"]).await;
    assert!(ok, "{dry}");
    assert!(dry.contains("dry run: 500 would be replayed"), "{dry}");
    // A barrier: an order sent now settles after anything the dry run might have queued.
    let barrier = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    p.settled(uuid(&barrier.body["orderId"])).await;
    assert_eq!(p.count("SELECT count(*) FROM failed_sync_events").await, 0, "a dry run changes nothing");
    assert_eq!(snapshot().await, before, "no attempt, time or status of a failed sync changed");

    p.post(
        &shop.token,
        &format!("/api/products/{product}/stock-adjustments"),
        &json!({ "delta": 500, "reason": "restock" }),
    )
    .await;
    let (ok, out, took) = p.cli(&["dlq", "replay", "--tenant", &tenant, "--rate", "100"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("replayed 500, skipped 0, failed 0"), "{out}");
    assert!(took >= Duration::from_secs(5), "500 at 100/s take at least 5 s, took {took:?}");
    let (ok, again, _) = p.cli(&["dlq", "replay", "--tenant", &tenant, "--rate", "100"]).await;
    assert!(ok);
    assert!(again.contains("replayed 0, skipped 0, failed 0"), "the second run is a no-op: {again}");

    eventually("all 500 committed", Duration::from_secs(60), || async {
        (p.count("SELECT count(*) FROM orders WHERE status = 'committed'").await == 500).then_some(())
    })
    .await;
    assert_eq!(p.count("SELECT count(*) FROM failed_syncs WHERE status = 'resolved'").await, 500);
    assert_eq!(
        p.count("SELECT count(*) FROM failed_sync_events WHERE action = 'retried' AND by = 'operator:test-operator'")
            .await,
        500
    );
    assert_eq!(p.stock(product).await, 0);
    p.assert_books_balance().await;
    p.stop().await;
}

#[tokio::test]
async fn dead_letters_that_are_not_orders_are_listed_raw_and_can_be_discarded() {
    let p = Pipeline::start().await;
    p.broker.publish_raw(b"{\"not\": \"an order\"}", lapin::BasicProperties::default()).await.expect("publish");
    let id = eventually("the dead letter recorded", Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM dead_letters").fetch_optional(&p.db).await.ok().flatten()
    })
    .await;
    let (ok, listed, _) = p.cli(&["dlq", "list", "--raw", "--json"]).await;
    assert!(ok);
    let line: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap_or("{}")).expect("JSON");
    assert_eq!(line["body"], "{\"not\": \"an order\"}");
    assert_eq!(uuid(&line["id"]), id);
    assert!(line["headers"].is_object());
    let (ok, shown, _) = p.cli(&["dlq", "show", &id.to_string()]).await;
    assert!(ok && shown.contains("an order"), "{shown}");
    let (ok, out, _) = p.cli(&["dlq", "discard", &id.to_string(), "--reason", "test junk"]).await;
    assert!(ok, "{out}");
    let status: String = sqlx::query_scalar("SELECT status FROM dead_letters WHERE id = $1")
        .bind(id)
        .fetch_one(&p.db)
        .await
        .expect("row");
    assert_eq!(status, "discarded");
    let (ok, out, _) = p.cli(&["dlq", "discard", &id.to_string(), "--reason", "again"]).await;
    assert!(!ok, "nothing left to discard exits non-zero: {out}");
    let (ok, _, _) = p.cli(&["dlq", "show", &uuid::Uuid::now_v7().to_string()]).await;
    assert!(!ok);
    p.stop().await;
}

/// A raw dead letter replayed by the operator goes back on the order queue
/// as a fresh first attempt: the original is marked replayed, by whom, and
/// the body, still no order, comes back as a new dead letter rather than
/// vanishing. The same id cannot be replayed twice.
#[tokio::test]
async fn a_raw_dead_letter_replayed_comes_back_once_and_is_never_lost() {
    let p = Pipeline::start().await;
    let body = b"{\"still\": \"not an order\"}";
    p.broker.publish_raw(body, lapin::BasicProperties::default()).await.expect("publish");
    let id = eventually("the dead letter recorded", Duration::from_secs(20), || async {
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM dead_letters").fetch_optional(&p.db).await.ok().flatten()
    })
    .await;
    let (ok, listed, _) = p.cli(&["dlq", "list", "--raw"]).await;
    assert!(ok && listed.contains(&id.to_string()) && listed.contains("1 dead letter(s)"), "{listed}");

    let (ok, out, _) = p.cli(&["dlq", "replay", &id.to_string()]).await;
    assert!(ok && out.contains("replayed 1, skipped 0, failed 0"), "{out}");
    let (status, by): (String, Option<String>) =
        sqlx::query_as("SELECT status, resolved_by FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_one(&p.db)
            .await
            .expect("row");
    assert_eq!(status, "replayed");
    assert!(by.is_some_and(|by| by.contains("test-operator")), "who replayed it is kept");
    let again: Vec<u8> = eventually("the replayed body dead-lettered again", Duration::from_secs(20), || async {
        sqlx::query_scalar("SELECT body FROM dead_letters WHERE id <> $1 AND status = 'open'")
            .bind(id)
            .fetch_optional(&p.db)
            .await
            .ok()
            .flatten()
    })
    .await;
    assert_eq!(again, body, "the same body, not lost");

    let (ok, out, _) = p.cli(&["dlq", "replay", &id.to_string()]).await;
    assert!(!ok && out.contains("no open failed sync or dead letter"), "a second replay exits non-zero: {out}");
    p.stop().await;
}
