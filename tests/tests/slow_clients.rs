//! Clients that hang up, trickle their bodies, exceed their limits or
//! arrive all at once: ingest keeps no state for them, reads no body it
//! will refuse, and answers in bounded time.

use harness::proxy::{FaultProxy, Mode};
use harness::{Options, Pipeline, eventually, order};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fixed one-minute windows: start a rate-limit test with at least 25 s of window left.
async fn fresh_window() {
    let into = chrono::Utc::now().timestamp() % 60;
    if into > 35 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(61 - into).unwrap_or(0))).await;
    }
}

/// A request's head announcing `length` bytes of JSON body, on a raw connection.
async fn open(p: &Pipeline, path: &str, token: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(p.base_url.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("request head");
    stream
}

/// The status line of the answer on a raw connection, if one comes within `timeout`.
async fn status_line(reader: &mut (impl AsyncReadExt + Unpin), timeout: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        while !received.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok()?;
    let text = String::from_utf8_lossy(&received).into_owned();
    text.lines().next().map(str::to_owned).filter(|l| !l.is_empty())
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_order_leaves_nothing_in_flight() {
    let broker = FaultProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let options = Options::workers(0)
        .with_env("AMQP_URL", &format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port()))
        .with_env("PUBLISH_CONFIRM_TIMEOUT", "60s");
    let p = Pipeline::start_with(options).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    let state = p.ingest.clone().expect("ingest runs in the test process");
    broker.set(Mode::Freeze);
    let request =
        p.http.post(format!("{}/api/orders", p.base_url)).bearer_auth(&shop.token).json(&order(&[(product, 1, 1_000)]));
    let client = tokio::spawn(request.send());
    eventually("the order to be in flight (its publish hangs)", Duration::from_secs(10), || async {
        (state.in_flight.len() == 1).then_some(())
    })
    .await;
    client.abort();
    // Well within the confirm timeout: only the hang-up can have ended the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.in_flight.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = state.in_flight.len();
    assert_eq!(left, 0, "10 s after its client hung up, the order is still in the in-flight map ({left} entries)");
    broker.set(Mode::Up);
    p.stop().await;
}

#[tokio::test]
async fn a_writer_over_its_limit_gets_429_before_its_body_is_read() {
    let p = Pipeline::start_with(Options::workers(0).with_env("RATE_LIMIT_USER_WRITES_PER_MIN", "1")).await;
    let shop = p.tenant().await;
    let product = p.product(&shop, 1_000, 10).await;
    fresh_window().await;
    assert_eq!(p.post(&shop.token, "/api/orders", &order(&[(product, 1, 1_000)])).await.status, 202);
    let mut stream = open(&p, "/api/sync/orders", &shop.token, 2 * 1024 * 1024).await;
    // A tenth of the announced body, and then nothing: reading it would wait for ever.
    let part = format!("{{\"deviceId\": \"t\", \"orders\": [{}", " ".repeat(200 * 1024));
    stream.write_all(part.as_bytes()).await.expect("part of the body");
    let answer = status_line(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 429 Too Many Requests"),
        "a write over the limit, its 2 MiB body unsent"
    );
    p.stop().await;
}

#[tokio::test]
async fn a_body_trickled_slower_than_its_deadline_gets_408_in_time() {
    let budget = Duration::from_secs(2);
    let p = Pipeline::start_with(Options::workers(0).with_env("REQUEST_BODY_TIMEOUT", "2s")).await;
    let shop = p.tenant().await;
    let stream = open(&p, "/api/orders", &shop.token, 100_000).await;
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let trickle = async {
        // One byte every 100 ms: never idle long, never done.
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let answer = tokio::select! {
        answer = status_line(&mut reader, budget * 2) => answer,
        () = trickle => None,
    };
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 408 Request Timeout"),
        "a body trickled for {:?} against a {budget:?} deadline",
        started.elapsed()
    );
    p.stop().await;
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_get_503_with_retry_after() {
    let p = Pipeline::start_with(
        Options::workers(0).with_env("MAX_CONCURRENT_REQUESTS", "2").with_env("REQUEST_BODY_TIMEOUT", "20s"),
    )
    .await;
    let shop = p.tenant().await;
    // Two requests that hold their slots: bodies announced and never sent.
    let held = [open(&p, "/api/orders", &shop.token, 1_000).await, open(&p, "/api/orders", &shop.token, 1_000).await];
    let refused = eventually("a third request to be refused", Duration::from_secs(10), || async {
        let reply = p.call(reqwest::Method::GET, "/api/products", Some(&shop.token), None).await;
        (reply.status == 503).then_some(reply)
    })
    .await;
    assert_eq!(refused.code(), "overloaded", "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    drop(held);
    eventually("the slots to come back", Duration::from_secs(10), || async {
        (p.get(&shop.token, "/api/products").await.status == 200).then_some(())
    })
    .await;
    p.stop().await;
}
