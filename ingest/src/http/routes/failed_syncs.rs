//! Failed syncs under review: orders that could not be applied, with the
//! full request, the reason and the history of what people did about them;
//! retry (with overrides) and discard.

use crate::audit::{Entity, Trail, snapshot};
use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, OptionalBody, PathId, Query};
use crate::http::page::{self, Page};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::ids::FailedSyncId;
use common::replay::{self, Overrides, ReviewError, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json as Jsonb;
use std::collections::HashMap;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/failed-syncs", get(list))
        .route("/api/failed-syncs/summary", get(summary))
        .route("/api/failed-syncs/{id}", get(show))
        .route("/api/failed-syncs/{id}/retry", post(retry))
        .route("/api/failed-syncs/{id}/discard", post(discard))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    order_id: Uuid,
    client_order_id: Uuid,
    device_id: Option<String>,
    status: String,
    reason_code: String,
    reason_message: String,
    attempts: i32,
    first_failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    request: Jsonb<Value>,
    refund_id: Option<Uuid>,
    refund_request: Option<Jsonb<Value>>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    #[serde(skip)]
    failed_sync_id: Uuid,
    at: DateTime<Utc>,
    action: String,
    by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

macro_rules! columns {
    () => {
        "id, COALESCE(order_id, refund_order_id) AS order_id, client_order_id, device_id, status, reason_code, reason_message, attempts, first_failed_at, \
         last_failed_at, refund_id, \
         CASE WHEN refund_id IS NULL THEN request ELSE (SELECT o.request FROM orders o \
              WHERE o.tenant_id = failed_syncs.tenant_id AND o.id = failed_syncs.refund_order_id) END AS request, \
         CASE WHEN refund_id IS NOT NULL THEN request END AS refund_request"
    };
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedSyncView {
    id: Uuid,
    order_id: Uuid,
    client_order_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    status: String,
    reason: Reason,
    attempts: i32,
    first_failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    order: Value,
    /// A refund's failed sync: the refund and its request (`order` is the order it refunds).
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund: Option<Value>,
    history: Vec<HistoryEntry>,
}

#[derive(Serialize)]
struct Reason {
    code: String,
    message: String,
}

fn view(row: Row, history: Vec<HistoryEntry>) -> FailedSyncView {
    FailedSyncView {
        id: row.id,
        order_id: row.order_id,
        client_order_id: row.client_order_id,
        device_id: row.device_id,
        status: row.status,
        reason: Reason { code: row.reason_code, message: row.reason_message },
        attempts: row.attempts,
        first_failed_at: row.first_failed_at,
        last_failed_at: row.last_failed_at,
        order: row.request.0,
        refund_id: row.refund_id,
        refund: row.refund_request.map(|r| r.0),
        history,
    }
}

async fn history(db: &mut PgConnection, tenant: Uuid, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, Vec<HistoryEntry>>> {
    let entries = sqlx::query_as::<_, HistoryEntry>(
        "SELECT failed_sync_id, at, action, by, note FROM failed_sync_events
         WHERE tenant_id = $1 AND failed_sync_id = ANY($2) ORDER BY at, id",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(&mut *db)
    .await?;
    let mut grouped: HashMap<Uuid, Vec<HistoryEntry>> = HashMap::new();
    for entry in entries {
        grouped.entry(entry.failed_sync_id).or_default().push(entry);
    }
    Ok(grouped)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    reason: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    let limit = page::limit(q.limit)?;
    if q.status.as_deref().is_some_and(|s| !["open", "resolved", "discarded"].contains(&s)) {
        return Err(ApiError::invalid("status", "must be open, resolved or discarded"));
    }
    let page = Page::new(limit, q.cursor.as_deref())?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Row>(concat!(
        "SELECT ",
        columns!(),
        " FROM failed_syncs
         WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR reason_code = $3)
           AND ($4::timestamptz IS NULL OR (last_failed_at, id) < ($4, $5))
         ORDER BY last_failed_at DESC, id DESC LIMIT $6"
    ))
    .bind(auth.tenant_id.0)
    .bind(q.status)
    .bind(q.reason);
    let rows = page.bind(query).fetch_all(&mut *tx).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut histories = history(&mut tx, auth.tenant_id.0, &ids).await?;
    let views: Vec<FailedSyncView> = rows
        .into_iter()
        .map(|row| {
            let entries = histories.remove(&row.id).unwrap_or_default();
            view(row, entries)
        })
        .collect();
    Ok(Json(page.finish(views, |v| (v.last_failed_at, v.id))))
}

async fn one(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Value> {
    let row =
        sqlx::query_as::<_, Row>(concat!("SELECT ", columns!(), " FROM failed_syncs WHERE tenant_id = $1 AND id = $2"))
            .bind(auth.tenant_id.0)
            .bind(id)
            .fetch_optional(&mut *db)
            .await?
            .ok_or(ApiError::not_found("failed sync"))?;
    let entries = history(&mut *db, auth.tenant_id.0, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(serde_json::to_value(view(row, entries)).unwrap_or_default())
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    Ok(Json(one(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?))
}

/// Who acts, as the history shows it: the user's email.
async fn actor(db: &mut PgConnection, auth: &AuthUser) -> ApiResult<String> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(auth.tenant_id.0)
        .bind(auth.user_id.0)
        .fetch_optional(&mut *db)
        .await?;
    Ok(email.unwrap_or_else(|| format!("user:{}", auth.user_id)))
}

fn review_error(error: ReviewError) -> ApiError {
    match error {
        ReviewError::NotFound => ApiError::not_found("failed sync"),
        ReviewError::NotOpen(status) => ApiError::conflict("not_open", format!("this failed sync is already {status}")),
        ReviewError::Db(e) => e.into(),
        ReviewError::Publish(e) => e.into(),
        ReviewError::Corrupt(e) => ApiError::Internal(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetryRequest {
    overrides: Option<RetryOverrides>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetryOverrides {
    accept_client_prices: Option<bool>,
    allow_oversell: Option<bool>,
}

/// Records a review action on failed sync `id`, from `before` to now.
async fn audit(
    state: &AppState,
    auth: &AuthUser,
    trail: &Trail,
    action: &str,
    id: Uuid,
    before: Option<Value>,
) -> ApiResult<()> {
    let mut tx = state.tx(auth.tenant_id).await?;
    trail.updated(&mut tx, auth, action, Entity::FailedSync, id, before).await?;
    tx.commit().await?;
    Ok(())
}

async fn before(state: &AppState, auth: &AuthUser, id: Uuid) -> ApiResult<Option<Value>> {
    Ok(snapshot(&mut *state.tx(auth.tenant_id).await?, auth, Entity::FailedSync, id).await?)
}

async fn retry(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    OptionalBody(request): OptionalBody<RetryRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require(SUPERVISORS)?;
    let overrides = request.unwrap_or_default().overrides.unwrap_or_default();
    let overrides = Overrides {
        accept_client_prices: overrides.accept_client_prices.unwrap_or(false),
        allow_oversell: overrides.allow_oversell.unwrap_or(false),
    };
    let by = actor(&mut *state.tx(auth.tenant_id).await?, &auth).await?;
    let was = before(&state, &auth, id).await?;
    replay::retry(&state.db, &state.publisher, Scope::Tenant(auth.tenant_id), FailedSyncId(id), overrides, &by)
        .await
        .map_err(review_error)?;
    tracing::info!(tenant_id = %auth.tenant_id, failed_sync_id = %id, by, "failed sync retried");
    audit(&state, &auth, &trail, "retry", id, was).await?;
    Ok((StatusCode::ACCEPTED, Json(one(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscardRequest {
    reason: String,
}

async fn discard(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(request): Body<DiscardRequest>,
) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let by = actor(&mut *state.tx(auth.tenant_id).await?, &auth).await?;
    let was = before(&state, &auth, id).await?;
    replay::discard(&state.db, Scope::Tenant(auth.tenant_id), FailedSyncId(id), reason, &by)
        .await
        .map_err(review_error)?;
    tracing::info!(tenant_id = %auth.tenant_id, failed_sync_id = %id, by, "failed sync discarded");
    audit(&state, &auth, &trail, "discard", id, was).await?;
    Ok(Json(one(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    status: Option<String>,
}

/// Counts per reason (the review page groups by them).
async fn summary(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SummaryQuery>,
) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    let status = q.status.unwrap_or_else(|| "open".to_owned());
    let mut tx = state.tx(auth.tenant_id).await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reason_code, count(*) FROM failed_syncs WHERE tenant_id = $1 AND status = $2 GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .bind(auth.tenant_id.0)
    .bind(&status)
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let reasons: Vec<Value> =
        counts.into_iter().map(|(code, count)| serde_json::json!({ "code": code, "count": count })).collect();
    Ok(Json(serde_json::json!({ "status": status, "total": total, "byReason": reasons })))
}
