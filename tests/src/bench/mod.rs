//! The benchmark (`scripts/bench`): on the same services, in one run, the
//! direct-SQL limit (pgbench), the broker limit (a lapin probe) and the
//! pipeline (the load generator against ingest and worker processes), each
//! pipeline figure the median of several runs, with the spread reported.

pub mod cpu;
pub mod daily_report;
pub mod latency;
pub mod pgbench;
pub mod report;

use crate::loadgen::{self, Plan, Scenario, Summary, Target};
use crate::pipeline::{Options, Pipeline, Process};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Concurrent terminals (and broker probe publishers).
    #[arg(long, default_value_t = 32)]
    pub terminals: usize,
    /// Seconds per pipeline run.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Runs per pipeline figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Seconds per pgbench client count.
    #[arg(long, default_value_t = 8)]
    pub pgbench_seconds: u32,
}

/// The system under test: a scratch database and queue prefix, ingest and
/// workers as release processes (so their memory can be read).
pub struct System {
    pub pipeline: Pipeline,
    pub ingest: Process,
    pub workers: Vec<Process>,
}

pub fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LOG_LEVEL", "warn"),
        ("RATE_LIMIT_USER_WRITES_PER_MIN", "0"),
        ("RATE_LIMIT_TENANT_WRITES_PER_MIN", "0"),
        ("RATE_LIMIT_IP_PER_MIN", "0"),
        ("WORKER_BATCH_LINGER", "5ms"),
        ("RETRY_DELAYS", "1s,5s,30s"),
        ("DATABASE_POOL_SIZE", "24"),
    ]
}

impl System {
    pub async fn start(workers: usize) -> Self {
        let mut options = Options { in_process_workers: 0, in_process_ingest: false, env: Vec::new() };
        for (k, v) in env() {
            // A setting given to the benchmark itself wins (to try one).
            let v = std::env::var(k).unwrap_or_else(|_| v.to_owned());
            options = options.with_env(k, &v);
        }
        let pipeline = Pipeline::start_with(options).await;
        let ingest = pipeline.spawn_ingest_process("bench", &[], None).await;
        let mut system = Self { pipeline, ingest, workers: Vec::new() };
        system.start_workers(workers).await;
        system
    }

    pub async fn start_workers(&mut self, n: usize) {
        for i in 0..n {
            let label = format!("bench-{}-{i}", self.workers.len());
            self.workers.push(self.pipeline.spawn_worker_with_port(&label, &[], None).await);
        }
    }

    pub async fn stop_workers(&mut self) {
        for worker in &mut self.workers {
            worker.terminate().await;
        }
        self.workers.clear();
    }

    /// Our processes, for the CPU accounting.
    fn components(&self) -> Vec<(&'static str, u32)> {
        let mut named = vec![("loadgen", std::process::id())];
        named.extend(self.ingest.child.id().map(|pid| ("ingest", pid)));
        named.extend(self.workers.iter().filter_map(|w| w.child.id()).map(|pid| ("workers", pid)));
        named
    }

    /// Run the load generator once against a fresh shop; its summary and
    /// the CPU each component spent per order (committed, or accepted
    /// when the workers are stopped).
    pub async fn load(&self, plan: Plan, products: usize) -> anyhow::Result<(Summary, cpu::PerOrder)> {
        let p = &self.pipeline;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(plan.terminals)
            .timeout(Duration::from_secs(30))
            .build()?;
        let shop =
            loadgen::setup::shop(&http, &self.ingest.base_url, &p.internal_key, &p.db, products, 10_000_000).await?;
        let target =
            Arc::new(Target { http, base: self.ingest.base_url.clone(), token: shop.token.clone(), history: None });
        let scenario = format!("{:?}", plan.scenario).to_lowercase();
        // Fresh statistics before each run, as autovacuum would keep them
        // (this machine's cluster runs with autovacuum off): plans made
        // while a table looked empty turn into nested loops over
        // sequential scans once it holds a few hundred thousand rows.
        sqlx::query("ANALYZE").execute(&p.db).await?;
        let before = cpu::sample(&self.components());
        let tally = loadgen::drive::run(target, Arc::new(shop.catalogue.clone()), plan).await;
        let pending = if self.workers.is_empty() {
            0
        } else {
            loadgen::drain(&p.db, shop.tenant_id, Duration::from_secs(300)).await?
        };
        let after = cpu::sample(&self.components());
        let audit = loadgen::audit(&p.db, shop.tenant_id, &shop.initial).await?;
        let summary = loadgen::summarise(&p.db, shop.tenant_id, &scenario, tally, pending, audit).await?;
        let orders = if self.workers.is_empty() { summary.accepted as i64 } else { summary.committed };
        Ok((summary, before.per_order(&after, orders)))
    }

    /// Ingest's metrics exposition now (empty when it does not answer).
    pub async fn ingest_metrics(&self) -> String {
        let url = format!("{}/metrics", self.ingest.base_url);
        match self.pipeline.http.get(url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Peak resident memory (VmHWM) of a process, in MiB.
    pub fn peak_rss_mib(process: &Process) -> f64 {
        let Some(pid) = process.child.id() else { return 0.0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

pub fn plan(scenario: Scenario, settings: &Settings, rate: Option<f64>) -> Plan {
    Plan {
        scenario,
        terminals: settings.terminals,
        requests: None,
        rate,
        duration: Duration::from_secs(settings.seconds),
        duplicate_share: 0.2,
        seed: rand::random(),
        quiet: true,
        ..Plan::default()
    }
}
