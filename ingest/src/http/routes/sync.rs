//! Offline sync: a terminal uploads the sales it made while offline. The
//! body (up to 2 MiB) is read one order at a time, never held as one JSON
//! value; each order is validated on its own (an invalid one never blocks the rest),
//! the valid ones are admitted and published together, and the answer
//! lists every order's result in request order.

use crate::accept::candidate::{Accepted, Candidate, Origin};
use crate::accept::outlets::ShopOutlets;
use crate::accept::{Acceptor, accept_many};
use crate::auth::AuthUser;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBytes, PathId, SYNC_BODY_LIMIT};
use crate::http::middleware::limits::Writer;
use crate::http::middleware::request_id::RequestId;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use common::ids::{OrderId, SyncBatchId};
use common::order::{FieldError, Source, SyncEnvelope, canonical_hash, read_sync_body, validate_order};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

const MAX_ORDERS: usize = 500;
const MAX_DEVICE_ID_CHARS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/sync/orders", post(sync)).route("/api/sync/batches/{id}", get(batch))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncResult {
    client_order_id: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<OrderId>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// Where each order of the request ended up before acceptance.
enum Slot {
    Candidate(usize),
    DuplicateOf(usize),
    Invalid(Value),
}

/// The request's orders sorted out before acceptance: the distinct valid
/// ones to accept, and where each order of the request went.
#[derive(Default)]
struct Sorted {
    candidates: Vec<Candidate>,
    slots: Vec<Slot>,
    client_ids: Vec<Value>,
    /// clientOrderId → its candidate.
    seen: HashMap<Uuid, usize>,
}

/// A turn to have a sync body read: at most `SYNC_MAX_CONCURRENT` bodies
/// are held at once, however many terminals upload; the others wait here,
/// before reading, within the request's timeout.
struct SyncTurn(tokio::sync::OwnedSemaphorePermit);

impl FromRequestParts<AppState> for SyncTurn {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let turns = state.sync_uploads.clone();
        // Never closed; were it, the terminal would resend as after any 503.
        turns.acquire_owned().await.map(SyncTurn).map_err(|_| ApiError::Unavailable {
            code: "overloaded",
            message: "ingest is shutting down".into(),
            retry_after_secs: 1,
        })
    }
}

async fn sync(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Extension(RequestId(request_id)): Extension<RequestId>,
    SyncTurn(_turn): SyncTurn,
    JsonBytes(body): JsonBytes<SYNC_BODY_LIMIT>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let received_at = Utc::now();
    let outlets = state.outlets.read(auth.tenant_id).await?;
    let mut sorted = Sorted::default();
    let envelope = read_sync_body(&body, MAX_ORDERS, |_, order| sorted.push(order, received_at, &outlets))?;
    drop(body);
    let device_id = check_envelope(envelope)?;
    // A registered till signed in: the batch and its orders name it, not
    // the free text the terminal sent.
    let device_id = auth.device_id.map_or(device_id, |d| d.to_string());
    let batch_id = SyncBatchId::generate();
    let origin = Origin {
        tenant_id: auth.tenant_id,
        source: Source::Offline,
        device_id: Some(device_id.clone()),
        sync_batch_id: Some(batch_id),
        received_at,
        request_id,
        sold_by: Some(auth.user_id),
    };
    let accepted = accept_many(&Acceptor::from_ref(&state), &origin, &sorted.candidates).await?;
    // A publish that was not confirmed fails the upload: the terminal keeps
    // its sales and resends; what was confirmed comes back as duplicates.
    if let Some(Err(error)) = accepted.iter().find(|r| matches!(r, Err(ApiError::Unavailable { .. }))) {
        return Err(error.clone());
    }
    let results = results(sorted, &accepted);
    let batch_orders: Vec<Uuid> = results.iter().filter_map(|r| r.order_id).map(|id| id.0).collect();
    let mut tx = state.tx(auth.tenant_id).await?;
    sqlx::query("INSERT INTO sync_batches (id, tenant_id, device_id, received_at, created_by, order_ids) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(batch_id.0)
        .bind(auth.tenant_id.0)
        .bind(&device_id)
        .bind(received_at)
        .bind(auth.user_id.0)
        .bind(&batch_orders)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let accepted_count = results.iter().filter(|r| r.status == "accepted").count();
    tracing::info!(tenant_id = %auth.tenant_id, %batch_id, device_id, orders = results.len(), accepted = accepted_count, "sync batch accepted");
    Ok((StatusCode::ACCEPTED, Json(json!({ "batchId": batch_id, "results": results }))))
}

impl Sorted {
    /// Validate one order on its own, as it is read; an order repeated in
    /// the batch is accepted once (same body) or refused (different body).
    fn push(&mut self, value: Value, received_at: DateTime<Utc>, outlets: &ShopOutlets) {
        self.client_ids.push(value.get("clientOrderId").cloned().unwrap_or(Value::Null));
        let request_hash = canonical_hash(&value);
        let placed = validate_order(value, received_at).map_err(ApiError::from).and_then(|mut order| {
            outlets.place(&mut order)?;
            Ok(order)
        });
        let slot = match placed {
            Err(error) => Slot::Invalid(error_json(&error)),
            Ok(order) => match self.seen.get(&order.client_order_id.0) {
                Some(&first) if self.candidates[first].request_hash == request_hash => Slot::DuplicateOf(first),
                Some(_) => Slot::Invalid(
                    json!({"code": "idempotency_conflict", "message": "clientOrderId appears twice in this batch with different bodies"}),
                ),
                None => {
                    self.seen.insert(order.client_order_id.0, self.candidates.len());
                    self.candidates.push(Candidate { order, request_hash });
                    Slot::Candidate(self.candidates.len() - 1)
                }
            },
        };
        self.slots.push(slot);
    }
}

/// Every order's result, in request order.
fn results(sorted: Sorted, accepted: &[Result<Accepted, ApiError>]) -> Vec<SyncResult> {
    let mut results = Vec::with_capacity(sorted.slots.len());
    for (slot, client_order_id) in sorted.slots.into_iter().zip(sorted.client_ids) {
        let (order_id, status, error) = match slot {
            Slot::Invalid(error) => (None, "invalid", Some(error)),
            Slot::Candidate(i) | Slot::DuplicateOf(i) => match &accepted[i] {
                Err(error) => (None, "invalid", Some(error_json(error))),
                Ok(a) => {
                    let duplicate = a.duplicate || matches!(slot, Slot::DuplicateOf(_));
                    (Some(a.order_id), if duplicate { "duplicate" } else { "accepted" }, None)
                }
            },
        };
        results.push(SyncResult { client_order_id, order_id, status, error });
    }
    results
}

fn check_envelope(envelope: SyncEnvelope) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let device_id = envelope.device_id.map(|d| d.trim().to_owned()).unwrap_or_default();
    if device_id.is_empty() || device_id.chars().count() > MAX_DEVICE_ID_CHARS {
        errors.push(FieldError::new("deviceId", format!("is required, at most {MAX_DEVICE_ID_CHARS} characters")));
    }
    if envelope.orders == 0 || envelope.orders > MAX_ORDERS {
        errors.push(FieldError::new("orders", format!("must hold 1 to {MAX_ORDERS} orders")));
    }
    if errors.is_empty() { Ok(device_id) } else { Err(ApiError::Validation(errors)) }
}

/// An error as a sync result carries it: `{code, message, details?}`.
fn error_json(error: &ApiError) -> Value {
    serde_json::to_value(error.body()).unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct BatchOrder {
    client_order_id: Uuid,
    id: Uuid,
    status: String,
    rejection_code: Option<String>,
    rejection_message: Option<String>,
}

async fn batch(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    let mut tx = state.tx(auth.tenant_id).await?;
    let (device_id, received_at, order_ids): (String, DateTime<Utc>, Vec<Uuid>) =
        sqlx::query_as("SELECT device_id, received_at, order_ids FROM sync_batches WHERE tenant_id = $1 AND id = $2")
            .bind(auth.tenant_id.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ApiError::not_found("sync batch"))?;
    let orders = sqlx::query_as::<_, BatchOrder>(
        "SELECT o.client_order_id, o.id, o.status, o.rejection_code, o.rejection_message
         FROM unnest($2::uuid[]) WITH ORDINALITY AS b(id, n)
         JOIN orders o ON o.tenant_id = $1 AND o.id = b.id
         ORDER BY b.n",
    )
    .bind(auth.tenant_id.0)
    .bind(&order_ids)
    .fetch_all(&mut *tx)
    .await?;
    let orders: Vec<Value> = orders
        .into_iter()
        .map(|o| {
            let mut entry = json!({ "clientOrderId": o.client_order_id, "orderId": o.id, "status": o.status });
            if let Some(code) = o.rejection_code {
                entry["rejection"] = json!({ "code": code, "message": o.rejection_message.unwrap_or_default() });
            }
            entry
        })
        .collect();
    Ok(Json(json!({ "batchId": id, "deviceId": device_id, "receivedAt": received_at, "orders": orders })))
}
