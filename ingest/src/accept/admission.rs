//! Admission, the idempotency record: an order's `pending` row, written
//! before its message is published, so that Postgres (not Redis, not the
//! broker) decides what a clientOrderId means. The unique key (tenant,
//! clientOrderId) decides: a new id inserts, the same id with the same body
//! (canonical hash) is a duplicate answered with the first orderId, a
//! different body is a 409. Any number of orders take two statements.

use crate::accept::candidate::{Candidate, Origin, StoredOrigin};
use crate::http::error::ApiError;
use chrono::{DateTime, Utc};
use common::ids::{OrderId, SyncBatchId};
use common::order::{OrderStatus, Source, ValidatedOrder};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Clone, Debug)]
// At most one per order of a request, decided and consumed at once: boxing
// the stored request would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Admission {
    /// A new pending row; its message must be published.
    New { order_id: OrderId },
    /// The same request was admitted before; `stored` and `origin` are the
    /// request and its origin as first stored (republished while the order
    /// is still pending).
    Same { order_id: OrderId, status: OrderStatus, stored: ValidatedOrder, origin: StoredOrigin },
    /// The clientOrderId is taken by a different request.
    Different { order_id: OrderId },
}

const INSERT_PENDING: &str = "
INSERT INTO orders (id, tenant_id, client_order_id, source, request, request_hash, outlet_id, member_id,
                    device_id, sync_batch_id, created_at, received_at, request_id)
SELECT k.id, $1, k.client_order_id, $2, k.request, k.request_hash, k.outlet_id, k.member_id, $3, $4, k.created_at, $5, $6
FROM unnest($7::uuid[], $8::uuid[], $9::jsonb[], $10::bytea[], $11::uuid[], $12::uuid[], $13::timestamptz[])
     AS k(id, client_order_id, request, request_hash, outlet_id, member_id, created_at)
ON CONFLICT (tenant_id, client_order_id) DO NOTHING
RETURNING client_order_id, id";

const EXISTING: &str = "
SELECT id, client_order_id, status, request_hash, request, source, device_id, sync_batch_id, received_at, request_id
FROM orders WHERE tenant_id = $1 AND client_order_id = ANY($2)";

/// A pending (or later) row found under a clientOrderId.
#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    client_order_id: Uuid,
    status: String,
    request_hash: Vec<u8>,
    request: sqlx::types::Json<ValidatedOrder>,
    source: String,
    device_id: Option<String>,
    sync_batch_id: Option<Uuid>,
    received_at: DateTime<Utc>,
    request_id: Option<String>,
}

impl Existing {
    fn origin(&self) -> Result<StoredOrigin, ApiError> {
        let source =
            Source::parse(&self.source).ok_or_else(|| ApiError::Internal(format!("bad source {}", self.source)))?;
        Ok(StoredOrigin {
            source,
            device_id: self.device_id.clone(),
            sync_batch_id: self.sync_batch_id.map(SyncBatchId),
            received_at: self.received_at,
            request_id: self.request_id.clone(),
        })
    }
}

/// Admit candidates (distinct clientOrderIds) in two statements whatever their number.
pub async fn admit(db: &PgPool, origin: &Origin, candidates: &[Candidate]) -> Result<Vec<Admission>, ApiError> {
    let mut tx = common::db::tenant_tx(db, &[origin.tenant_id.0]).await?;
    let inserted = insert_pending(&mut tx, origin, candidates).await?;
    let others: Vec<Uuid> =
        candidates.iter().map(|c| c.order.client_order_id.0).filter(|id| !inserted.contains_key(id)).collect();
    let existing: HashMap<Uuid, Existing> = if others.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, Existing>(EXISTING)
            .bind(origin.tenant_id.0)
            .bind(&others)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| (row.client_order_id, row))
            .collect()
    };
    tx.commit().await?;
    candidates.iter().map(|candidate| decide(candidate, &inserted, &existing)).collect()
}

/// Insert the candidates' pending rows; clientOrderId → new order id for those that were new.
async fn insert_pending(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    origin: &Origin,
    candidates: &[Candidate],
) -> Result<HashMap<Uuid, Uuid>, ApiError> {
    let ids: Vec<Uuid> = candidates.iter().map(|_| Uuid::now_v7()).collect();
    let client_ids: Vec<Uuid> = candidates.iter().map(|c| c.order.client_order_id.0).collect();
    let requests: Vec<serde_json::Value> =
        candidates.iter().map(|c| serde_json::to_value(&c.order).unwrap_or_default()).collect();
    let hashes: Vec<Vec<u8>> = candidates.iter().map(|c| c.request_hash.to_vec()).collect();
    let outlets: Vec<Option<Uuid>> = candidates.iter().map(|c| c.order.outlet_id).collect();
    let members: Vec<Option<Uuid>> = candidates.iter().map(|c| c.order.member_id).collect();
    let created: Vec<DateTime<Utc>> = candidates.iter().map(|c| c.order.created_at).collect();
    Ok(sqlx::query_as::<_, (Uuid, Uuid)>(INSERT_PENDING)
        .bind(origin.tenant_id.0)
        .bind(origin.source.as_str())
        .bind(origin.device_id.as_deref())
        .bind(origin.sync_batch_id.map(|b| b.0))
        .bind(origin.received_at)
        .bind(&origin.request_id)
        .bind(&ids)
        .bind(&client_ids)
        .bind(&requests)
        .bind(&hashes)
        .bind(&outlets)
        .bind(&members)
        .bind(&created)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect())
}

fn decide(
    candidate: &Candidate,
    inserted: &HashMap<Uuid, Uuid>,
    existing: &HashMap<Uuid, Existing>,
) -> Result<Admission, ApiError> {
    let client_id = candidate.order.client_order_id.0;
    if let Some(id) = inserted.get(&client_id) {
        return Ok(Admission::New { order_id: OrderId(*id) });
    }
    let row = existing
        .get(&client_id)
        .ok_or_else(|| ApiError::Internal(format!("order {client_id} neither inserted nor found")))?;
    let order_id = OrderId(row.id);
    if row.request_hash.as_slice() != candidate.request_hash {
        return Ok(Admission::Different { order_id });
    }
    let status =
        OrderStatus::parse(&row.status).ok_or_else(|| ApiError::Internal(format!("bad status {}", row.status)))?;
    Ok(Admission::Same { order_id, status, stored: row.request.0.clone(), origin: row.origin()? })
}
