//! Retrying and discarding failed syncs, shared by the review API (one
//! tenant) and the operator CLI (every tenant), so both act the same way.
//!
//! A retry republishes the order (or, for a refund's failed sync, the
//! refund) under its own idempotency key with the
//! operator's overrides; the worker applies it only while the failed sync
//! is open and at most once (`failed → committed`), so double clicks and
//! two operators retrying at once are harmless. A discard locks the order
//! first, then changes the failed sync only if it is still open; the worker
//! reads the failed sync after locking the order. So a discard and a
//! retry's commit never both win.

use crate::broker::{ORDER_ROUTING_KEY, PublishError, Publisher, Target, headers};
use crate::ids::{FailedSyncId, MessageId, OrderId, RefundId, SyncBatchId, TenantId, UserId};
use crate::message::{Message, OrderMessage, RefundMessage, Replay};
use crate::order::{Source, ValidatedOrder};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

/// Whose failed syncs a caller may touch.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    Tenant(TenantId),
    /// Platform operators: every tenant.
    Platform,
}

impl Scope {
    fn tenant(self) -> Option<Uuid> {
        match self {
            Scope::Tenant(t) => Some(t.0),
            Scope::Platform => None,
        }
    }

    /// A transaction that sees this scope's rows: one tenant's, or (the
    /// operators' role, by its own policy) everyone's.
    async fn begin(self, db: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        match self {
            Scope::Tenant(t) => crate::db::tenant_tx(db, &[t.0]).await,
            Scope::Platform => db.begin().await,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub accept_client_prices: bool,
    pub allow_oversell: bool,
}

impl Overrides {
    fn note(self) -> Option<String> {
        let chosen: Vec<&str> =
            [(self.accept_client_prices, "acceptClientPrices"), (self.allow_oversell, "allowOversell")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
        (!chosen.is_empty()).then(|| format!("overrides: {}", chosen.join(", ")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no such failed sync")]
    NotFound,
    #[error("the failed sync is {0}, not open")]
    NotOpen(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Publish(#[from] PublishError),
    #[error("the stored request cannot be read: {0}")]
    Corrupt(String),
}

#[derive(sqlx::FromRow)]
struct Replayable {
    tenant_id: Uuid,
    order_id: Uuid,
    status: String,
    request: Json<serde_json::Value>,
    source: String,
    device_id: Option<String>,
    sync_batch_id: Option<Uuid>,
    request_hash: String,
    received_at: DateTime<Utc>,
    request_id: Option<String>,
    refund_id: Option<Uuid>,
}

/// A refund as stored, for replaying its failed sync.
#[derive(sqlx::FromRow)]
struct ReplayableRefund {
    request: Json<serde_json::Value>,
    request_hash: String,
    received_at: DateTime<Utc>,
    requested_by: Option<Uuid>,
    request_id: Option<String>,
}

/// Republish a failed sync's order with `overrides`, then record who did it.
pub async fn retry(
    db: &PgPool,
    publisher: &Publisher,
    scope: Scope,
    id: FailedSyncId,
    overrides: Overrides,
    by: &str,
) -> Result<(), ReviewError> {
    let mut read = scope.begin(db).await?;
    let row = sqlx::query_as::<_, Replayable>(
        "SELECT f.tenant_id, o.id AS order_id, f.status, f.request, o.source, o.device_id, o.sync_batch_id,
                encode(o.request_hash, 'hex') AS request_hash, o.received_at, o.request_id, f.refund_id
         FROM failed_syncs f JOIN orders o ON o.tenant_id = f.tenant_id AND o.id = COALESCE(f.order_id, f.refund_order_id)
         WHERE f.id = $1 AND ($2::uuid IS NULL OR f.tenant_id = $2)",
    )
    .bind(id.0)
    .bind(scope.tenant())
    .fetch_optional(&mut *read)
    .await?
    .ok_or(ReviewError::NotFound)?;
    let replay = Replay {
        failed_sync_id: Some(id),
        by: by.to_owned(),
        accept_client_prices: overrides.accept_client_prices,
        allow_oversell: overrides.allow_oversell,
    };
    let refund = match row.refund_id {
        Some(refund_id) => Some(refund_message(&mut read, &row, RefundId(refund_id), replay.clone()).await?),
        None => None,
    };
    drop(read);
    if row.status != "open" {
        return Err(ReviewError::NotOpen(row.status));
    }
    let message = match refund {
        Some(message) => message,
        None => order_message(row, replay)?,
    };
    let exchange = publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    publisher.publish(target, &message.encode(), headers::for_message(&message, 1)).await?;
    let mut tx = scope.begin(db).await?;
    sqlx::query("UPDATE failed_syncs SET last_retried_at = now() WHERE id = $1").bind(id.0).execute(&mut *tx).await?;
    record(&mut tx, message.tenant_id().0, id, "retried", by, overrides.note().as_deref()).await?;
    tx.commit().await?;
    Ok(())
}

async fn refund_message(
    read: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    row: &Replayable,
    refund_id: RefundId,
    replay: Replay,
) -> Result<Message, ReviewError> {
    let refund = sqlx::query_as::<_, ReplayableRefund>(
        "SELECT request, encode(request_hash, 'hex') AS request_hash, received_at, requested_by, request_id
         FROM refunds WHERE tenant_id = $1 AND id = $2",
    )
    .bind(row.tenant_id)
    .bind(refund_id.0)
    .fetch_optional(&mut **read)
    .await?
    .ok_or(ReviewError::NotFound)?;
    Ok(Message::Refund(RefundMessage {
        message_id: MessageId::generate(),
        tenant_id: TenantId(row.tenant_id),
        order_id: OrderId(row.order_id),
        refund_id,
        request_hash: refund.request_hash,
        requested_by: refund.requested_by.map(UserId),
        received_at: refund.received_at,
        request_id: refund.request_id,
        replay: Some(replay),
        refund: serde_json::from_value(refund.request.0).map_err(|e| ReviewError::Corrupt(e.to_string()))?,
    }))
}

fn order_message(row: Replayable, replay: Replay) -> Result<Message, ReviewError> {
    let order: ValidatedOrder =
        serde_json::from_value(row.request.0).map_err(|e| ReviewError::Corrupt(e.to_string()))?;
    Ok(Message::Order(OrderMessage {
        message_id: MessageId::generate(),
        tenant_id: TenantId(row.tenant_id),
        order_id: OrderId(row.order_id),
        source: Source::parse(&row.source).unwrap_or(Source::Offline),
        device_id: row.device_id,
        sync_batch_id: row.sync_batch_id.map(SyncBatchId),
        request_hash: row.request_hash,
        received_at: row.received_at,
        request_id: row.request_id,
        replay: Some(replay),
        order,
    }))
}

/// Mark an open failed sync discarded (its order stays `failed`).
pub async fn discard(db: &PgPool, scope: Scope, id: FailedSyncId, reason: &str, by: &str) -> Result<(), ReviewError> {
    let mut tx = scope.begin(db).await?;
    // The order row first: a commit of this order holds it, so a discard
    // and a retry's commit never interleave.
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT f.tenant_id, f.status FROM failed_syncs f
         JOIN orders o ON o.tenant_id = f.tenant_id AND o.id = COALESCE(f.order_id, f.refund_order_id)
         WHERE f.id = $1 AND ($2::uuid IS NULL OR f.tenant_id = $2)
         FOR UPDATE OF o",
    )
    .bind(id.0)
    .bind(scope.tenant())
    .fetch_optional(&mut *tx)
    .await?;
    let (tenant, status) = found.ok_or(ReviewError::NotFound)?;
    if status != "open" {
        return Err(ReviewError::NotOpen(status));
    }
    // Its own statement, so its own snapshot, taken with the order locked:
    // a retry that committed while this waited for the lock is seen here
    // (the status read above may predate it).
    let discarded = sqlx::query("UPDATE failed_syncs SET status = 'discarded' WHERE id = $1 AND status = 'open'")
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    if discarded.rows_affected() == 0 {
        let now: String =
            sqlx::query_scalar("SELECT status FROM failed_syncs WHERE id = $1").bind(id.0).fetch_one(&mut *tx).await?;
        return Err(ReviewError::NotOpen(now));
    }
    record(&mut tx, tenant, id, "discarded", by, Some(reason)).await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: Uuid,
    id: FailedSyncId,
    action: &str,
    by: &str,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO failed_sync_events (id, tenant_id, failed_sync_id, action, by, note) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(id.0)
        .bind(action)
        .bind(by)
        .bind(note)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
