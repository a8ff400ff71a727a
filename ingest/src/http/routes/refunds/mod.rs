//! Refunds: take a refund of some of an order's items (validate → admit
//! against what the order sold → publish → 202), quote one (what it would
//! pay back, creating nothing), and read refunds. The worker applies it
//! exactly once: goods back to stock, money back.

mod admit;
mod quote;
pub mod view;

use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::ApiError;
use crate::http::error::ApiResult;
use crate::http::extract::{JsonValue, PathId, Query, WaitQuery};
use crate::http::middleware::limits::Writer;
use crate::http::middleware::request_id::RequestId;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use common::ids::{MessageId, OrderId, RefundId};
use common::message::{Message, RefundMessage};
use common::order::{canonical_hash, hex};
use common::refund::validate_refund;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders/{id}/refunds", post(create).get(list))
        .route("/api/orders/{id}/refunds/quote", post(quote_refund))
        .route("/api/refunds/{id}", get(show))
}

async fn create(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: crate::audit::Trail,
    Extension(RequestId(request_id)): Extension<RequestId>,
    PathId(order_id): PathId,
    Query(query): Query<WaitQuery>,
    JsonValue(body): JsonValue,
) -> ApiResult<Response> {
    auth.require(SUPERVISORS)?;
    let wait = query.wait()?;
    let received_at = Utc::now();
    let request_hash = hex(&canonical_hash(&body));
    let refund = validate_refund(body, received_at)?;
    let order_id = OrderId(order_id);
    let admitted = admit::admit(&state.db, &auth, &trail, order_id, &refund, &request_hash, received_at).await?;
    // A resend of a refund still pending publishes it again: the first
    // publish may not have happened. The worker applies it once either way.
    if admitted.status == "pending" {
        let message = Message::Refund(RefundMessage {
            message_id: MessageId::generate(),
            tenant_id: auth.tenant_id,
            order_id,
            refund_id: admitted.refund_id,
            request_hash,
            requested_by: Some(auth.user_id),
            received_at,
            request_id: Some(request_id),
            replay: None,
            refund: refund.clone(),
        });
        crate::accept::publish::one(&state.publisher, &message).await?;
    }
    tracing::info!(tenant_id = %auth.tenant_id, %order_id, refund_id = %admitted.refund_id, duplicate = admitted.duplicate, "refund accepted");
    if let Some(wait) = wait {
        let row = view::wait_for_outcome(&state.db, auth.tenant_id, admitted.refund_id, wait).await?;
        let status = match row.status.as_str() {
            "pending" => return Ok(accepted(admitted.refund_id, refund.client_refund_id, order_id, "pending")),
            "committed" => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        return Ok((status, Json(row.into_view())).into_response());
    }
    Ok(accepted(admitted.refund_id, refund.client_refund_id, order_id, &admitted.status))
}

/// What a refund of these items would pay back, by method: the body of a
/// refund request, the roles that may make one; nothing is written.
async fn quote_refund(
    State(state): State<AppState>,
    auth: AuthUser,
    PathId(order_id): PathId,
    JsonValue(body): JsonValue,
) -> ApiResult<Json<quote::QuoteView>> {
    auth.require(SUPERVISORS)?;
    let refund = validate_refund(body, Utc::now())?;
    let (tenant, order_id) = (auth.tenant_id.0, OrderId(order_id));
    let mut tx = common::db::tenant_tx(&state.db, &[tenant]).await?;
    let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(order_id.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::not_found("order"))?;
    if status != "committed" {
        let message = format!("a refund can be quoted for a committed order; this one is {status}");
        return Err(ApiError::conflict("not_refundable", message));
    }
    let quoted = quote::quote(&mut tx, tenant, order_id, &refund).await?;
    Ok(Json(quote::QuoteView::new(order_id, &refund, quoted)))
}

fn accepted(refund_id: RefundId, client_refund_id: uuid::Uuid, order_id: OrderId, status: &str) -> Response {
    let body = json!({
        "refundId": refund_id,
        "clientRefundId": client_refund_id,
        "orderId": order_id,
        "status": status,
        "statusUrl": format!("/api/refunds/{refund_id}"),
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<view::RefundView>> {
    Ok(Json(view::fetch(&state.db, auth.tenant_id, RefundId(id)).await?.into_view()))
}

/// Every refund of one order, oldest first (an order has few).
async fn list(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<serde_json::Value>> {
    let rows = view::of_order(&state.db, auth.tenant_id, OrderId(id)).await?;
    let data: Vec<_> = rows.into_iter().map(view::RefundRow::into_view).collect();
    Ok(Json(json!({ "data": data, "nextCursor": null })))
}
