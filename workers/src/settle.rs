//! Carrying out an outcome on the broker. A retry or dead letter is a copy
//! published with confirms; only once the broker confirmed the copy is the
//! original acknowledged. If the copy cannot be published the original is
//! returned to its queue (its delivery count bounds how often that happens).

use crate::outcome::Outcome;
use common::broker::{Publisher, Target, Topology, headers};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use std::time::Duration;

pub struct Settler {
    pub publisher: Publisher,
    pub topology: Topology,
}

impl Settler {
    pub async fn settle(&self, delivery: &Delivery, attempt: u32, outcome: &Outcome, source_queue: &str) {
        let copied = match outcome {
            Outcome::Ack => Ok(()),
            Outcome::Retry { step } => self.retry(delivery, attempt, *step).await,
            Outcome::DeadLetter { code, reason } => {
                self.dead_letter(delivery, attempt, code, reason, source_queue).await
            }
        };
        let settled = match copied {
            Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
            Err(error) => {
                tracing::warn!(%error, ?outcome, "could not publish the copy; returning the message to its queue");
                delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await
            }
        };
        if let Err(error) = settled {
            crate::metrics::error("settle");
            // The channel is gone: the broker redelivers, and the commit's
            // idempotency makes that harmless.
            tracing::warn!(%error, "could not settle a delivery; it will be redelivered");
        }
    }

    async fn retry(&self, delivery: &Delivery, attempt: u32, step: usize) -> Result<(), common::broker::PublishError> {
        let delay = self.topology.retry_delay(step);
        let properties = headers::with_headers(
            &delivery.properties,
            &[(headers::ATTEMPT, AMQPValue::LongLongInt(i64::from(attempt) + 1))],
        )
        .with_expiration(jittered(delay).as_millis().to_string().as_str().into());
        let key = Topology::retry_routing_key(step);
        let exchange = self.topology.retry_exchange();
        let target = Target { exchange: &exchange, routing_key: &key };
        self.publisher.publish(target, &delivery.data, properties).await
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        attempt: u32,
        code: &str,
        reason: &str,
        source_queue: &str,
    ) -> Result<(), common::broker::PublishError> {
        let properties = headers::with_headers(
            &delivery.properties,
            &[
                (headers::FAILURE_CODE, AMQPValue::LongString(code.into())),
                (headers::FAILURE_MESSAGE, AMQPValue::LongString(reason.into())),
                (headers::SOURCE_QUEUE, AMQPValue::LongString(source_queue.into())),
                (headers::ATTEMPT, AMQPValue::LongLongInt(i64::from(attempt))),
            ],
        );
        let exchange = self.topology.dead_letter_exchange();
        let target = Target { exchange: &exchange, routing_key: "" };
        self.publisher.publish(target, &delivery.data, properties).await
    }
}

/// 80–100 % of the step's delay. The delay queue's fixed TTL is the upper
/// bound (a per-message TTL only fires at the queue's head), so retries of
/// a burst of failures spread out instead of returning all at once.
fn jittered(delay: Duration) -> Duration {
    let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    let floor = millis / 5 * 4;
    Duration::from_millis(floor + rand::random_range(0..=millis - floor))
}
