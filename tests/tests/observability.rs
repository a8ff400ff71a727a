//! What an operator sees: metrics with the right counts, queue depth when
//! workers are gone, one request id from HTTP to commit, and health checks
//! that answer within their budget whatever hangs, with about one broker
//! round trip a second however many call.

use harness::proxy::{FaultProxy, Mode};
use harness::{Options, Pipeline, eventually, order, uuid};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Prometheus text → "name{labels}" → value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v))))
        .collect()
}

async fn scrape(p: &Pipeline, base: &str) -> HashMap<String, f64> {
    parse(&p.http.get(format!("{base}/metrics")).send().await.expect("scrape").text().await.unwrap_or_default())
}

fn value(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    metrics.get(series).copied().unwrap_or_else(|| panic!("{series} is missing"))
}

#[tokio::test]
async fn metrics_count_a_mixed_run_and_queue_depth_rises_when_the_worker_is_gone() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let poll = [("METRICS_POLL_INTERVAL", "200ms")];
    let ingest = p.spawn_ingest_process("m", &poll, None).await;
    let mut worker = p.spawn_worker_with_port("m", &[], None).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 5).await;
    let at = |path: &str| format!("{}{path}", ingest.base_url);
    let post = |path: &'static str, body: serde_json::Value| {
        let request = p.http.post(at(path)).bearer_auth(&shop.token).json(&body);
        async move { request.send().await.expect("request").json::<serde_json::Value>().await.unwrap_or_default() }
    };
    let first = order(&[(product, 1, 1_000)]);
    let committed = [
        post("/api/orders?wait=10000", first.clone()).await,
        post("/api/orders?wait=10000", order(&[(product, 1, 1_000)])).await,
    ];
    post("/api/orders?wait=10000", order(&[(product, 1, 1_000)])).await;
    post("/api/orders?wait=10000", order(&[(product, 1, 999)])).await;
    post("/api/orders", first).await;
    let synced = post("/api/sync/orders", json!({ "deviceId": "t", "orders": [order(&[(product, 10, 1_000)])] })).await;
    p.settled(uuid(&synced["results"][0]["orderId"])).await;
    let cancelled = uuid(&committed[0]["orderId"]);
    post_cancel(&p, &ingest.base_url, &shop.token, cancelled).await;
    p.reaches(cancelled, "cancelled").await;

    let i = eventually("the failed-sync gauge", Duration::from_secs(10), || async {
        let m = scrape(&p, &ingest.base_url).await;
        (m.get(r#"warungin_failed_syncs_open{reason="insufficient_stock"}"#) == Some(&1.0)).then_some(m)
    })
    .await;
    assert_eq!(value(&i, r#"warungin_orders_total{status="accepted"}"#), 5.0);
    assert_eq!(value(&i, r#"warungin_orders_total{status="duplicate"}"#), 1.0);
    assert!(
        value(&i, r#"warungin_api_request_duration_seconds_count{route="/api/orders",method="POST",status="201"}"#)
            >= 3.0
    );
    assert_eq!(
        value(
            &i,
            r#"warungin_api_request_duration_seconds_count{route="/api/orders/{id}/cancel",method="POST",status="202"}"#
        ),
        1.0
    );
    assert!(!i.keys().any(|k| k.contains(&cancelled.to_string())), "no raw ids in labels");
    assert!(i.keys().any(|k| k.starts_with("warungin_api_request_duration_seconds_bucket{")), "a real histogram");
    // Four orders, one offline order and one cancel (the duplicate of a committed order is not republished).
    assert_eq!(value(&i, "warungin_publish_confirm_seconds_count"), 6.0);
    let orders_queue = p.broker.topology.orders_queue();
    assert_eq!(value(&i, &format!(r#"warungin_queue_consumers{{queue="{orders_queue}"}}"#)), 1.0);
    assert!(i.contains_key(&format!(
        r#"warungin_queue_depth{{queue="{}",state="ready"}}"#,
        p.broker.topology.dead_letter_queue()
    )));
    assert!(i.contains_key("warungin_oldest_pending_order_seconds"));
    assert!(i.contains_key("process_resident_memory_bytes"));

    assert_eq!(value(&i, r#"warungin_errors_total{kind="internal"}"#), 0.0);
    assert!(i.contains_key(&format!(r#"warungin_queue_depth{{queue="{orders_queue}",state="unacked"}}"#)));
    for state in ["in_use", "idle"] {
        assert!(i.contains_key(&format!(r#"warungin_db_pool_connections{{state="{state}"}}"#)), "ingest pool {state}");
    }

    // A poison message: dead-lettered and counted as an error, by kind.
    p.broker.publish_raw(b"not an order", lapin::BasicProperties::default()).await.expect("garbage");
    let w = eventually("the worker to count the poison message", Duration::from_secs(10), || async {
        let w = scrape(&p, &worker.base_url).await;
        (w.get(r#"warungin_errors_total{kind="undecodable"}"#) == Some(&1.0)).then_some(w)
    })
    .await;
    for state in ["in_use", "idle", "waiting"] {
        assert!(w.contains_key(&format!(r#"warungin_db_pool_connections{{state="{state}"}}"#)), "worker pool {state}");
    }
    for (status, count) in [("committed", 3.0), ("rejected", 1.0), ("failed", 1.0), ("cancelled", 1.0)] {
        assert_eq!(value(&w, &format!(r#"warungin_orders_total{{status="{status}"}}"#)), count, "{status}");
    }
    assert_eq!(value(&w, "warungin_order_duration_seconds_count"), 3.0);
    assert!(value(&w, "warungin_stock_lock_wait_seconds_count") >= 5.0);
    assert!(value(&w, "warungin_worker_batch_size_count") >= 5.0);
    assert_eq!(value(&w, r#"warungin_messages_total{outcome="ack"}"#), 6.0, "one ack per message");
    assert_eq!(value(&w, r#"warungin_stock_updates_total{kind="sale"}"#), 3.0);

    // Every metric a dashboard or an alert uses is one the binaries export.
    let exported: std::collections::HashSet<String> =
        i.keys().chain(w.keys()).map(|k| k.split('{').next().unwrap_or_default().to_owned()).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("deploy/prometheus/alerts.yml")];
    files.extend(
        std::fs::read_dir(root.join("deploy/grafana/dashboards"))
            .expect("dashboards")
            .filter_map(|e| e.ok().map(|e| e.path())),
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for name in metric_names(&text) {
            assert!(exported.contains(&name), "{} uses {name}, which no binary exports", file.display());
        }
    }

    // The worker goes away while orders keep coming: the queue grows, no one consumes.
    assert!(worker.terminate().await.success(), "graceful exit");
    for _ in 0..5 {
        post("/api/orders", order(&[(product, 1, 1_000)])).await;
    }
    eventually("the order queue to show 5 ready and no consumer", Duration::from_secs(10), || async {
        let m = scrape(&p, &ingest.base_url).await;
        let ready = m.get(&format!(r#"warungin_queue_depth{{queue="{orders_queue}",state="ready"}}"#)).copied();
        let consumers = m.get(&format!(r#"warungin_queue_consumers{{queue="{orders_queue}"}}"#)).copied();
        (ready == Some(5.0) && consumers == Some(0.0)).then_some(())
    })
    .await;
    p.stop().await;
}

/// Metric names in a rules or dashboard file (`warungin_…`, `process_…`).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for prefix in ["warungin_", "process_"] {
        for (at, _) in text.match_indices(prefix) {
            let boundary = text[..at].chars().last().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let name: String =
                text[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            if boundary && !name.ends_with('_') {
                names.insert(name);
            }
        }
    }
    names
}

async fn post_cancel(p: &Pipeline, base: &str, token: &str, order: uuid::Uuid) {
    let reply = p
        .http
        .post(format!("{base}/api/orders/{order}/cancel"))
        .bearer_auth(token)
        .json(&json!({ "reason": "x" }))
        .send()
        .await
        .expect("cancel");
    assert_eq!(reply.status().as_u16(), 202);
}

#[tokio::test]
async fn one_request_id_is_in_the_ingest_log_and_in_the_workers_commit_log() {
    let p = Pipeline::start_with(Options::workers(0)).await;
    let dir = std::env::temp_dir().join(format!("warungin-logs-{}", p.database_name()));
    std::fs::create_dir_all(&dir).expect("log dir");
    let json_logs = [("LOG_FORMAT", "json"), ("LOG_LEVEL", "info")];
    let ingest = p.spawn_ingest_process("log", &json_logs, Some(&dir.join("ingest.log"))).await;
    let _worker = p.spawn_worker_with_port("log", &json_logs, Some(&dir.join("worker.log"))).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 5).await;
    let request_id = format!("trace-{}", uuid::Uuid::now_v7());
    let reply = p
        .http
        .post(format!("{}/api/orders?wait=10000", ingest.base_url))
        .bearer_auth(&shop.token)
        .header("X-Request-Id", &request_id)
        .json(&order(&[(product, 1, 1_000)]))
        .send()
        .await
        .expect("order");
    assert_eq!(reply.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some(request_id.as_str()));
    assert_eq!(reply.status().as_u16(), 201);
    let line = |file: &str, message: &str| {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        text.lines().find(|l| l.contains(&request_id) && l.contains(message)).map(str::to_owned)
    };
    let accepted =
        eventually("the ingest log line", Duration::from_secs(10), || async { line("ingest.log", "order accepted") })
            .await;
    let committed = eventually("the worker's commit log line", Duration::from_secs(10), || async {
        line("worker.log", "order committed")
    })
    .await;
    for text in [&accepted, &committed] {
        let parsed: serde_json::Value = serde_json::from_str(text).expect("a JSON log line");
        assert!(parsed.to_string().contains(&shop.id.to_string()), "tenant_id is logged: {text}");
        assert!(parsed.get("order_id").is_some(), "order_id is logged: {text}");
        assert!(parsed.get("client_order_id").is_some(), "client_order_id is logged: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    p.stop().await;
}

async fn health(p: &Pipeline) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let reply = p.call(reqwest::Method::GET, "/api/health", None, None).await;
    (reply.status, reply.body, started.elapsed())
}

/// Health's own deadline, with a margin for a loaded machine.
const HEALTH_BOUND: Duration = Duration::from_millis(ingest::http::routes::health::CHECK_BUDGET.as_millis() as u64 * 2);

/// Poll health until `wanted` holds (a fresh probe: results are reused for
/// a second), checking that every answer came within its bound.
async fn health_until(
    p: &Pipeline,
    what: &str,
    wanted: impl Fn(u16, &serde_json::Value) -> bool,
) -> (u16, serde_json::Value) {
    eventually(what, Duration::from_secs(30), || async {
        let (status, body, took) = health(p).await;
        assert!(took < HEALTH_BOUND, "{what}: answered in {took:?}, over {HEALTH_BOUND:?}");
        wanted(status, &body).then_some((status, body))
    })
    .await
}

#[tokio::test]
async fn health_answers_within_its_budget_whatever_is_down_or_hung() {
    let broker = FaultProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let redis = FaultProxy::start("127.0.0.1:6379".parse().expect("addr")).await;
    let database = FaultProxy::start("127.0.0.1:5432".parse().expect("addr")).await;
    let probe = Pipeline::start_with(Options::workers(0)).await;
    let db_url = harness::db::url_as(probe.database_name(), &harness::db::app_userinfo())
        .expect("url")
        .replace(":5432/", &format!(":{}/", database.port()));
    let options = Options::workers(0)
        .with_env("AMQP_URL", &format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port()))
        .with_env("REDIS_URL", &format!("redis://127.0.0.1:{}", redis.port()))
        .with_env("DATABASE_URL", &db_url);
    let p = Pipeline::start_with(options).await;
    let (status, body, _) = health(&p).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")), "{body}");
    for check in ["db", "rabbitmq", "redis", "disk"] {
        assert_eq!(body["checks"][check], "ok", "{check}");
    }

    broker.set(Mode::Down);
    let (_, body) = health_until(&p, "health to see the broker down", |status, _| status == 503).await;
    assert_eq!(body["status"], "down");
    assert_ne!(body["checks"]["rabbitmq"], "ok");
    assert_eq!(body["checks"]["db"], "ok");
    let orders = p.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(orders.status, 503);
    broker.set(Mode::Up);
    health_until(&p, "health to recover with the broker", |status, _| status == 200).await;
    // A broker that hangs under an open connection: the check's own round trip times out.
    broker.set(Mode::Freeze);
    let (_, body) = health_until(&p, "health to see a hung broker", |status, _| status == 503).await;
    assert_ne!(body["checks"]["rabbitmq"], "ok");
    broker.set(Mode::Up);
    health_until(&p, "health to recover after the hang", |status, _| status == 200).await;

    for mode in [Mode::Hang, Mode::Down] {
        redis.set(mode);
        let (_, body) =
            health_until(&p, &format!("health to see redis {mode:?}"), |_, body| body["checks"]["redis"] != "ok").await;
        assert_eq!(body["status"], "degraded", "redis {mode:?}: {body}");
    }
    redis.set(Mode::Up);

    database.set(Mode::Hang);
    let (status, body) =
        health_until(&p, "health to see a hung database", |_, body| body["checks"]["db"] != "ok").await;
    assert_eq!(status, 503, "{body}");
    database.set(Mode::Up);
    p.stop().await;
    probe.stop().await;
}

/// The options of a pipeline whose broker is behind `broker`, with the
/// metrics poller quiet after its first round (so that broker traffic is health's).
fn behind(broker: &FaultProxy) -> Options {
    Options::workers(0)
        .with_env("AMQP_URL", &format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port()))
        .with_env("METRICS_POLL_INTERVAL", "1h")
}

/// Channels the broker lists on ingest's connection, once they are `expected` (or the deadline passed).
async fn ingest_channels(p: &Pipeline, expected: u64, within: Duration) -> u64 {
    let name = format!("{}-ingest", p.database_name());
    let deadline = Instant::now() + within;
    loop {
        let count = p.broker.channels_of(&name).await.unwrap_or(u64::MAX);
        if count == expected || Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn health_checks_against_a_slow_broker_leave_no_channel_open() {
    let broker = FaultProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let p = Pipeline::start_with(behind(&broker)).await;
    assert_eq!(health(&p).await.0, 200);
    // The two publishing channels (PUBLISH_CHANNELS), once the metrics poller's probe closed its own.
    let baseline = ingest_channels(&p, 2, Duration::from_secs(30)).await;
    assert_eq!(baseline, 2, "ingest's connection at rest");
    broker.set(Mode::Slow(Duration::from_millis(1_500)));
    for _ in 0..5 {
        futures::future::join_all((0..8).map(|_| health(&p))).await;
    }
    broker.set(Mode::Up);
    eventually("health to see the broker again", Duration::from_secs(30), || async {
        (health(&p).await.0 == 200).then_some(())
    })
    .await;
    let after = ingest_channels(&p, baseline, Duration::from_secs(30)).await;
    assert_eq!(
        after, baseline,
        "40 health checks against a slow broker left {after} channels open (at rest: {baseline})"
    );
    p.stop().await;
}

#[tokio::test]
async fn a_flood_of_health_checks_probes_the_broker_about_once_a_second() {
    let broker = FaultProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let p = Pipeline::start_with(behind(&broker)).await;
    let ready = format!(r#"warungin_queue_depth{{queue="{}",state="ready"}}"#, p.broker.topology.orders_queue());
    eventually("the metrics poller's first round", Duration::from_secs(20), || async {
        scrape(&p, &p.base_url).await.contains_key(&ready).then_some(())
    })
    .await;
    let before = broker.upstream_bytes();
    assert_eq!(health(&p).await.0, 200);
    let one_probe = broker.upstream_bytes() - before;
    assert!(one_probe > 0, "a health check makes a broker round trip");
    let (started, before) = (Instant::now(), broker.upstream_bytes());
    for _ in 0..5 {
        let answers = futures::future::join_all((0..40).map(|_| health(&p))).await;
        assert!(answers.iter().all(|(status, _, _)| *status == 200));
    }
    let probes = (broker.upstream_bytes() - before) as f64 / one_probe as f64;
    let took = started.elapsed();
    assert!(
        probes <= took.as_secs_f64() + 2.0,
        "200 health checks in {took:?} made {probes:.0} broker round trips ({one_probe} bytes each); about one a second expected"
    );
    p.stop().await;
}
