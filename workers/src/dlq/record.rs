//! The dead-letter recorder: consumes the dead-letter queue and makes each
//! dead letter visible for review before acknowledging it.
//!
//! An order message becomes (or updates) its order's failed sync and the
//! order reads `failed`, unless it was applied meanwhile; a refund likewise
//! (`record_refund`). Anything else (an
//! undecodable body, an unknown type, a cancel) is kept raw in
//! `dead_letters` with its headers. A database outage never loses a dead
//! letter: the batch is held unacknowledged and retried with backoff. Every
//! delivery is settled on every path: acked once recorded, or returned to
//! the queue (whose delivery limit parks it) when it cannot be recorded.

use crate::commit::read::recreate::insert_orders;
use crate::commit::write::order::UPSERT_FAILED_SYNCS;
use crate::consumer::BatchHandler;
use crate::error::StoreError;
use common::broker::{Backoff, headers};
use common::message::{Message, OrderMessage, RefundMessage};
use common::order::RejectionCode;
use common::shutdown::Shutdown;
use deadpool_postgres::Transaction;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use uuid::Uuid;

pub struct DeadLetterRecorder {
    pub pool: deadpool_postgres::Pool,
    pub queue: String,
    pub shutdown: Shutdown,
}

struct DeadLetter {
    code: String,
    reason: String,
    headers: serde_json::Value,
    body: Vec<u8>,
    message: Option<Message>,
    tenant_hint: Option<Uuid>,
}

impl DeadLetter {
    fn from_delivery(delivery: &Delivery) -> Self {
        let props = &delivery.properties;
        let death = broker_death_reason(props);
        let code = headers::text(props, headers::FAILURE_CODE).unwrap_or_else(|| match death.as_deref() {
            Some("delivery_limit") => RejectionCode::RetriesExhausted.as_str().to_owned(),
            _ => RejectionCode::Malformed.as_str().to_owned(),
        });
        let reason = headers::text(props, headers::FAILURE_MESSAGE).unwrap_or_else(|| match death {
            Some(why) => format!("dead-lettered by the broker ({why})"),
            None => "dead-lettered without a reason".to_owned(),
        });
        Self {
            code,
            reason,
            headers: headers::to_json(props),
            body: delivery.data.clone(),
            message: Message::decode(&delivery.data).ok(),
            tenant_hint: headers::text(props, headers::TENANT_ID).and_then(|t| Uuid::parse_str(&t).ok()),
        }
    }
}

/// The reason RabbitMQ gave when it dead-lettered the message itself.
fn broker_death_reason(props: &lapin::BasicProperties) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers::header(props, "x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    match first.inner().get("reason")? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// How a dead letter's delivery is settled.
enum Settle {
    /// Recorded: acknowledge it.
    Ack,
    /// Not recorded (yet): give it back to the queue. Its delivery count
    /// grows, and past the queue's limit the broker parks it.
    Requeue,
}

impl BatchHandler for DeadLetterRecorder {
    async fn handle(&self, batch: Vec<Delivery>) {
        for delivery in batch {
            // On shutdown every delivery still gets an answer: back to the queue.
            let settle =
                if self.shutdown.is_cancelled() { Settle::Requeue } else { self.record_patiently(&delivery).await };
            let settled = match settle {
                Settle::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
                Settle::Requeue => {
                    let requeue = BasicNackOptions { requeue: true, ..Default::default() };
                    delivery.acker.nack(requeue).await
                }
            };
            if let Err(error) = settled {
                tracing::warn!(%error, "could not settle a dead letter; it will be delivered (and recorded) again");
            }
        }
    }
}

impl DeadLetterRecorder {
    /// Record one dead letter: through database outages (with backoff, until
    /// shutdown), and raw when it cannot be recorded as an order.
    async fn record_patiently(&self, delivery: &Delivery) -> Settle {
        let dead_letter = DeadLetter::from_delivery(delivery);
        let mut backoff = Backoff::default();
        loop {
            let error = match self.record(&dead_letter).await {
                Ok(()) => return Settle::Ack,
                Err(error) if error.is_transient() => error,
                Err(error) => return self.record_raw_instead(&dead_letter, &error).await,
            };
            tracing::warn!(%error, "cannot record a dead letter yet; holding it and retrying");
            tokio::select! {
                _ = self.shutdown.cancelled() => return Settle::Requeue,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    async fn record_raw_instead(&self, dead_letter: &DeadLetter, error: &StoreError) -> Settle {
        tracing::error!(%error, "dead letter cannot be recorded as an order; keeping it raw");
        match self.record_raw(dead_letter, Some(&error.to_string())).await {
            Ok(()) => Settle::Ack,
            Err(raw_error) => {
                crate::metrics::error("dead_letter_record");
                tracing::error!(error = %raw_error, "dead letter cannot be recorded raw either; returning it to its queue");
                // Not at once: whatever refused it is unlikely to have changed within a second.
                tokio::select! {
                    _ = self.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
                Settle::Requeue
            }
        }
    }
}

impl DeadLetterRecorder {
    async fn record(&self, dead_letter: &DeadLetter) -> Result<(), StoreError> {
        match &dead_letter.message {
            Some(Message::Order(order)) => self.record_order(order, dead_letter).await,
            Some(Message::Refund(refund)) => self.record_refund(refund, dead_letter).await,
            _ => self.record_raw(dead_letter, None).await,
        }
    }

    async fn record_order(&self, order: &OrderMessage, dead_letter: &DeadLetter) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let tenants = common::db::tenant_list(&[order.tenant_id.0]);
        tx.execute("SELECT set_config('app.tenant_ids', $1, true)", &[&tenants]).await?;
        let tenant_exists = tx.query_opt("SELECT 1 FROM tenants WHERE id = $1", &[&order.tenant_id.0]).await?.is_some();
        if !tenant_exists {
            drop(tx);
            return self.record_raw(dead_letter, Some("the order's tenant does not exist")).await;
        }
        insert_orders(&tx, &[order]).await?;
        let failed = mark_failed(&tx, order, dead_letter).await?;
        if failed {
            upsert_failed_sync(&tx, order, dead_letter).await?;
            tracing::warn!(order_id = %order.order_id, code = dead_letter.code, "dead-lettered order kept as a failed sync");
        } else {
            tracing::info!(order_id = %order.order_id, "dead letter superseded: the order was applied meanwhile");
        }
        tx.commit().await?;
        crate::metrics::dead_letter_recorded("order");
        Ok(())
    }

    async fn record_refund(&self, refund: &RefundMessage, dead_letter: &DeadLetter) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let tenants = common::db::tenant_list(&[refund.tenant_id.0]);
        tx.execute("SELECT set_config('app.tenant_ids', $1, true)", &[&tenants]).await?;
        use super::record_refund::Recorded;
        match super::record_refund::record(&tx, refund, &dead_letter.code, &dead_letter.reason).await? {
            Recorded::Failed => {}
            Recorded::Superseded => {
                tracing::info!(refund_id = %refund.refund_id, "dead letter superseded: the refund was applied meanwhile");
                return Ok(());
            }
            Recorded::Unknown => {
                drop(tx);
                return self.record_raw(dead_letter, Some("no such refund in this database")).await;
            }
        }
        tx.commit().await?;
        tracing::warn!(refund_id = %refund.refund_id, code = dead_letter.code, "dead-lettered refund kept as a failed sync");
        crate::metrics::dead_letter_recorded("refund");
        Ok(())
    }

    async fn record_raw(&self, dead_letter: &DeadLetter, note: Option<&str>) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let tenant = dead_letter.message.as_ref().map(|m| m.tenant_id().0).or(dead_letter.tenant_hint);
        client
            .execute(
                "INSERT INTO dead_letters (id, tenant_id, queue, reason_code, reason_message, headers, body, note)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &Uuid::now_v7(),
                    &tenant,
                    &self.queue,
                    &dead_letter.code,
                    &dead_letter.reason,
                    &dead_letter.headers,
                    &dead_letter.body,
                    &note,
                ],
            )
            .await?;
        crate::metrics::dead_letter_recorded("raw");
        tracing::warn!(code = dead_letter.code, reason = dead_letter.reason, "dead letter recorded raw");
        Ok(())
    }
}

async fn mark_failed(tx: &Transaction<'_>, order: &OrderMessage, dead_letter: &DeadLetter) -> Result<bool, StoreError> {
    let rows = tx
        .execute(
            "UPDATE orders SET status = 'failed', rejection_code = $3, rejection_message = $4, updated_at = now()
             WHERE tenant_id = $1 AND client_order_id = $2 AND status IN ('pending', 'failed')",
            &[&order.tenant_id.0, &order.order.client_order_id.0, &dead_letter.code, &dead_letter.reason],
        )
        .await?;
    Ok(rows > 0)
}

async fn upsert_failed_sync(
    tx: &Transaction<'_>,
    order: &OrderMessage,
    dead_letter: &DeadLetter,
) -> Result<(), StoreError> {
    let order_id: Uuid = tx
        .query_one(
            "SELECT id FROM orders WHERE tenant_id = $1 AND client_order_id = $2",
            &[&order.tenant_id.0, &order.order.client_order_id.0],
        )
        .await?
        .try_get(0)?;
    let request = serde_json::to_value(&order.order).unwrap_or_default();
    tx.execute(
        UPSERT_FAILED_SYNCS,
        &[
            &vec![Uuid::now_v7()],
            &vec![order.tenant_id.0],
            &vec![order_id],
            &vec![order.order.client_order_id.0],
            &vec![order.device_id.clone()],
            &vec![dead_letter.code.clone()],
            &vec![dead_letter.reason.clone()],
            &vec![request],
            &vec![1_i32],
        ],
    )
    .await?;
    Ok(())
}
