//! Orders: take an order (validate → admit → publish → 202), read one or a
//! list, and cancel one (a message the workers apply exactly once).

pub mod view;

use crate::accept::candidate::{Candidate, Origin};
use crate::accept::{Acceptor, accept_one};
use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, JsonValue, PathId, Query, WaitQuery, within_years};
use crate::http::middleware::limits::Writer;
use crate::http::middleware::request_id::RequestId;
use crate::http::page::{self, Page};
use crate::state::AppState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use common::ids::{ClientOrderId, MessageId, OrderId};
use common::message::{CancelMessage, Message};
use common::order::{OrderStatus, Source, canonical_hash, validate_order};
use serde::Deserialize;
use serde_json::json;
use view::OrderRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", post(create).get(list))
        .route("/api/orders/{id}", get(show))
        .route("/api/orders/{id}/cancel", post(cancel))
}

async fn create(
    State(state): State<AppState>,
    Writer(auth): Writer,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Query(query): Query<WaitQuery>,
    JsonValue(body): JsonValue,
) -> ApiResult<Response> {
    let wait = query.wait()?;
    let received_at = Utc::now();
    let request_hash = canonical_hash(&body);
    let mut order = validate_order(body, received_at)?;
    state.outlets.place(auth.tenant_id, &mut order).await?;
    let client_order_id = order.client_order_id;
    // A resend of an order already accepted is answered as before, even if
    // the door would now price it differently.
    if let Err(mismatch) = state.quoter.check_payment(auth.tenant_id, &order).await
        && !view::exists(&state.db, auth.tenant_id, client_order_id).await?
    {
        return Err(mismatch);
    }
    let origin = Origin {
        tenant_id: auth.tenant_id,
        source: Source::Online,
        // A registered till signed in: the order names it.
        device_id: auth.device_id.map(|d| d.to_string()),
        sync_batch_id: None,
        received_at,
        request_id,
        sold_by: Some(auth.user_id),
    };
    let accepted = accept_one(&Acceptor::from_ref(&state), &origin, Candidate { order, request_hash }).await?;
    tracing::info!(tenant_id = %auth.tenant_id, order_id = %accepted.order_id, %client_order_id, duplicate = accepted.duplicate, "order accepted");
    if let Some(wait) = wait {
        let row = view::wait_for_outcome(&state.db, auth.tenant_id, accepted.order_id, wait).await?;
        return Ok(outcome_response(row));
    }
    let status = match accepted.status {
        Some(status) => status,
        None => view::fetch(&state.db, auth.tenant_id, accepted.order_id).await?.status(),
    };
    Ok(accepted_response(accepted.order_id, client_order_id, status))
}

/// `202 {orderId, clientOrderId, status, statusUrl}`.
pub fn accepted_response(order_id: OrderId, client_order_id: ClientOrderId, status: OrderStatus) -> Response {
    let body = json!({
        "orderId": order_id,
        "clientOrderId": client_order_id,
        "status": status,
        "statusUrl": format!("/api/orders/{order_id}"),
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The answer to `?wait=`: 201 committed, 200 not applied, 202 still pending.
fn outcome_response(row: OrderRow) -> Response {
    match row.status() {
        OrderStatus::Pending => {
            accepted_response(OrderId(row.id), ClientOrderId(row.client_order_id), OrderStatus::Pending)
        }
        OrderStatus::Committed | OrderStatus::Cancelled => (StatusCode::CREATED, Json(row.into_view())).into_response(),
        OrderStatus::Rejected | OrderStatus::Failed => (StatusCode::OK, Json(row.into_view())).into_response(),
    }
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<view::OrderView>> {
    Ok(Json(view::fetch(&state.db, auth.tenant_id, OrderId(id)).await?.into_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = page::limit(q.limit)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "is not an order status"))?),
    };
    let page = Page::new(limit, q.cursor.as_deref())?;
    let from = q.from.map(|t| within_years("from", t)).transpose()?;
    let to = q.to.map(|t| within_years("to", t)).transpose()?;
    let rows = view::list(&state.db, auth.tenant_id, view::Filter { status, from, to }, &page).await?;
    let views: Vec<_> = rows.into_iter().map(OrderRow::into_view).collect();
    Ok(Json(page.finish(views, |o| (o.created_at, o.order_id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: crate::audit::Trail,
    Extension(RequestId(request_id)): Extension<RequestId>,
    PathId(id): PathId,
    Body(request): Body<CancelRequest>,
) -> ApiResult<Response> {
    auth.require(SUPERVISORS)?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let row = view::fetch(&state.db, auth.tenant_id, OrderId(id)).await?;
    if row.status() != OrderStatus::Committed {
        return Err(ApiError::conflict(
            "not_cancellable",
            format!("only a committed order can be cancelled; this one is {}", row.status),
        ));
    }
    let message = Message::Cancel(CancelMessage {
        message_id: MessageId::generate(),
        tenant_id: auth.tenant_id,
        order_id: OrderId(id),
        reason: reason.to_owned(),
        requested_by: auth.user_id,
        requested_at: Utc::now(),
        request_id: Some(request_id),
    });
    crate::accept::publish::one(&state.publisher, &message).await?;
    tracing::info!(tenant_id = %auth.tenant_id, order_id = %id, "order cancellation queued");
    let change = crate::audit::Change {
        action: "cancel",
        entity: crate::audit::Entity::Order,
        entity_id: id.to_string(),
        before: Some(serde_json::json!({ "status": row.status, "total": row.total })),
        after: Some(serde_json::json!({ "status": "cancel_requested", "reason": reason })),
    };
    trail.record_alone(&state.db, &auth, change).await?;
    Ok(accepted_response(OrderId(id), ClientOrderId(row.client_order_id), OrderStatus::Committed))
}
