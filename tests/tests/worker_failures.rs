//! Failures that must stay contained: one order stuck on a lock costs only
//! itself an attempt; a dead letter that cannot be recorded is still
//! settled; the pending sweep holds no row locks while it publishes; the
//! parking queue never drops what it holds.

use harness::{Options, Pipeline, eventually, order, uuid};
use lapin::BasicProperties;
use std::time::Duration;

/// A counter's value from a worker's `/metrics` (0 when absent).
async fn metric(p: &Pipeline, base: &str, series: &str) -> f64 {
    let text = p.http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn one_order_timing_out_on_a_held_product_costs_only_itself_an_attempt() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let (held, free) = (p.product(&shop, 1_000, 10).await, p.product(&shop, 1_000, 1_000).await);
    let mut orders = Vec::new();
    for i in 0..100 {
        let product = if i == 50 { held } else { free };
        let placed = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
        assert_eq!(placed.status, 202, "{}", placed.body);
        orders.push(uuid(&placed.body["orderId"]));
    }
    // Someone else holds the product's row (a long back-office transaction).
    let mut holder = p.db.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE")
        .bind(held)
        .execute(&mut *holder)
        .await
        .expect("lock");
    let env = [
        ("WORKER_BATCH_SIZE", "100"),
        ("WORKER_BATCH_LINGER", "1s"),
        ("WORKER_CONCURRENCY", "1"),
        ("ORDER_TRANSACTION_TIMEOUT", "1s"),
    ];
    let worker = p.spawn_worker_with_port("isolating", &env, None).await;
    let retries = "warungin_messages_total{outcome=\"retry\"}";
    let retried = eventually("99 orders committed and the batch settled", Duration::from_secs(120), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'committed'")
            .fetch_one(&p.db)
            .await
            .expect("count");
        let retried = metric(&p, &worker.base_url, retries).await;
        (n == 99 && retried >= 1.0).then_some(retried)
    })
    .await;
    // The held order alone is retried: once when its batch settled, twice if
    // its copy came back (after 200 ms) and timed out (1 s) again meanwhile.
    // Before, every one of the 100 was.
    assert!(retried <= 2.0, "{retried} retries: only the order on the held product may be retried");
    assert_eq!(p.order_status(orders[50]).await.as_deref(), Some("pending"));
    holder.rollback().await.expect("release");
    p.reaches(orders[50], "committed").await;
    p.assert_books_balance().await;
    p.stop().await;
}

/// Faults in the test's own database (as its owner): every failed-sync write
/// is refused, and so are the first `raw_refusals` raw dead-letter inserts.
async fn refuse_dead_letter_writes(p: &Pipeline, raw_refusals: i64) {
    let faults = format!(
        "CREATE SEQUENCE dead_letter_inserts;
         CREATE FUNCTION refuse_failed_sync() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'injected fault: failed syncs refused'; END $$;
         CREATE TRIGGER refuse_failed_sync BEFORE INSERT OR UPDATE ON failed_syncs
             FOR EACH ROW EXECUTE FUNCTION refuse_failed_sync();
         CREATE FUNCTION refuse_dead_letter() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
         BEGIN
             IF nextval('dead_letter_inserts') <= {raw_refusals} THEN
                 RAISE EXCEPTION 'injected fault: dead letter insert refused';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_dead_letter BEFORE INSERT ON dead_letters
             FOR EACH ROW EXECUTE FUNCTION refuse_dead_letter();"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(faults)).execute(&p.db).await.expect("installing the faults");
}

#[tokio::test]
async fn a_dead_letter_that_cannot_be_recorded_at_first_is_settled_and_recorded_on_redelivery() {
    let p = Pipeline::start().await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    refuse_dead_letter_writes(&p, 1).await;
    let tenant = common::ids::TenantId(shop.id);
    let message = common::message::Message::Order(harness::commit::order_message(
        tenant,
        &[(product, 1)],
        common::order::Source::Offline,
        None,
    ));
    let properties = common::broker::headers::with_headers(
        &common::broker::headers::for_message(&message, 4),
        &[(common::broker::headers::FAILURE_CODE, lapin::types::AMQPValue::LongString("retries_exhausted".into()))],
    );
    let dlx = p.broker.topology.dead_letter_exchange();
    p.broker.publish_to(&dlx, "", &[(message.encode(), properties)]).await.expect("dead-lettering");
    // As an order it can never be recorded (failed syncs are refused); kept
    // raw it can, once its first raw insert has failed.
    let note: Option<String> = eventually("the dead letter recorded raw", Duration::from_secs(30), || async {
        sqlx::query_scalar("SELECT note FROM dead_letters").fetch_optional(&p.db).await.expect("dead letters")
    })
    .await;
    assert!(note.unwrap_or_default().contains("failed syncs refused"), "the note says why it is kept raw");
    let dead = p.broker.topology.dead_letter_queue();
    eventually("the dead-letter queue to be settled", Duration::from_secs(10), || async {
        (p.broker.depth(&dead).await.ok()? == (0, 1)).then_some(())
    })
    .await;
    p.stop().await;
}

#[tokio::test]
async fn the_pending_sweep_holds_no_row_locks_while_it_waits_on_the_broker() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    let placed = p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await;
    let order_id = uuid(&placed.body["orderId"]);
    // Its message was lost an hour ago, as far as the sweep can tell.
    sqlx::query("UPDATE orders SET received_at = now() - interval '1 hour', updated_at = now() - interval '1 hour'")
        .execute(&p.db)
        .await
        .expect("ageing");
    let broker = harness::proxy::FaultProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port());
    let config = p.component_config("sweeper", &[("AMQP_URL", &url), ("PUBLISH_CONFIRM_TIMEOUT", "3s")]);
    let shutdown = common::shutdown::Shutdown::new();
    let publisher = common::broker::Publisher::start(&config.broker, "sweeper".into(), shutdown.clone());
    assert!(publisher.wait_connected(Duration::from_secs(10)).await, "the sweep's publisher connects");
    let pool = workers::pg::pool(&config.database.url, 2, Duration::from_secs(5)).expect("pool");
    broker.set(harness::proxy::Mode::Freeze);
    let sweeping = tokio::spawn({
        let (pool, publisher) = (pool.clone(), publisher.clone());
        async move { workers::sweep::sweep(&pool, &publisher, Duration::from_secs(60)).await.map_err(|e| e.to_string()) }
    });
    // While its publish hangs, the claim is committed and the row is free
    // for a worker's batch to lock.
    eventually("the sweep's claim to be committed", Duration::from_secs(10), || async {
        let claimed: bool =
            sqlx::query_scalar("SELECT updated_at > now() - interval '1 minute' FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_one(&p.db)
                .await
                .expect("claim");
        claimed.then_some(())
    })
    .await;
    let mut tx = p.db.begin().await.expect("begin");
    let locked =
        sqlx::query("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE NOWAIT").bind(order_id).execute(&mut *tx).await;
    assert!(locked.is_ok(), "the sweep holds the order's row while it publishes: {locked:?}");
    tx.rollback().await.expect("release");
    let swept = sweeping.await.expect("the sweep task");
    assert!(swept.is_err(), "a publish the broker never confirms fails the sweep: {swept:?}");
    broker.set(harness::proxy::Mode::Up);
    // The claim stands: the next sweep does not republish the same order at once.
    assert!(publisher.wait_connected(Duration::from_secs(20)).await, "reconnected");
    let again = workers::sweep::sweep(&pool, &publisher, Duration::from_secs(60)).await.expect("second sweep");
    assert_eq!(again, 0, "the claimed order waits a full period before it is republished");
    shutdown.cancel();
    p.stop().await;
}

#[tokio::test]
async fn a_message_requeued_past_the_parking_queues_limit_is_dead_lettered_not_dropped() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let topology = &p.broker.topology;
    let parking = topology.parking_queue();
    let parked = (b"a message even the recorder gave up on".to_vec(), BasicProperties::default());
    p.broker.publish_to(&parking, "", &[parked]).await.expect("parking a message");
    // An operator's tool (or a consumer bug) that takes it and gives it back, again and again.
    let taken = p.broker.bounce(&parking, 2_000).await.expect("bouncing");
    assert!(taken < 2_000, "the delivery limit ends the bouncing ({taken} deliveries)");
    let overflow = topology.parking_overflow_queue();
    eventually("the message in the overflow queue", Duration::from_secs(10), || async {
        (p.broker.depth(&overflow).await.ok()?.0 == 1).then_some(())
    })
    .await;
    p.stop().await;
}
