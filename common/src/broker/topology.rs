//! The broker topology, declared in one place and by every process at start
//! (declares are idempotent). With prefix `p`:
//!
//! ```text
//!  ingest ──▶ p.orders (direct) ──"order"──▶ p.orders (quorum) ──▶ workers
//!                ▲                              │ delivery limit / worker dead-letter
//!                │ TTL expiry                   ▼
//!  workers ─▶ p.retry ─"retry.k"─▶ p.retry.k    p.dlx (fanout) ──▶ p.dead (quorum) ──▶ recorder
//!            (one fixed-TTL queue per step)                          │ delivery limit
//!                                                                    ▼
//!                                                    p.parking (fanout) ──▶ p.parking (quorum)
//! ```
//!
//! Every queue is a durable quorum queue with an explicit delivery limit and
//! an explicit dead-letter exchange, dead-lettering `at-least-once` (which
//! needs `overflow=reject-publish`): RabbitMQ 3.10 has no default delivery
//! limit (a poison message would loop forever) and 4.x drops at 20 without a
//! dead-letter exchange, so nothing is left to the broker's defaults.
//! Retries use one fixed-TTL queue per step because per-message TTLs only
//! expire at a queue's head and the delayed-message plugin is not shipped.
//! Scaling out: any number of worker processes consume `p.orders` (competing
//! consumers; each order is idempotent, so no ordering between orders matters).
//!
//! On a cluster a quorum queue starts with the broker's `quorum_cluster_size`
//! members (3 by default: one node may be lost, and the queue keeps a
//! majority). `AMQP_QUORUM_GROUP_SIZE` overrides it per queue with the
//! `x-quorum-initial-group-size` argument, but only when set: the argument
//! is fixed at creation and RabbitMQ refuses a redeclare that disagrees
//! (inequivalent arg), so queues created with it refuse every process of a
//! release that declares without it (the upgrade test found the previous
//! release refused so). This release takes a queue whose group-size argument
//! disagrees as it is.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};
use std::time::Duration;

pub const ORDER_ROUTING_KEY: &str = "order";

/// The argument every new quorum queue gets its initial group size from.
const GROUP_SIZE_ARG: &str = "x-quorum-initial-group-size";

/// Names and shape of one pipeline's exchanges and queues.
#[derive(Clone, Debug)]
pub struct Topology {
    prefix: String,
    retry_delays: Vec<Duration>,
    delivery_limit: u32,
    group_size: Option<u32>,
}

impl Topology {
    pub fn new(prefix: &str, retry_delays: Vec<Duration>, delivery_limit: u32) -> Self {
        Self { prefix: prefix.to_owned(), retry_delays, delivery_limit, group_size: None }
    }

    pub fn from_config(config: &crate::config::BrokerConfig) -> Self {
        let topology = Self::new(&config.prefix, config.retry_delays.clone(), config.delivery_limit);
        Self { group_size: config.quorum_group_size, ..topology }
    }

    pub fn orders_exchange(&self) -> String {
        format!("{}.orders", self.prefix)
    }
    pub fn orders_queue(&self) -> String {
        format!("{}.orders", self.prefix)
    }
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.prefix)
    }
    pub fn retry_queue(&self, step: usize) -> String {
        format!("{}.retry.{}", self.prefix, step + 1)
    }
    pub fn retry_routing_key(step: usize) -> String {
        format!("retry.{}", step + 1)
    }
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub fn parking_queue(&self) -> String {
        format!("{}.parking", self.prefix)
    }
    /// Where the parking queue dead-letters (its exchange has the same name).
    pub fn parking_overflow_queue(&self) -> String {
        format!("{}.parking.overflow", self.prefix)
    }

    /// Number of retry steps (delay queues).
    pub fn retry_steps(&self) -> usize {
        self.retry_delays.len()
    }

    pub fn retry_delay(&self, step: usize) -> Duration {
        let last = self.retry_delays.len().saturating_sub(1);
        self.retry_delays.get(step.min(last)).copied().unwrap_or(Duration::from_secs(1))
    }

    /// Every queue of the pipeline, for depth metrics and cleanup.
    pub fn all_queues(&self) -> Vec<String> {
        let mut queues =
            vec![self.orders_queue(), self.dead_letter_queue(), self.parking_queue(), self.parking_overflow_queue()];
        queues.extend((0..self.retry_steps()).map(|s| self.retry_queue(s)));
        queues
    }

    fn all_exchanges(&self) -> Vec<String> {
        vec![
            self.orders_exchange(),
            self.retry_exchange(),
            self.dead_letter_exchange(),
            self.parking_queue(),
            self.parking_overflow_queue(),
        ]
    }

    /// Declare everything, on a channel of its own that is closed after.
    /// Safe to call from every process at start.
    pub async fn declare(&self, connection: &Connection) -> Result<(), lapin::Error> {
        let mut channel = connection.create_channel().await?;
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        let exchanges = [
            (self.orders_exchange(), ExchangeKind::Direct),
            (self.retry_exchange(), ExchangeKind::Direct),
            (self.dead_letter_exchange(), ExchangeKind::Fanout),
            (self.parking_queue(), ExchangeKind::Fanout),
            (self.parking_overflow_queue(), ExchangeKind::Fanout),
        ];
        for (name, kind) in exchanges {
            channel.exchange_declare(name.as_str().into(), kind, durable, FieldTable::default()).await?;
        }
        // Nothing consumes the parking queues automatically; an alert fires
        // when one is not empty. A message requeued past the parking queue's
        // limit moves to the overflow queue, which cannot drop it. It is a
        // classic queue, on one node: while that node is down its declare
        // fails, and a process must still start (the overflow is a last
        // resort the broker dead-letters into, never on an order's path).
        let overflow = self.parking_overflow_queue();
        let declared = async {
            channel.queue_declare(overflow.as_str().into(), DURABLE, FieldTable::default()).await?;
            self.bind(&channel, &overflow, &overflow, "").await
        };
        if let Err(error) = declared.await {
            tracing::warn!(queue = %overflow, %error, "the parking overflow queue is unavailable (its node is down?); going on without declaring it");
            channel = connection.create_channel().await?;
        }
        let parking = self.quorum(self.delivery_limit.max(1000), Some((&overflow, None)));
        self.queue(connection, &mut channel, &self.parking_queue(), parking).await?;
        self.bind(&channel, &self.parking_queue(), &self.parking_queue(), "").await?;

        let dead = self.quorum(self.delivery_limit, Some((&self.parking_queue(), None)));
        self.queue(connection, &mut channel, &self.dead_letter_queue(), dead).await?;
        self.bind(&channel, &self.dead_letter_queue(), &self.dead_letter_exchange(), "").await?;

        let orders = self.quorum(self.delivery_limit, Some((&self.dead_letter_exchange(), None)));
        self.queue(connection, &mut channel, &self.orders_queue(), orders).await?;
        self.bind(&channel, &self.orders_queue(), &self.orders_exchange(), ORDER_ROUTING_KEY).await?;

        for step in 0..self.retry_steps() {
            let mut args = self.quorum(self.delivery_limit, Some((&self.orders_exchange(), Some(ORDER_ROUTING_KEY))));
            let ttl = u64::try_from(self.retry_delay(step).as_millis()).unwrap_or(u64::MAX);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(i64::try_from(ttl).unwrap_or(i64::MAX)));
            self.queue(connection, &mut channel, &self.retry_queue(step), args).await?;
            self.bind(&channel, &self.retry_queue(step), &self.retry_exchange(), &Self::retry_routing_key(step))
                .await?;
        }
        let _ = channel.close(200, "declared".into()).await;
        Ok(())
    }

    /// Remove everything (tests clean up their own pipeline with this).
    pub async fn delete(&self, channel: &Channel) -> Result<(), lapin::Error> {
        for queue in self.all_queues() {
            channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
        }
        for exchange in self.all_exchanges() {
            channel.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await?;
        }
        Ok(())
    }

    /// Declare a quorum queue; one that exists with another group-size
    /// argument (or none) is taken as it is (the refusal closed the channel: a new
    /// one replaces it).
    async fn queue(
        &self,
        connection: &Connection,
        channel: &mut Channel,
        name: &str,
        args: FieldTable,
    ) -> Result<(), lapin::Error> {
        match channel.queue_declare(name.into(), DURABLE, args).await {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains(GROUP_SIZE_ARG) => {
                tracing::warn!(queue = name, "queue predates its initial group size; keeping its members as they are");
                *channel = connection.create_channel().await?;
                let passive = QueueDeclareOptions { passive: true, ..Default::default() };
                channel.queue_declare(name.into(), passive, FieldTable::default()).await.map(|_| ())
            }
            Err(error) => Err(error),
        }
    }

    /// Arguments of a quorum queue with an explicit delivery limit and, when
    /// given, an initial group size and an at-least-once dead-letter target.
    fn quorum(&self, delivery_limit: u32, dead_letter: Option<(&str, Option<&str>)>) -> FieldTable {
        let mut args = quorum(delivery_limit, dead_letter);
        if let Some(size) = self.group_size {
            args.insert(GROUP_SIZE_ARG.into(), AMQPValue::LongLongInt(i64::from(size)));
        }
        args
    }

    async fn bind(&self, channel: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), lapin::Error> {
        channel
            .queue_bind(queue.into(), exchange.into(), key.into(), QueueBindOptions::default(), FieldTable::default())
            .await
    }
}

const DURABLE: QueueDeclareOptions =
    QueueDeclareOptions { durable: true, passive: false, exclusive: false, auto_delete: false, nowait: false };

/// Arguments of a quorum queue with an explicit delivery limit and, when
/// given, an at-least-once dead-letter target.
fn quorum(delivery_limit: u32, dead_letter: Option<(&str, Option<&str>)>) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(i64::from(delivery_limit)));
    if let Some((exchange, routing_key)) = dead_letter {
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(exchange.into()));
        if let Some(key) = routing_key {
            args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(key.into()));
        }
        args.insert("x-dead-letter-strategy".into(), AMQPValue::LongString("at-least-once".into()));
        args.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
    }
    args
}
