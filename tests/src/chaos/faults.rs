//! The faults, and a seeded schedule of them. Faults on the engines use the
//! machine's own service commands (Debian's `pg_ctlcluster`,
//! `rabbitmqctl`/`rabbitmq-server`, `redis-cli`/`redis-server`), so they
//! hit every user of those services: the fault run goes last in the test
//! command, after every other test. On a cluster (`--cluster`) the engine
//! faults are node losses instead (`cluster`), and the machine's own
//! PostgreSQL and RabbitMQ are left alone.

use super::cluster;
use super::system::System;
use crate::loadgen::{self, Catalogue, Plan, Scenario, Target};
use anyhow::{Context, bail};
use common::broker::headers;
use common::ids::{MessageId, OrderId, SyncBatchId, TenantId};
use common::message::{Message, OrderMessage};
use common::order::{Source, ValidatedOrder};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `kill -9` of a worker process while it commits, then a restart.
    KillWorker,
    /// SIGTERM of a worker (graceful drain), then a restart.
    TermWorker,
    /// SIGTERM of an ingest process, then a restart on the same address.
    TermIngest,
    /// `kill -9` of an ingest process (admission groups and publishes cut short), then a restart.
    KillIngest,
    /// `rabbitmqctl close_all_connections`.
    CloseConnections,
    /// The broker stopped and started again.
    RestartBroker,
    /// `pg_ctlcluster ... restart`.
    RestartPostgres,
    /// `pg_terminate_backend` of every session of the services.
    TerminateSessions,
    /// Redis stopped and started again.
    RestartRedis,
    /// Terminals resending the same orders, also after timeouts they caused.
    DuplicateSubmissions,
    /// Messages of accepted orders republished raw onto the order queue.
    DuplicateDeliveries,
    /// Operators retrying (with and without allowOversell) and discarding the same failed syncs at once.
    ReviewRace,
    /// Cluster: `kill -9` of the RabbitMQ node that leads the order queue, then a restart and rejoin.
    KillQueueLeader,
    /// Cluster: the node most of the run's connections are on stopped gracefully, then started again.
    StopNode,
    /// Cluster: a node frozen with SIGSTOP for 20–30 s, then SIGCONT.
    FreezeNode,
    /// Cluster: `kill -9` of the PostgreSQL primary, the standby promoted, the old primary rejoined (pg_rewind).
    FailoverPostgres,
    /// Cluster: a planned switchover of the PostgreSQL primary.
    SwitchoverPostgres,
}

impl FaultKind {
    /// Faults of the cluster's own engines (need `--cluster`).
    pub fn needs_cluster(self) -> bool {
        matches!(
            self,
            Self::KillQueueLeader
                | Self::StopNode
                | Self::FreezeNode
                | Self::FailoverPostgres
                | Self::SwitchoverPostgres
        )
    }

    /// Faults of the machine's single PostgreSQL and RabbitMQ (no meaning on a cluster).
    pub fn single_server_only(self) -> bool {
        matches!(self, Self::RestartBroker | Self::RestartPostgres)
    }
}

/// Every kind that applies: on a cluster, its node losses instead of the single servers' restarts.
pub fn kinds(cluster: bool) -> Vec<FaultKind> {
    let all = <FaultKind as clap::ValueEnum>::value_variants().iter().copied();
    all.filter(|k| if cluster { !k.single_server_only() } else { !k.needs_cluster() }).collect()
}

/// Every kind `rounds` times, in a seeded random order.
pub fn schedule(kinds: &[FaultKind], rounds: usize, rng: &mut impl rand::Rng) -> Vec<FaultKind> {
    let mut faults: Vec<FaultKind> = (0..rounds).flat_map(|_| kinds.iter().copied()).collect();
    faults.shuffle(rng);
    faults
}

/// What a fault needs besides the system: the load's shop and terminals.
pub struct Load {
    pub target: Arc<Target>,
    pub catalogue: Arc<Catalogue>,
    pub tenant: Uuid,
}

/// Inject one fault; a line saying what was done.
pub async fn inject(
    kind: FaultKind,
    system: &mut System,
    shop: &Load,
    rng: &mut rand::rngs::StdRng,
) -> anyhow::Result<String> {
    match kind {
        FaultKind::KillWorker | FaultKind::TermWorker => {
            let i = rng.random_range(0..system.workers.len());
            let signal = if kind == FaultKind::KillWorker { "KILL" } else { "TERM" };
            let status = system.bounce_worker(i, signal).await?;
            if signal == "TERM" && !status.success() {
                bail!("worker {i} exited with {status} after SIGTERM");
            }
            Ok(format!("worker {i}: SIG{signal}, {status}, restarted"))
        }
        FaultKind::TermIngest => {
            let i = rng.random_range(0..system.ingests.len());
            let status = system.bounce_ingest(i, "TERM").await?;
            if !status.success() {
                bail!("ingest {i} exited with {status} after SIGTERM");
            }
            Ok(format!("ingest {i}: SIGTERM, {status}, restarted"))
        }
        FaultKind::KillIngest => {
            let i = rng.random_range(0..system.ingests.len());
            let status = system.bounce_ingest(i, "KILL").await?;
            Ok(format!("ingest {i}: SIGKILL, {status}, restarted"))
        }
        FaultKind::CloseConnections if system.cluster => cluster::close_all_connections().await,
        FaultKind::CloseConnections => {
            run("rabbitmqctl", &["close_all_connections", "chaos: fault injection"]).await?;
            Ok("closed every broker connection".into())
        }
        FaultKind::KillQueueLeader => cluster::kill_queue_leader(&system.pipeline.broker).await,
        FaultKind::StopNode => {
            // A publisher per ingest; a publisher and two consumers per worker.
            let expected = system.ingests.len() + system.workers.len() * 3;
            cluster::stop_node(&system.pipeline.broker, expected).await
        }
        FaultKind::FreezeNode => cluster::freeze_node(rng).await,
        FaultKind::FailoverPostgres => cluster::failover_postgres(system.pipeline.database_name()).await,
        FaultKind::SwitchoverPostgres => cluster::switchover_postgres(system.pipeline.database_name()).await,
        FaultKind::RestartBroker => {
            run("rabbitmqctl", &["stop"]).await?;
            run("rabbitmq-server", &["-detached"]).await?;
            // The node answers `await_startup` only once its VM is up.
            let mut started = run("rabbitmqctl", &["await_startup", "--timeout", "120"]).await;
            for _ in 0..60 {
                if started.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                started = run("rabbitmqctl", &["await_startup", "--timeout", "120"]).await;
            }
            started?;
            Ok("broker stopped and started".into())
        }
        FaultKind::RestartPostgres => {
            let version = postgres_version()?;
            run("pg_ctlcluster", &["--skip-systemctl-redirect", &version, "main", "restart"]).await?;
            Ok(format!("PostgreSQL {version} restarted"))
        }
        FaultKind::TerminateSessions => {
            let name = system.pipeline.database_name().to_owned();
            let killed = crate::db::terminate_sessions(&name, &format!("{name}-")).await?;
            Ok(format!("terminated {killed} database sessions of the services"))
        }
        FaultKind::RestartRedis => {
            // `shutdown` fails once Redis is gone, which is the point.
            let _ = run("redis-cli", &["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"]).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let start = "--daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no";
            let args: Vec<&str> = start.split(' ').map(|a| if a == "\"\"" { "" } else { a }).collect();
            run("redis-server", &args).await?;
            Ok("Redis stopped and started".into())
        }
        FaultKind::DuplicateSubmissions => duplicate_submissions(shop, rng.random()).await,
        FaultKind::DuplicateDeliveries => duplicate_deliveries(system, shop.tenant, 25).await,
        FaultKind::ReviewRace => {
            super::review::race(&shop.target, &shop.catalogue, &system.pipeline.db, shop.tenant, 10, rng).await
        }
    }
}

/// Fresh orders sent with a timeout so short the terminal gives up on
/// them, then resent until answered, then resent once more.
async fn duplicate_submissions(shop: &Load, seed: u64) -> anyhow::Result<String> {
    let plan = Plan {
        scenario: Scenario::Duplicates,
        terminals: 4,
        requests: Some(5),
        duplicate_share: 1.0,
        self_timeout_share: 1.0,
        persistent: true,
        seed,
        ..Plan::default()
    };
    let tally = loadgen::drive::run(shop.target.clone(), shop.catalogue.clone(), plan).await;
    Ok(format!(
        "{} orders sent {} times in all ({} resent after acceptance)",
        tally.orders_sent / 2,
        tally.sent,
        tally.duplicates
    ))
}

/// What a republish needs of a stored order.
#[derive(sqlx::FromRow)]
struct Stored {
    id: Uuid,
    source: String,
    device_id: Option<String>,
    sync_batch_id: Option<Uuid>,
    request_hash: String,
    received_at: chrono::DateTime<chrono::Utc>,
    request: serde_json::Value,
}

/// Republish the messages of `n` random orders of the shop, whatever their state.
async fn duplicate_deliveries(system: &System, tenant: Uuid, n: i64) -> anyhow::Result<String> {
    let p = &system.pipeline;
    let rows: Vec<Stored> = sqlx::query_as(
        "SELECT id, source, device_id, sync_batch_id, encode(request_hash, 'hex') AS request_hash, received_at, request
         FROM orders WHERE tenant_id = $1 ORDER BY random() LIMIT $2",
    )
    .bind(tenant)
    .bind(n)
    .fetch_all(&p.db)
    .await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let order: ValidatedOrder = serde_json::from_value(row.request).context("a stored request")?;
        let message = Message::Order(OrderMessage {
            message_id: MessageId::generate(),
            tenant_id: TenantId(tenant),
            order_id: OrderId(row.id),
            source: Source::parse(&row.source).unwrap_or(Source::Online),
            device_id: row.device_id,
            sync_batch_id: row.sync_batch_id.map(SyncBatchId),
            request_hash: row.request_hash,
            received_at: row.received_at,
            request_id: Some("chaos-duplicate-delivery".into()),
            replay: None,
            order,
        });
        messages.push((message.encode(), headers::for_message(&message, 1)));
    }
    p.broker.publish_raw_many(&messages).await?;
    Ok(format!("republished {} messages raw", messages.len()))
}

fn postgres_version() -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .context("/etc/postgresql (the fault run restarts Debian's PostgreSQL cluster)")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions.pop().context("no PostgreSQL cluster in /etc/postgresql")
}

async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = tokio::time::timeout(Duration::from_secs(180), Command::new(program).args(args).output())
        .await
        .with_context(|| format!("{program} {args:?} took over 3 minutes"))?
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!("{program} {args:?}: {} {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
