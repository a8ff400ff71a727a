//! The pending sweep: an order (or a refund) whose message never reached the queue (a
//! publish whose confirm timed out, an ingest that died between its insert
//! and its publish, a terminal that gave up resending) would stay `pending`
//! for ever. Every worker looks, once a minute, for pending orders older
//! than `REPUBLISH_PENDING_AFTER` (longer than the whole retry schedule) and
//! republishes them from their stored request. `SKIP LOCKED` and the claim
//! share the sweep among workers; the commit's idempotency makes a
//! republish of an order whose message did exist harmless.

use common::broker::{ORDER_ROUTING_KEY, Publisher, Target, headers};
use common::ids::{MessageId, OrderId, RefundId, SyncBatchId, TenantId, UserId};
use common::message::{Message, OrderMessage, RefundMessage};
use common::order::{Source, ValidatedOrder};
use common::shutdown::Shutdown;
use deadpool_postgres::Pool;
use std::time::Duration;
use uuid::Uuid;

const EVERY: Duration = Duration::from_secs(60);
const BATCH: i32 = 100;

pub async fn run(pool: Pool, publisher: Publisher, older_than: Duration, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(EVERY.min(older_than).max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sweep(&pool, &publisher, older_than).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(orders = n, "republished pending orders whose messages were lost"),
            Err(error) => tracing::warn!(%error, "pending sweep failed; will try again"),
        }
    }
}

/// One pass: claim up to a batch of stale pending orders, then republish
/// them; how many were republished.
///
/// The claim (it touches the orders' `updated_at`) commits before anything
/// is published: a publish waiting on a slow broker holds no row lock a
/// worker's batch could time out on, and a sweep that dies mid-publish
/// leaves its claim standing, so the next sweep does not take the same
/// orders again at once (they come round again after `older_than`).
pub async fn sweep(
    pool: &Pool,
    publisher: &Publisher,
    older_than: Duration,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let messages = claim(pool, older_than).await?;
    let exchange = publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    for message in &messages {
        publisher.publish(target, &message.encode(), headers::for_message(message, 1)).await?;
    }
    Ok(messages.len())
}

/// Claim stale pending orders (committed at once) and rebuild their messages.
async fn claim(pool: &Pool, older_than: Duration) -> Result<Vec<Message>, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    // Across tenants by nature: a definer function claims (touches) the
    // stale pending orders and returns only what a republish needs.
    let rows = client
        .query(
            "SELECT * FROM platform_claim_stale_pending(make_interval(secs => $1), $2)",
            &[&older_than.as_secs_f64(), &BATCH],
        )
        .await?;
    let refunds = client
        .query(
            "SELECT * FROM platform_claim_stale_refunds(make_interval(secs => $1), $2)",
            &[&older_than.as_secs_f64(), &BATCH],
        )
        .await?;
    rows.iter().map(message).chain(refunds.iter().map(refund_message)).collect()
}

fn refund_message(row: &tokio_postgres::Row) -> Result<Message, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Message::Refund(RefundMessage {
        message_id: MessageId::generate(),
        refund_id: RefundId(row.try_get(0)?),
        tenant_id: TenantId(row.try_get(1)?),
        order_id: OrderId(row.try_get(2)?),
        request_hash: row.try_get(3)?,
        requested_by: row.try_get::<_, Option<Uuid>>(4)?.map(UserId),
        received_at: row.try_get(5)?,
        request_id: row.try_get(6)?,
        replay: None,
        refund: serde_json::from_value(row.try_get(7)?)?,
    }))
}

fn message(row: &tokio_postgres::Row) -> Result<Message, Box<dyn std::error::Error + Send + Sync>> {
    let order: ValidatedOrder = serde_json::from_value(row.try_get(8)?)?;
    let source: String = row.try_get(2)?;
    Ok(Message::Order(OrderMessage {
        message_id: MessageId::generate(),
        tenant_id: TenantId(row.try_get(1)?),
        order_id: OrderId(row.try_get(0)?),
        source: Source::parse(&source).unwrap_or(Source::Online),
        device_id: row.try_get(3)?,
        sync_batch_id: row.try_get::<_, Option<Uuid>>(4)?.map(SyncBatchId),
        request_hash: row.try_get(5)?,
        received_at: row.try_get(6)?,
        request_id: row.try_get(7)?,
        replay: None,
        order,
    }))
}
