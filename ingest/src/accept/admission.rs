//! Admission, the idempotency record: an order's `pending` row, written
//! before its message is published, so that Postgres (not Redis, not the
//! broker) decides what a clientOrderId means. The unique key (tenant,
//! clientOrderId) decides: a new id inserts, the same id with the same body
//! (canonical hash) is a duplicate answered with the first orderId, a
//! different body is a 409. A group of requests (several tenants among
//! them) takes one transaction and two statements, whatever its size; row-
//! level security admits the group's tenants, and every row and lookup is
//! keyed by (tenant, clientOrderId), so one tenant's answer never names
//! another's order.

use crate::accept::candidate::{Candidate, Origin, StoredOrigin};
use crate::http::error::ApiError;
use chrono::{DateTime, Utc};
use common::ids::{OrderId, SyncBatchId};
use common::order::{OrderStatus, Source, ValidatedOrder};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
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
                    device_id, sync_batch_id, created_at, received_at, request_id, sold_by)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::bytea[], $7::uuid[], $8::uuid[],
                     $9::text[], $10::uuid[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::uuid[])
ON CONFLICT (tenant_id, client_order_id) DO NOTHING
RETURNING id";

// Own-transaction rows included: a clientOrderId twice in one group finds
// the row its first copy inserted.
const EXISTING: &str = "
SELECT o.id, o.tenant_id, o.client_order_id, o.status, o.request_hash, o.request, o.source, o.device_id,
       o.sync_batch_id, o.received_at, o.request_id
FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, client_order_id)
JOIN orders o ON o.tenant_id = k.tenant_id AND o.client_order_id = k.client_order_id";

/// A pending (or later) row found under a clientOrderId.
#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    tenant_id: Uuid,
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

/// One request of a group: its call and its candidates (distinct clientOrderIds).
pub struct Group<'a> {
    pub origin: &'a Origin,
    pub candidates: &'a [Candidate],
}

/// Per request, per candidate: what its clientOrderId means now.
pub type Admissions = Vec<Vec<Result<Admission, ApiError>>>;

/// Admit a group of requests in one transaction. The error is the
/// transaction's, for the caller to sort (one row's fault, or everyone's).
pub async fn admit<'a>(db: &PgPool, group: &[Group<'a>]) -> Result<Admissions, sqlx::Error> {
    let rows = Rows::of(group);
    let mut tenants = rows.tenants.clone();
    tenants.sort_unstable();
    tenants.dedup();
    let mut tx = common::db::tenant_tx(db, &tenants).await?;
    let inserted: HashSet<Uuid> = rows.insert(&mut tx).await?.into_iter().collect();
    let (lookup_tenants, lookup_clients): (Vec<Uuid>, Vec<Uuid>) = (0..rows.ids.len())
        .filter(|&i| !inserted.contains(&rows.ids[i]))
        .map(|i| (rows.tenants[i], rows.client_ids[i]))
        .unzip();
    let existing: HashMap<(Uuid, Uuid), Existing> = if lookup_tenants.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, Existing>(EXISTING)
            .bind(&lookup_tenants)
            .bind(&lookup_clients)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| ((row.tenant_id, row.client_order_id), row))
            .collect()
    };
    tx.commit().await?;
    let mut ids = rows.ids.iter();
    Ok(group
        .iter()
        .map(|request| {
            let tenant = request.origin.tenant_id.0;
            let decide = |(c, id): (&Candidate, &Uuid)| decide(tenant, c, *id, &inserted, &existing);
            request.candidates.iter().zip(ids.by_ref()).map(decide).collect()
        })
        .collect())
}

/// Errors that one row of a group may have caused alone (bad data, a
/// constraint, a trigger's refusal), as opposed to the database failing everyone.
pub fn is_row_specific(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|db| db.code()).is_some_and(|code| {
        code.starts_with("22") || code.starts_with("23") || code.starts_with("P0") || code.starts_with("42")
    })
}

/// The group's pending rows, column by column, in request then candidate
/// order. Requests are bound as `Json` of the validated order: serialized
/// straight into the statement, never copied into JSON values first.
struct Rows<'a> {
    ids: Vec<Uuid>,
    tenants: Vec<Uuid>,
    client_ids: Vec<Uuid>,
    sources: Vec<&'static str>,
    requests: Vec<sqlx::types::Json<&'a ValidatedOrder>>,
    hashes: Vec<Vec<u8>>,
    outlets: Vec<Option<Uuid>>,
    members: Vec<Option<Uuid>>,
    devices: Vec<Option<String>>,
    batches: Vec<Option<Uuid>>,
    created: Vec<DateTime<Utc>>,
    received: Vec<DateTime<Utc>>,
    request_ids: Vec<String>,
    sellers: Vec<Option<Uuid>>,
}

impl<'a> Rows<'a> {
    fn of(group: &[Group<'a>]) -> Self {
        let n = group.iter().map(|r| r.candidates.len()).sum();
        let mut rows = Rows {
            ids: Vec::with_capacity(n),
            tenants: Vec::with_capacity(n),
            client_ids: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            requests: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            outlets: Vec::with_capacity(n),
            members: Vec::with_capacity(n),
            devices: Vec::with_capacity(n),
            batches: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            received: Vec::with_capacity(n),
            request_ids: Vec::with_capacity(n),
            sellers: Vec::with_capacity(n),
        };
        for request in group {
            for candidate in request.candidates {
                rows.push(request.origin, candidate);
            }
        }
        rows
    }

    fn push(&mut self, origin: &Origin, candidate: &'a Candidate) {
        let order = &candidate.order;
        self.ids.push(Uuid::now_v7());
        self.tenants.push(origin.tenant_id.0);
        self.client_ids.push(order.client_order_id.0);
        self.sources.push(origin.source.as_str());
        self.requests.push(sqlx::types::Json(order));
        self.hashes.push(candidate.request_hash.to_vec());
        self.outlets.push(order.outlet_id);
        self.members.push(order.member_id);
        self.devices.push(origin.device_id.clone());
        self.batches.push(origin.sync_batch_id.map(|b| b.0));
        self.created.push(order.created_at);
        self.received.push(origin.received_at);
        self.request_ids.push(origin.request_id.clone());
        self.sellers.push(origin.sold_by.map(|u| u.0));
    }

    /// Insert the rows; the ids of those that were new.
    async fn insert(&self, tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(INSERT_PENDING)
            .bind(&self.ids)
            .bind(&self.tenants)
            .bind(&self.client_ids)
            .bind(&self.sources)
            .bind(&self.requests)
            .bind(&self.hashes)
            .bind(&self.outlets)
            .bind(&self.members)
            .bind(&self.devices)
            .bind(&self.batches)
            .bind(&self.created)
            .bind(&self.received)
            .bind(&self.request_ids)
            .bind(&self.sellers)
            .fetch_all(&mut **tx)
            .await
    }
}

/// A candidate whose row went in is new; any other finds the row under its
/// (tenant, clientOrderId): the same body is a duplicate, another a conflict.
fn decide(
    tenant: Uuid,
    candidate: &Candidate,
    id: Uuid,
    inserted: &HashSet<Uuid>,
    existing: &HashMap<(Uuid, Uuid), Existing>,
) -> Result<Admission, ApiError> {
    if inserted.contains(&id) {
        return Ok(Admission::New { order_id: OrderId(id) });
    }
    let client_id = candidate.order.client_order_id.0;
    let row = existing
        .get(&(tenant, client_id))
        .ok_or_else(|| ApiError::Internal(format!("order {client_id} neither inserted nor found")))?;
    let order_id = OrderId(row.id);
    if row.request_hash.as_slice() != candidate.request_hash {
        return Ok(Admission::Different { order_id });
    }
    let status =
        OrderStatus::parse(&row.status).ok_or_else(|| ApiError::Internal(format!("bad status {}", row.status)))?;
    Ok(Admission::Same { order_id, status, stored: row.request.0.clone(), origin: row.origin()? })
}
