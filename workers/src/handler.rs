//! The order queue's handler: decode each delivery, commit the batch, turn
//! the result into one outcome per delivery, settle them. A batch that
//! fails for something one of its messages may cause is split in halves,
//! down to single messages, so one bad order cannot cost the rest an attempt.

use crate::commit::{Effect, Plan, store};
use crate::consumer::BatchHandler;
use crate::error::StoreError;
use crate::fault::Fault;
use crate::outcome::{self, Failure, Outcome, RetryPolicy};
use crate::settle::Settler;
use common::broker::headers;
use common::message::Message;
use lapin::message::Delivery;
use std::time::Duration;

pub struct OrderHandler {
    pub pool: deadpool_postgres::Pool,
    pub settler: Settler,
    pub policy: RetryPolicy,
    pub transaction_timeout: Duration,
    pub queue: String,
    pub fault: Option<Fault>,
}

struct Incoming {
    delivery: Delivery,
    attempt: u32,
    message: Result<Message, String>,
}

impl BatchHandler for OrderHandler {
    async fn handle(&self, batch: Vec<Delivery>) {
        if self.fault == Some(Fault::AckBeforeCommit) {
            return self.ack_then_commit(batch).await;
        }
        let incoming: Vec<Incoming> = batch
            .into_iter()
            .map(|delivery| Incoming {
                attempt: headers::attempt(&delivery.properties),
                message: Message::decode(&delivery.data).map_err(|e| e.to_string()),
                delivery,
            })
            .collect();
        let outcomes = self.decide(&incoming).await;
        if self.fault == Some(Fault::CrashAfterCommit) && outcomes.contains(&Outcome::Ack) {
            tracing::error!("WORKER_FAULT=crash_after_commit: aborting between commit and ack");
            std::process::abort();
        }
        outcomes.iter().for_each(crate::metrics::outcome);
        let settles =
            incoming.iter().zip(&outcomes).map(|(i, o)| self.settler.settle(&i.delivery, i.attempt, o, &self.queue));
        futures::future::join_all(settles).await;
    }
}

impl OrderHandler {
    /// `WORKER_FAULT=ack_before_commit` only: the broken order of things.
    async fn ack_then_commit(&self, batch: Vec<Delivery>) {
        for delivery in &batch {
            let _ = delivery.acker.ack(lapin::options::BasicAckOptions::default()).await;
        }
        let messages: Vec<Message> = batch.iter().filter_map(|d| Message::decode(&d.data).ok()).collect();
        let _ = self.commit(&messages.iter().collect::<Vec<_>>()).await;
    }

    async fn decide(&self, incoming: &[Incoming]) -> Vec<Outcome> {
        let mut outcomes = vec![Outcome::Ack; incoming.len()];
        let mut decodable = Vec::with_capacity(incoming.len());
        for (index, item) in incoming.iter().enumerate() {
            match &item.message {
                Ok(message) => decodable.push((index, message)),
                Err(error) => {
                    tracing::warn!(%error, "undecodable message; dead-lettering it");
                    crate::metrics::error("undecodable");
                    outcomes[index] = outcome::decide(Failure::Undecodable(error), item.attempt, self.policy);
                }
            }
        }
        if decodable.is_empty() {
            return outcomes;
        }
        self.commit_isolating(decodable, incoming, &mut outcomes).await;
        outcomes
    }

    /// Commit the batch; when it fails for something one of its orders may
    /// cause (a lock or statement timeout, a deadlock, a permanent error),
    /// commit its halves, and theirs, down to single orders, so only the
    /// order at fault is charged an attempt. When the database itself is
    /// unavailable, the whole group is retried: splitting cannot help.
    async fn commit_isolating(&self, batch: Vec<(usize, &Message)>, incoming: &[Incoming], outcomes: &mut [Outcome]) {
        let mut groups = vec![batch];
        while let Some(group) = groups.pop() {
            let messages: Vec<&Message> = group.iter().map(|(_, m)| *m).collect();
            match self.commit(&messages).await {
                Ok(plan) => {
                    log_effects(&messages, &plan);
                    self.defer(&group, &plan, incoming, outcomes);
                }
                Err(error) if group.len() > 1 && error.is_batch_specific() => {
                    tracing::warn!(%error, size = group.len(), "batch failed; committing its halves apart");
                    crate::metrics::error("batch_split");
                    let mut first = group;
                    let second = first.split_off(first.len() / 2);
                    groups.push(second);
                    groups.push(first);
                }
                Err(error) => self.fail(&group, incoming, outcomes, &error),
            }
        }
    }

    /// A message the batch could not apply yet (a refund of an order still
    /// pending) goes round the delay queues until it can, with no attempt
    /// limit: its order is decided eventually (the sweep republishes a lost
    /// one; review settles a failed one). One whose order row is missing
    /// gets the retry schedule, then the dead-letter queue (kept raw).
    fn defer(&self, group: &[(usize, &Message)], plan: &Plan, incoming: &[Incoming], outcomes: &mut [Outcome]) {
        for ((index, _), effect) in group.iter().zip(&plan.effects) {
            if let Effect::Deferred { reason, until_decided, .. } = effect {
                let failure = if *until_decided { Failure::Waiting(reason) } else { Failure::Transient(reason) };
                outcomes[*index] = outcome::decide(failure, incoming[*index].attempt, self.policy);
            }
        }
    }

    fn fail(&self, failed: &[(usize, &Message)], incoming: &[Incoming], outcomes: &mut [Outcome], error: &StoreError) {
        crate::metrics::error(match error {
            e if e.is_lock_timeout() => "lock_timeout",
            e if e.is_transient() => "commit_transient",
            _ => "commit_permanent",
        });
        let text = error.to_string();
        let failure = if error.is_transient() { Failure::Transient(&text) } else { Failure::Permanent(&text) };
        for (index, message) in failed {
            let outcome = outcome::decide(failure, incoming[*index].attempt, self.policy);
            let (order_id, kind) = (message.order_id(), message.kind());
            tracing::warn!(?order_id, kind, request_id = message.request_id(), %error, ?outcome, "commit failed");
            outcomes[*index] = outcome;
        }
    }

    async fn commit(&self, messages: &[&Message]) -> Result<Plan, StoreError> {
        let started = std::time::Instant::now();
        let mut client = self.pool.get().await?;
        let plan = match tokio::time::timeout(self.transaction_timeout, store::apply(&mut client, messages)).await {
            Ok(Err(error)) if error.is_read_only_server() => {
                // A demoted primary: this connection must never be used again.
                drop(deadpool_postgres::Object::take(client));
                return Err(error);
            }
            Ok(result) => result?,
            Err(_) => return Err(StoreError::Timeout(self.transaction_timeout)),
        };
        crate::metrics::batch_committed(messages.len(), started.elapsed(), plan.lock_wait);
        for movement in &plan.writes.movements {
            crate::metrics::stock_moved(movement.kind.as_str(), 1);
        }
        Ok(plan)
    }
}

/// One log line per order (request id, tenant, order and client order id,
/// so one grep follows an order from HTTP to commit) and its metrics.
fn log_effects(messages: &[&Message], plan: &Plan) {
    for (message, effect) in messages.iter().zip(&plan.effects) {
        let (tenant_id, request_id) = (message.tenant_id(), message.request_id());
        let (client_order_id, accepted_at) = match message {
            Message::Order(m) => (Some(m.order.client_order_id.to_string()), Some(m.received_at)),
            Message::Cancel(_) | Message::Refund(_) | Message::Transfer(_) => (None, None),
        };
        crate::metrics::effect(effect, accepted_at);
        let client_order_id = client_order_id.as_deref();
        match effect {
            Effect::Committed { order_id, total } => {
                tracing::info!(%tenant_id, %order_id, client_order_id, request_id, total = total.rupiah(), "order committed");
            }
            Effect::Rejected { order_id, code } => {
                tracing::info!(%tenant_id, %order_id, client_order_id, request_id, %code, "order rejected")
            }
            Effect::Failed { order_id, code } => {
                tracing::warn!(%tenant_id, %order_id, client_order_id, request_id, %code, "order failed; kept as a failed sync");
            }
            Effect::Cancelled { order_id } => tracing::info!(%tenant_id, %order_id, request_id, "order cancelled"),
            Effect::Refunded { order_id, amount } => {
                tracing::info!(%tenant_id, %order_id, request_id, amount = amount.rupiah(), "refund committed")
            }
            Effect::RefundFailed { order_id, code } => {
                tracing::warn!(%tenant_id, %order_id, request_id, %code, "refund failed; kept as a failed sync")
            }
            Effect::Deferred { order_id, reason, .. } => {
                tracing::info!(%tenant_id, %order_id, request_id, reason, "deferred")
            }
            Effect::Skipped { order_id, reason } => {
                tracing::info!(%tenant_id, %order_id, client_order_id, request_id, reason, "message skipped")
            }
            Effect::Transferred { transfer_id } => {
                tracing::info!(%tenant_id, %transfer_id, request_id, "stock transfer committed")
            }
            Effect::TransferFailed { transfer_id, code } => {
                tracing::warn!(%tenant_id, %transfer_id, request_id, %code, "stock transfer failed; kept for review")
            }
            Effect::TransferSkipped { transfer_id, reason } => {
                tracing::info!(%tenant_id, %transfer_id, request_id, reason, "stock transfer skipped")
            }
        }
    }
}
