//! Driving the API: closed loop (each terminal sends its next request when
//! the last one is answered) or open loop (a fixed rate, whatever the
//! answers), with a progress line each second and, optionally, every
//! request written to a history for the fault-injection checker.

use super::scenario::{Catalogue, Request, Scenario};
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Plan {
    pub scenario: Scenario,
    pub terminals: usize,
    /// Closed loop: requests per terminal (None: until `duration`).
    pub requests: Option<u64>,
    /// Open loop: requests per second across all terminals.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// Share of orders sent twice (the `duplicates` scenario).
    pub duplicate_share: f64,
    pub seed: u64,
    pub quiet: bool,
    /// Resend an unanswered request (no answer, 429, 5xx) until it is
    /// answered, as a till does with a sale it must not lose.
    pub persistent: bool,
    /// Share of requests first sent with a timeout so short that the
    /// terminal gives up on its own request (and, when persistent, resends it).
    pub self_timeout_share: f64,
    /// Stop early (after the requests under way are answered) once set.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Plan {
    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed))
    }
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            scenario: Scenario::Uniform,
            terminals: 8,
            requests: None,
            rate: None,
            duration: Duration::from_secs(10),
            duplicate_share: 0.0,
            seed: 42,
            quiet: true,
            persistent: false,
            self_timeout_share: 0.0,
            stop: None,
        }
    }
}

/// What the terminals saw.
#[derive(Default, Debug)]
pub struct Tally {
    pub sent: u64,
    pub orders_sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub by_status: std::collections::BTreeMap<u16, u64>,
    pub latencies_ms: Vec<f64>,
    pub elapsed: Duration,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.orders_sent += other.orders_sent;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        for (status, n) in other.by_status {
            *self.by_status.entry(status).or_default() += n;
        }
        self.latencies_ms.extend(other.latencies_ms);
    }
}

pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    /// Write every request and its answer here (JSON lines).
    pub history: Option<Arc<Mutex<std::io::BufWriter<std::fs::File>>>>,
}

struct Progress {
    sent: AtomicU64,
    accepted: AtomicU64,
    failed: AtomicU64,
}

pub async fn run(target: Arc<Target>, catalogue: Arc<Catalogue>, plan: Plan) -> Tally {
    let progress =
        Arc::new(Progress { sent: AtomicU64::new(0), accepted: AtomicU64::new(0), failed: AtomicU64::new(0) });
    let started = Instant::now();
    let reporter = (!plan.quiet).then(|| tokio::spawn(report_progress(progress.clone(), started)));
    let deadline = started + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    match plan.rate {
        None => {
            for terminal in 0..plan.terminals {
                let (target, catalogue, plan, progress) =
                    (target.clone(), catalogue.clone(), plan.clone(), progress.clone());
                tasks.spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed.wrapping_add(terminal as u64));
                    let mut tally = Tally::default();
                    let mut n = 0;
                    while plan.requests.map_or(Instant::now() < deadline, |max| n < max) && !plan.stopped() {
                        one(&target, &catalogue, &plan, &mut rng, &mut tally, &progress).await;
                        n += 1;
                    }
                    tally
                });
            }
        }
        Some(rate) => {
            let slots = Arc::new(tokio::sync::Semaphore::new(plan.terminals.max(1)));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
            let mut n = 0u64;
            while Instant::now() < deadline && !plan.stopped() {
                tick.tick().await;
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let (target, catalogue, plan, progress) =
                    (target.clone(), catalogue.clone(), plan.clone(), progress.clone());
                n += 1;
                tasks.spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed.wrapping_add(n));
                    let mut tally = Tally::default();
                    one(&target, &catalogue, &plan, &mut rng, &mut tally, &progress).await;
                    drop(permit);
                    tally
                });
            }
        }
    }
    let mut total = Tally::default();
    while let Some(Ok(tally)) = tasks.join_next().await {
        total.merge(tally);
    }
    total.elapsed = started.elapsed();
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    if let Some(history) = &target.history
        && let Ok(mut file) = history.lock()
    {
        let _ = file.flush();
    }
    total
}

async fn one(
    target: &Target,
    catalogue: &Catalogue,
    plan: &Plan,
    rng: &mut rand::rngs::StdRng,
    tally: &mut Tally,
    progress: &Progress,
) {
    let request = catalogue.next(plan.scenario, rng);
    let (path, body, orders) = match request {
        Request::Order(order) => ("/api/orders", order, 1),
        Request::Sync(orders) => {
            let n = orders.len() as u64;
            (
                "/api/sync/orders",
                serde_json::json!({ "deviceId": format!("till-{}", rng.random_range(1..=20)), "orders": orders }),
                n,
            )
        }
    };
    let resend = plan.scenario == Scenario::Duplicates || (plan.scenario == Scenario::Mixed && path == "/api/orders");
    let times = if resend && rng.random_bool(plan.duplicate_share) { 2 } else { 1 };
    for attempt in 0..times {
        let status = send(target, path, &body, plan, rng, tally).await;
        tally.orders_sent += orders;
        if (200..=202).contains(&status) {
            tally.accepted += orders;
            if attempt > 0 {
                tally.duplicates += 1;
            }
            progress.accepted.fetch_add(orders, Ordering::Relaxed);
        } else {
            progress.failed.fetch_add(1, Ordering::Relaxed);
        }
        progress.sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// Send one request (again and again when the plan is persistent and it
/// went unanswered); every attempt is tallied and written to the history.
/// The final HTTP status, 0 for no answer.
pub async fn send(
    target: &Target,
    path: &str,
    body: &Value,
    plan: &Plan,
    rng: &mut rand::rngs::StdRng,
    tally: &mut Tally,
) -> u16 {
    let give_up = Instant::now() + plan.duration.max(Duration::from_secs(120));
    let mut backoff = Duration::from_millis(50);
    let mut first = true;
    loop {
        let mut request = target.http.post(format!("{}{path}", target.base)).bearer_auth(&target.token).json(body);
        if first && plan.self_timeout_share > 0.0 && rng.random_bool(plan.self_timeout_share) {
            request = request.timeout(Duration::from_millis(rng.random_range(1..20)));
        }
        first = false;
        let sent_at = chrono::Utc::now();
        let started = Instant::now();
        let (status, answer) = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, Value::String(e.to_string())),
        };
        let took = started.elapsed();
        tally.sent += 1;
        *tally.by_status.entry(status).or_default() += 1;
        tally.latencies_ms.push(took.as_secs_f64() * 1000.0);
        if let Some(history) = &target.history {
            let line = serde_json::json!({ "at": sent_at, "ms": took.as_secs_f64() * 1000.0, "path": path, "body": body, "status": status, "answer": answer });
            if let Ok(mut file) = history.lock() {
                let _ = writeln!(file, "{line}");
            }
        }
        let unanswered = status == 0 || status == 429 || status >= 500;
        if !(plan.persistent && unanswered && Instant::now() < give_up) {
            return status;
        }
        tokio::time::sleep(backoff.mul_f64(rng.random_range(0.5..1.0))).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn report_progress(progress: Arc<Progress>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    tick.tick().await;
    loop {
        tick.tick().await;
        let sent = progress.sent.load(Ordering::Relaxed);
        eprintln!(
            "[{:>5.1}s] requests {sent} ({}/s), orders accepted {}, failed requests {}",
            started.elapsed().as_secs_f64(),
            sent - last,
            progress.accepted.load(Ordering::Relaxed),
            progress.failed.load(Ordering::Relaxed)
        );
        last = sent;
    }
}
