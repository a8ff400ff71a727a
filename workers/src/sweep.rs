//! The pending sweep: an order whose message never reached the queue (a
//! publish whose confirm timed out, an ingest that died between its insert
//! and its publish, a terminal that gave up resending) would stay `pending`
//! for ever. Every worker looks, once a minute, for pending orders older
//! than `REPUBLISH_PENDING_AFTER` (longer than the whole retry schedule) and
//! republishes them from their stored request. `SKIP LOCKED` shares the
//! sweep among workers; the commit's idempotency makes a republish of an
//! order whose message did exist harmless.

use common::broker::{ORDER_ROUTING_KEY, Publisher, Target, headers};
use common::ids::{MessageId, OrderId, SyncBatchId, TenantId};
use common::message::{Message, OrderMessage};
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

/// One pass: republish up to a batch of stale pending orders; how many.
pub async fn sweep(
    pool: &Pool,
    publisher: &Publisher,
    older_than: Duration,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Across tenants by nature: a definer function claims (touches) the
    // stale pending orders and returns only what a republish needs.
    let rows = tx
        .query(
            "SELECT * FROM platform_claim_stale_pending(make_interval(secs => $1), $2)",
            &[&older_than.as_secs_f64(), &BATCH],
        )
        .await?;
    let exchange = publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    let mut republished = Vec::with_capacity(rows.len());
    for row in &rows {
        let order: ValidatedOrder = serde_json::from_value(row.try_get(8)?)?;
        let source: String = row.try_get(2)?;
        let message = Message::Order(OrderMessage {
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
        });
        publisher.publish(target, &message.encode(), headers::for_message(&message, 1)).await?;
        republished.push(message.order_id().0);
    }
    // The claim touched them: the next sweep waits another full period.
    tx.commit().await?;
    Ok(republished.len())
}
