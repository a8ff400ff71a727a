//! Consuming a queue in batches on a supervised connection.
//!
//! A session connects, declares the topology, sets a bounded prefetch and
//! consumes; it gathers deliveries into batches (up to a size, or whatever
//! arrived within a short linger) and hands each to the handler, with at
//! most `concurrency` batches in flight. When the connection or channel
//! dies the session ends and a new one starts after a backoff; deliveries
//! not yet acknowledged are redelivered by the broker; the new session
//! connects to the next node of a cluster that answers (`Nodes`). On
//! shutdown the consumer is cancelled and in-flight batches finish before
//! the close.

use common::broker::{Backoff, Nodes, Topology};
use common::shutdown::Shutdown;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Handles one batch and settles (acks, retries, dead-letters) every delivery in it.
pub trait BatchHandler: Send + Sync + 'static {
    fn handle(&self, batch: Vec<Delivery>) -> impl Future<Output = ()> + Send;
}

#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// Shared by a process's consumers: a node one of them lost is skipped by the others' next connect.
    pub nodes: Arc<Nodes>,
    pub connection_name: String,
    pub queue: String,
    pub prefetch: u16,
    pub batch_size: usize,
    pub linger: Duration,
    pub concurrency: usize,
    pub drain_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker cancelled the consumer")]
    Cancelled,
}

/// Consume until shutdown, reconnecting as often as needed. `ready` tells
/// health checks whether a consumer is currently attached.
pub async fn run<H: BatchHandler>(
    spec: ConsumerSpec,
    topology: Topology,
    handler: Arc<H>,
    shutdown: Shutdown,
    ready: Arc<AtomicBool>,
) {
    let mut backoff = Backoff::default();
    while !shutdown.is_cancelled() {
        let result = session(&spec, &topology, &handler, &shutdown, &ready, &mut backoff).await;
        ready.store(false, Ordering::Relaxed);
        match result {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(queue = %spec.queue, %error, "consumer session ended; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
    tracing::info!(queue = %spec.queue, "consumer stopped");
}

async fn session<H: BatchHandler>(
    spec: &ConsumerSpec,
    topology: &Topology,
    handler: &Arc<H>,
    shutdown: &Shutdown,
    ready: &AtomicBool,
    backoff: &mut Backoff,
) -> Result<(), SessionError> {
    let tag = format!("{}-{}", spec.connection_name, uuid::Uuid::now_v7());
    // A broker that accepts connections but answers nothing (recovering
    // after restarts) must not hold up a shutdown here.
    let (connection, node, channel, mut consumer) = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        attached = attach(spec, topology, &tag) => attached?,
    };
    let host = spec.nodes.host(node);
    tracing::info!(queue = %spec.queue, connection = %spec.connection_name, node = host, "consuming");
    ready.store(true, Ordering::Relaxed);
    backoff.reset();

    let slots = Arc::new(Semaphore::new(spec.concurrency));
    let mut in_flight = JoinSet::new();
    let result = loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break Ok(()),
            },
        };
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            batch = gather(&mut consumer, spec.batch_size, spec.linger) => batch,
        };
        match batch {
            Ok(Some(batch)) => {
                let handler = handler.clone();
                in_flight.spawn(async move {
                    handler.handle(batch).await;
                    drop(permit);
                });
            }
            Ok(None) => break Err(SessionError::Cancelled),
            Err(error) => break Err(error.into()),
        }
        while in_flight.try_join_next().is_some() {}
    };
    // Stop deliveries, let in-flight batches commit and settle, then close;
    // anything prefetched but not handled goes back to the queue.
    let _ =
        tokio::time::timeout(CLOSE_TIMEOUT, channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()))
            .await;
    let drained =
        tokio::time::timeout(spec.drain_timeout, async { while in_flight.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(queue = %spec.queue, "in-flight batches did not finish before the drain deadline");
        in_flight.abort_all();
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, "consumer closing".into())).await;
    if result.is_err() {
        spec.nodes.lost(node);
    }
    result
}

/// How long a closing consumer waits on the broker for each of its goodbyes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

async fn attach(
    spec: &ConsumerSpec,
    topology: &Topology,
    tag: &str,
) -> Result<(lapin::Connection, usize, lapin::Channel, lapin::Consumer), SessionError> {
    let (connection, node) = spec.nodes.connect(&spec.connection_name).await?;
    // A node that accepted the connection but fails the set-up is left too.
    let attached = async {
        topology.declare(&connection).await?;
        let channel = connection.create_channel().await?;
        channel.basic_qos(spec.prefetch, BasicQosOptions::default()).await?;
        let consumer = channel
            .basic_consume(
                spec.queue.as_str().into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((channel, consumer))
    };
    match attached.await {
        Ok((channel, consumer)) => Ok((connection, node, channel, consumer)),
        Err(error) => {
            spec.nodes.lost(node);
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, "attach failed".into())).await;
            Err(error.into())
        }
    }
}

/// The next batch: wait for one delivery, then take what else arrives
/// within `linger`, up to `max`. `None` when the consumer stream ended.
async fn gather(
    consumer: &mut lapin::Consumer,
    max: usize,
    linger: Duration,
) -> Result<Option<Vec<Delivery>>, lapin::Error> {
    let Some(first) = consumer.next().await else {
        return Ok(None);
    };
    let mut batch = vec![first?];
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < max {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(delivery)) => batch.push(delivery?),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(Some(batch))
}
