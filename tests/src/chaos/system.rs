//! The system under faults: its own database and queue prefix, ingest and
//! workers as real processes at fixed addresses (a restarted process comes
//! back where its clients expect it), each logging to its own file.

use super::Settings;
use crate::pipeline::{Options, Pipeline, Process, free_port};
use std::path::PathBuf;

pub struct System {
    pub pipeline: Pipeline,
    /// Running against `scripts/cluster` (node faults instead of service restarts).
    pub cluster: bool,
    pub ingests: Vec<Process>,
    pub workers: Vec<Process>,
    pub logs: PathBuf,
    worker_env: Vec<(String, String)>,
}

/// Production-shaped retry and sweep settings, so a fault of a few seconds
/// is ridden out by retries rather than ending in dead letters.
fn env(settings: &Settings) -> Vec<(String, String)> {
    [
        ("LOG_LEVEL", "warn"),
        ("LOG_FORMAT", "json"),
        ("RETRY_DELAYS", "1s,3s,10s,30s"),
        ("WORKER_MAX_ATTEMPTS", "5"),
        ("PUBLISH_CONFIRM_TIMEOUT", "3s"),
        ("ORDER_TRANSACTION_TIMEOUT", "10s"),
        ("SHUTDOWN_TIMEOUT", "10s"),
        ("RATE_LIMIT_IP_PER_MIN", "0"),
        // The terminals sign in once: a run longer than the default 15 min
        // must not turn into a stream of 401s.
        ("ACCESS_TOKEN_TTL", "24h"),
        ("RATE_LIMIT_LOGIN_FAILURES_PER_MIN", "0"),
        ("REPUBLISH_PENDING_AFTER", &format!("{}ms", settings.republish_after.as_millis())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl System {
    pub async fn start(settings: &Settings) -> anyhow::Result<Self> {
        let logs = settings.out.join("logs");
        std::fs::create_dir_all(&logs)?;
        let mut options = Options { in_process_workers: 0, in_process_ingest: false, env: Vec::new() };
        for (key, value) in env(settings) {
            options = options.with_env(&key, &value);
        }
        let pipeline = Pipeline::start_with(options).await;
        let worker_env = settings.worker_fault.iter().map(|fault| ("WORKER_FAULT".to_owned(), fault.clone())).collect();
        let cluster = settings.cluster;
        let mut system = Self { pipeline, cluster, ingests: Vec::new(), workers: Vec::new(), logs, worker_env };
        for i in 0..settings.ingests {
            let addr = format!("127.0.0.1:{}", free_port());
            let ingest = system.spawn_ingest(i, &addr).await;
            system.ingests.push(ingest);
        }
        for i in 0..settings.workers {
            let addr = format!("127.0.0.1:{}", free_port());
            let worker = system.spawn_worker(i, &addr).await;
            system.workers.push(worker);
        }
        Ok(system)
    }

    async fn spawn_ingest(&self, i: usize, addr: &str) -> Process {
        let log = self.logs.join(format!("ingest-{i}.log"));
        self.pipeline.spawn_ingest_at(addr, &i.to_string(), &[], Some(&log)).await
    }

    async fn spawn_worker(&self, i: usize, addr: &str) -> Process {
        let log = self.logs.join(format!("worker-{i}.log"));
        let env: Vec<(&str, &str)> = self.worker_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.pipeline.spawn_worker_at(addr, &i.to_string(), &env, Some(&log)).await
    }

    /// Signal worker `i` (`KILL` or `TERM`), wait for its exit, start it again.
    pub async fn bounce_worker(&mut self, i: usize, signal: &str) -> anyhow::Result<std::process::ExitStatus> {
        let status = self.workers[i].signal(signal).await?;
        let addr = self.workers[i].addr().to_owned();
        self.workers[i] = self.spawn_worker(i, &addr).await;
        Ok(status)
    }

    /// Signal ingest `i` (`TERM`: a graceful exit; `KILL`: mid-group, mid-publish),
    /// wait for its exit, start it again on its address.
    pub async fn bounce_ingest(&mut self, i: usize, signal: &str) -> anyhow::Result<std::process::ExitStatus> {
        let status = self.ingests[i].signal(signal).await?;
        let addr = self.ingests[i].addr().to_owned();
        self.ingests[i] = self.spawn_ingest(i, &addr).await;
        Ok(status)
    }

    /// Start one more worker (a healthy one: no `WORKER_FAULT`).
    pub async fn add_healthy_worker(&mut self) {
        let i = self.workers.len();
        let log = self.logs.join(format!("worker-{i}.log"));
        let addr = format!("127.0.0.1:{}", free_port());
        let worker = self.pipeline.spawn_worker_at(&addr, &i.to_string(), &[], Some(&log)).await;
        self.workers.push(worker);
    }

    /// Stop the processes; drop the database and queues unless `keep`.
    pub async fn stop(mut self, keep: bool) {
        for process in self.workers.iter_mut().chain(self.ingests.iter_mut()) {
            let _ = process.signal("TERM").await;
        }
        if keep {
            self.pipeline.stop_keeping_data().await;
        } else {
            self.pipeline.stop().await;
        }
    }
}
