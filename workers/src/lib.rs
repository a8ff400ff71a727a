//! Workers: consume orders from RabbitMQ and commit them to PostgreSQL
//! exactly once; retry what failed transiently, record what is dead.
//!
//! Flow: `consumer` (batches from the queue) → `handler` (decode, commit)
//! → `commit` (lock, `commit::plan`, `commit::store`) → `outcome` (ack,
//! retry, dead-letter) → `settle` (on the broker) → `dlq::record`.

pub mod commit;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod fault;
pub mod handler;
pub mod health;
pub mod metrics;
pub mod outcome;
pub mod pg;
pub mod retention;
pub mod settle;
pub mod sweep;

use common::broker::{Publisher, Topology};
use common::config::Config;
use common::shutdown::Shutdown;
use consumer::ConsumerSpec;
use error::StartError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::task::JoinHandle;

/// A started worker: its health address and the task that ends after shutdown.
pub struct RunningWorker {
    pub health_addr: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Start consuming the order queue and the dead-letter queue.
pub async fn start(config: &Config, shutdown: Shutdown) -> Result<RunningWorker, StartError> {
    let w = &config.worker;
    let pool = pg::pool(&config.database.url, w.concurrency + 2, w.transaction_timeout)?;
    let topology = Topology::from_config(&config.broker);
    let name =
        config.broker.connection_name.clone().unwrap_or_else(|| format!("warungin-worker-{}", std::process::id()));
    let publisher = Publisher::start(&config.broker, format!("{name}-publish"), shutdown.clone());
    let sweep = tokio::spawn(sweep::run(pool.clone(), publisher.clone(), w.republish_pending_after, shutdown.clone()));
    let retention =
        retention::Retention { members: w.member_retention, reviews: w.review_retention, every: w.retention_every };
    let retention = tokio::spawn(retention::run(pool.clone(), retention, shutdown.clone()));
    let consuming = Arc::new(AtomicBool::new(false));
    let (orders, handler) = order_consumer(config, &name, &pool, publisher, &topology);
    let (dead, recorder) = dead_letter_consumer(&orders, &name, &pool, &topology, &shutdown);
    metrics::register();
    let pool_watch = tokio::spawn(metrics::watch_pool(pool.clone()));
    let (health_addr, http) =
        health_server(w.addr, health::Health { pool, consuming: consuming.clone() }, &shutdown).await?;
    let orders = tokio::spawn(consumer::run(orders, topology.clone(), handler, shutdown.clone(), consuming));
    let dead = tokio::spawn(consumer::run(dead, topology, recorder, shutdown, Arc::new(AtomicBool::new(false))));
    tracing::info!(%health_addr, "worker started");
    let task = tokio::spawn(async move {
        let _ = tokio::join!(orders, dead, http, sweep, retention);
        pool_watch.abort();
    });
    Ok(RunningWorker { health_addr, task })
}

/// The order queue's consumer and the handler that commits its batches.
fn order_consumer(
    config: &Config,
    name: &str,
    pool: &deadpool_postgres::Pool,
    publisher: Publisher,
    topology: &Topology,
) -> (ConsumerSpec, Arc<handler::OrderHandler>) {
    let w = &config.worker;
    let spec = ConsumerSpec {
        nodes: Arc::new(common::broker::Nodes::new(&config.broker.url)),
        connection_name: name.to_owned(),
        queue: topology.orders_queue(),
        prefetch: w.prefetch,
        batch_size: w.batch_size,
        linger: w.batch_linger,
        concurrency: w.concurrency,
        drain_timeout: config.shutdown_timeout,
    };
    let handler = Arc::new(handler::OrderHandler {
        pool: pool.clone(),
        settler: settle::Settler { publisher, topology: topology.clone() },
        policy: outcome::RetryPolicy { max_attempts: w.max_attempts, steps: topology.retry_steps() },
        transaction_timeout: w.transaction_timeout,
        queue: topology.orders_queue(),
        fault: fault::Fault::from_env(config.env),
    });
    (spec, handler)
}

/// The dead-letter queue's consumer (one batch at a time) and its recorder.
fn dead_letter_consumer(
    orders: &ConsumerSpec,
    name: &str,
    pool: &deadpool_postgres::Pool,
    topology: &Topology,
    shutdown: &Shutdown,
) -> (ConsumerSpec, Arc<dlq::record::DeadLetterRecorder>) {
    let spec = ConsumerSpec {
        connection_name: format!("{name}-dlq"),
        queue: topology.dead_letter_queue(),
        prefetch: 50,
        batch_size: 50,
        concurrency: 1,
        ..orders.clone()
    };
    let recorder = Arc::new(dlq::record::DeadLetterRecorder {
        pool: pool.clone(),
        queue: topology.dead_letter_queue(),
        shutdown: shutdown.clone(),
    });
    (spec, recorder)
}

/// The worker's health and metrics endpoint, served until shutdown.
async fn health_server(
    addr: SocketAddr,
    health: health::Health,
    shutdown: &Shutdown,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| StartError::Listen { addr, source })?;
    let app = health::router(health);
    let shutdown = shutdown.clone();
    let http = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(%error, "worker health server failed");
        }
    });
    Ok((bound, http))
}
