//! The Prometheus recorder, installed once per process (ingest and workers
//! share it when a test runs both in one process), with explicit histogram
//! buckets so `histogram_quantile` works, and process CPU and memory.
//! The metric names themselves are declared in each binary's `metrics.rs`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Latencies of requests and publishes, in seconds.
pub const FAST_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// From acceptance to commit, in seconds (retries can take minutes).
pub const ORDER_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];
/// Orders per batch.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// Recorded by the publisher, in whichever binary publishes.
pub const PUBLISH_CONFIRM: &str = "warungin_publish_confirm_seconds";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Install the recorder (first call) and return the handle to render it.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(FAST_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("warungin_order_duration_seconds".into()), ORDER_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("warungin_worker_batch_size".into()), BATCH_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Prefix("warungin_admission_group_".into()), BATCH_BUCKETS)
                });
            let handle = builder
                .and_then(|b| b.install_recorder())
                .map_err(|e| tracing::warn!(%e, "metrics recorder not installed"))
                .ok();
            if let Some(handle) = &handle {
                keep_up(handle.clone());
            }
            let process = PROCESS.get_or_init(metrics_process::Collector::default);
            process.describe();
            handle
        })
        .clone()
}

/// The recorder keeps every histogram sample until an upkeep folds it into
/// the buckets; without one, a process nobody scrapes grows by every
/// request's samples (at 4,000 orders/s, tens of MiB in minutes).
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics upkeep not started; histograms fold only when scraped");
    }
}

const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The current exposition, process metrics refreshed first.
pub fn render() -> String {
    let Some(handle) = install() else { return String::new() };
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    handle.run_upkeep();
    handle.render()
}

/// The API's database pool was pointed at another server (a failover or switchover).
pub const DB_PRIMARY_SWITCHES: &str = "warungin_db_primary_switches_total";
