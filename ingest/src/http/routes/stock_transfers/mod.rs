//! Stock transfers between a shop's outlets: take one (validate → admit →
//! publish → 202), read them (the failed ones are the review list), and
//! retry a failed one after a restock. The worker commits each exactly
//! once as `transfer_out` and `transfer_in` movements, never taking the
//! source outlet below zero.

mod admit;
mod view;

use crate::audit::{Change, Entity, Trail};
use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonValue, PathId};
use crate::http::middleware::limits::Writer;
use crate::http::middleware::request_id::RequestId;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use common::ids::{MessageId, TransferId};
use common::message::{Message, Replay, TransferMessage};
use common::order::{canonical_hash, hex};
use common::transfer::{ValidatedTransfer, validate_transfer};
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stock-transfers", post(create).get(view::list))
        .route("/api/stock-transfers/{id}", get(view::show))
        .route("/api/stock-transfers/{id}/retry", post(retry))
}

async fn create(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: Trail,
    Extension(RequestId(request_id)): Extension<RequestId>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require(SUPERVISORS)?;
    let request_hash = hex(&canonical_hash(&body));
    let transfer = validate_transfer(body)?;
    let admitted = admit::admit(&state.db, &auth, &trail, &transfer, &request_hash).await?;
    // A resend of a transfer still pending publishes it again: the first
    // publish may not have happened. The worker applies it once either way.
    if admitted.status == "pending" {
        publish(&state, &auth, admitted.id, request_hash, transfer.clone(), Some(request_id), None).await?;
    }
    tracing::info!(tenant_id = %auth.tenant_id, transfer_id = %admitted.id, duplicate = admitted.duplicate, "stock transfer accepted");
    Ok(accepted(admitted.id, &transfer, &admitted.status))
}

/// Retry a failed transfer (after a restock): the same transfer, applied
/// once it fits; one that is not failed cannot be retried (409).
async fn retry(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: Trail,
    Extension(RequestId(request_id)): Extension<RequestId>,
    PathId(id): PathId,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require(SUPERVISORS)?;
    let row = view::fetch(&state.db, &auth, TransferId(id)).await?;
    if row.status != "failed" {
        return Err(ApiError::conflict("not_retryable", format!("the transfer is {}, not failed", row.status)));
    }
    let transfer: ValidatedTransfer = serde_json::from_value(row.request.clone())
        .map_err(|e| ApiError::Internal(format!("stored transfer {id} does not decode: {e}")))?;
    let replay = Replay { by: auth.user_id.to_string(), ..Replay::default() };
    publish(&state, &auth, TransferId(id), row.request_hash.clone(), transfer.clone(), Some(request_id), Some(replay))
        .await?;
    tracing::info!(tenant_id = %auth.tenant_id, transfer_id = %id, "stock transfer retried");
    let change = Change {
        action: "retry",
        entity: Entity::StockTransfer,
        entity_id: id.to_string(),
        before: Some(serde_json::json!({ "status": row.status })),
        after: Some(serde_json::json!({ "status": "retry_requested" })),
    };
    trail.record_alone(&state.db, &auth, change).await?;
    Ok(accepted(TransferId(id), &transfer, "failed"))
}

async fn publish(
    state: &AppState,
    auth: &AuthUser,
    transfer_id: TransferId,
    request_hash: String,
    transfer: ValidatedTransfer,
    request_id: Option<String>,
    replay: Option<Replay>,
) -> ApiResult<()> {
    let message = Message::Transfer(TransferMessage {
        message_id: MessageId::generate(),
        tenant_id: auth.tenant_id,
        transfer_id,
        request_hash,
        requested_by: auth.user_id,
        received_at: Utc::now(),
        request_id,
        replay,
        transfer,
    });
    crate::accept::publish::one(&state.publisher, &message).await?;
    Ok(())
}

fn accepted(id: TransferId, transfer: &ValidatedTransfer, status: &str) -> (StatusCode, Json<Value>) {
    let body = json!({
        "transferId": id,
        "clientTransferId": transfer.client_transfer_id,
        "status": status,
        "statusUrl": format!("/api/stock-transfers/{id}"),
    });
    (StatusCode::ACCEPTED, Json(body))
}
