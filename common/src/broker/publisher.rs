//! Publishing with publisher confirms on a supervised connection.
//!
//! A publish succeeds only when the broker confirmed a persistent message
//! that it could route (`mandatory`): an unroutable return, a nack, a confirm
//! that does not come within the timeout, a broker that blocks publishers
//! (memory or disk alarm) or a missing connection are each an error the
//! caller maps to `503`. The connection is kept by a supervisor task that
//! reconnects with backoff, so a request never waits on a dead broker; with
//! several nodes (`Nodes`) each reconnect moves to the next node that
//! answers. A confirm lost with its connection is an error, never a
//! success: the order is answered 503 and its pending row is republished
//! later (by the terminal's resend or the workers' sweep). After a confirm
//! timeout the supervisor checks that the node still answers (a frozen
//! node keeps its TCP connection open) and leaves it when it does not.

use super::nodes::Nodes;
use super::topology::Topology;
use crate::config::BrokerConfig;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a node suspected after a confirm timeout has to open a channel.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the message broker is not connected")]
    NotConnected,
    #[error("the message broker is blocking publishers (resource alarm)")]
    Blocked,
    #[error("the message broker did not confirm within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("the message broker refused the message")]
    Nacked,
    #[error("the message could not be routed to any queue")]
    Unroutable,
    #[error("message broker error: {0}")]
    Broker(#[from] lapin::Error),
}

/// Where a message goes.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
}

#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: Nodes,
    connection_name: String,
    topology: Topology,
    confirm_timeout: Duration,
    channel_count: usize,
    live: RwLock<Option<Arc<Live>>>,
    wake: Notify,
    /// A confirm timed out: is the node still there?
    suspect: AtomicBool,
    next_channel: AtomicUsize,
}

struct Live {
    connection: Connection,
    channels: Vec<Channel>,
    /// Which of `Inner::nodes` this connection is to.
    node: usize,
}

impl Live {
    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.channels.iter().all(|c| c.status().connected())
    }
}

impl Publisher {
    /// Start the supervisor; it connects in the background and keeps at it.
    pub fn start(config: &BrokerConfig, connection_name: String, shutdown: CancellationToken) -> Self {
        let inner = Arc::new(Inner {
            nodes: Nodes::new(&config.url),
            connection_name,
            topology: Topology::from_config(config),
            confirm_timeout: config.confirm_timeout,
            channel_count: config.publish_channels,
            live: RwLock::new(None),
            wake: Notify::new(),
            suspect: AtomicBool::new(false),
            next_channel: AtomicUsize::new(0),
        });
        tokio::spawn(supervise(inner.clone(), shutdown));
        Self { inner }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub fn is_connected(&self) -> bool {
        self.live().is_some_and(|l| l.healthy())
    }

    pub fn is_blocked(&self) -> bool {
        self.live().is_some_and(|l| l.connection.status().blocked())
    }

    /// Wait until connected (start-up, tests); false on timeout.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.is_connected() {
                return true;
            }
            self.inner.wake.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_connected()
    }

    /// Publish one persistent message and wait for the broker's confirm.
    pub async fn publish(
        &self,
        target: Target<'_>,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        self.publish_many(target, &[(body, properties)]).await.pop().unwrap_or(Err(PublishError::Nacked))
    }

    /// Publish persistent messages on one channel, then wait for all their
    /// confirms together (one confirm timeout for the lot): a group of
    /// orders costs one round of confirms, not one each. One result per
    /// message, in order.
    pub async fn publish_many(
        &self,
        target: Target<'_>,
        messages: &[(&[u8], BasicProperties)],
    ) -> Vec<Result<(), PublishError>> {
        let channel = match self.channel() {
            Ok(channel) => channel,
            Err(error) => return messages.iter().map(|_| Err(error.clone())).collect(),
        };
        let timeout = self.inner.confirm_timeout;
        let (started, deadline) = (std::time::Instant::now(), tokio::time::Instant::now() + timeout);
        let options = BasicPublishOptions { mandatory: true, ..Default::default() };
        let mut sent = Vec::with_capacity(messages.len());
        for (body, properties) in messages {
            let publish = channel.basic_publish(
                target.exchange.into(),
                target.routing_key.into(),
                options,
                body,
                properties.clone(),
            );
            sent.push(tokio::time::timeout_at(deadline, publish).await);
        }
        let confirms = sent.into_iter().map(|sent| async move {
            match sent {
                Err(_) => Err(PublishError::ConfirmTimeout(timeout)),
                Ok(Err(error)) => Err(PublishError::Broker(error)),
                Ok(Ok(confirm)) => match tokio::time::timeout_at(deadline, confirm).await {
                    Err(_) => Err(PublishError::ConfirmTimeout(timeout)),
                    Ok(confirmation) => confirmed(confirmation),
                },
            }
        });
        let results = futures::future::join_all(confirms).await;
        if results.iter().any(|r| matches!(r, Err(PublishError::ConfirmTimeout(_)))) {
            self.inner.suspect.store(true, Ordering::Relaxed);
            self.inner.wake.notify_one();
        }
        if results.iter().any(|r| matches!(r, Err(PublishError::Broker(_)))) {
            self.inner.wake.notify_one();
        }
        let took = started.elapsed().as_secs_f64();
        for _ in results.iter().filter(|r| r.is_ok()) {
            metrics::histogram!(crate::metrics::PUBLISH_CONFIRM).record(took);
        }
        results
    }

    /// The next publishing channel of a healthy, unblocked connection.
    fn channel(&self) -> Result<Channel, PublishError> {
        let live = self.live().filter(|l| l.healthy()).ok_or_else(|| {
            self.inner.wake.notify_one();
            PublishError::NotConnected
        })?;
        if live.connection.status().blocked() {
            return Err(PublishError::Blocked);
        }
        let index = self.inner.next_channel.fetch_add(1, Ordering::Relaxed) % live.channels.len();
        Ok(live.channels[index].clone())
    }

    /// Ready messages and consumers of each queue, live from the broker
    /// (passive declares on a channel of their own, so a missing queue
    /// cannot close a publishing channel). The channel is closed on every
    /// path; a caller that gives up mid-probe (a health check's deadline)
    /// drops the last handle of a channel being opened or used, and lapin
    /// closes a channel whose last handle is dropped.
    pub async fn queue_states(&self, queues: &[String]) -> Result<Vec<(u32, u32)>, PublishError> {
        let live = self.live().filter(|l| l.healthy()).ok_or(PublishError::NotConnected)?;
        let channel = live.connection.create_channel().await?;
        let states = passive_declares(&channel, queues).await;
        // After a failed declare the broker has closed the channel already; this close then fails, harmlessly.
        let _ = channel.close(200, "done".into()).await;
        states
    }

    fn live(&self) -> Option<Arc<Live>> {
        self.inner.live.read().ok().and_then(|guard| guard.clone())
    }
}

/// What the broker's answer to one publish means for it.
fn confirmed(confirmation: Result<Confirmation, lapin::Error>) -> Result<(), PublishError> {
    match confirmation {
        Err(error) => Err(PublishError::Broker(error)),
        Ok(Confirmation::Ack(Some(_returned))) => Err(PublishError::Unroutable),
        Ok(Confirmation::Ack(None)) => Ok(()),
        Ok(Confirmation::Nack(_)) => Err(PublishError::Nacked),
        // Confirms are always selected on our channels; treat anything else as unconfirmed.
        Ok(Confirmation::NotRequested) => Err(PublishError::Nacked),
    }
}

async fn supervise(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    loop {
        let current = inner.live.read().ok().and_then(|g| g.clone());
        let usable = match &current {
            Some(live) => live.healthy() && answers(&inner, live).await,
            None => false,
        };
        if !usable {
            if let Some(lost) = current {
                inner.nodes.lost(lost.node);
                // Closing a connection to a node that answers nothing must not hold up the reconnect.
                let _ = tokio::time::timeout(PROBE_TIMEOUT, lost.connection.close(200, "leaving".into())).await;
            }
            set_live(&inner, None);
            match connect(&inner).await {
                Ok(live) => {
                    let node = inner.nodes.host(live.node);
                    tracing::info!(connection = %inner.connection_name, node, "publisher connected to the broker");
                    set_live(&inner, Some(Arc::new(live)));
                    backoff.reset();
                }
                Err(error) => {
                    tracing::warn!(connection = %inner.connection_name, %error, "publisher cannot reach the broker; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => continue,
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    if let Some(live) = inner.live.read().ok().and_then(|g| g.clone()) {
        let _ = live.connection.close(200, "shutdown".into()).await;
    }
}

/// After a confirm timeout: does the node still answer (a channel opened
/// and closed in time)? A node that is merely slow keeps its publishers; a
/// frozen one, whose TCP connection looks healthy, is left.
async fn answers(inner: &Inner, live: &Live) -> bool {
    if !inner.suspect.swap(false, Ordering::Relaxed) {
        return true;
    }
    let probe = async {
        let channel = live.connection.create_channel().await?;
        channel.close(200, "probe".into()).await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => true,
        outcome => {
            let node = inner.nodes.host(live.node);
            tracing::warn!(connection = %inner.connection_name, node, ?outcome, "broker node stopped answering; leaving it");
            false
        }
    }
}

async fn passive_declares(channel: &Channel, queues: &[String]) -> Result<Vec<(u32, u32)>, PublishError> {
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let mut states = Vec::with_capacity(queues.len());
    for queue in queues {
        let declared = channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await?;
        states.push((declared.message_count(), declared.consumer_count()));
    }
    Ok(states)
}

fn set_live(inner: &Inner, live: Option<Arc<Live>>) {
    if let Ok(mut guard) = inner.live.write() {
        *guard = live;
    }
}

async fn connect(inner: &Inner) -> Result<Live, lapin::Error> {
    let (connection, node) = inner.nodes.connect(&inner.connection_name).await?;
    inner.topology.declare(&connection).await?;
    let mut channels = Vec::with_capacity(inner.channel_count);
    for _ in 0..inner.channel_count {
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        channels.push(channel);
    }
    Ok(Live { connection, channels, node })
}

/// Exponential backoff with jitter for reconnects: 100 ms doubling to 5 s.
#[derive(Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = 100u64.saturating_mul(1 << self.failures.min(6)).min(5_000);
        let jitter = rand::random_range(0..=base / 2);
        Duration::from_millis(base / 2 + jitter)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}
