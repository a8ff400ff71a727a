//! Reading stock transfers: one with its items and why it failed, and the
//! list, newest first, filtered by status (`?status=failed` is the review
//! list of transfers waiting for a restock and a retry).

use crate::auth::{AuthUser, SUPERVISORS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{PathId, Query};
use crate::http::page::{Page, limit};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use common::ids::TransferId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub struct TransferRow {
    pub id: Uuid,
    pub client_transfer_id: Uuid,
    pub from_outlet_id: Uuid,
    pub to_outlet_id: Uuid,
    pub note: Option<String>,
    pub status: String,
    pub rejection_code: Option<String>,
    pub rejection_message: Option<String>,
    pub failures: i32,
    pub requested_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub committed_at: Option<DateTime<Utc>>,
    pub request: Value,
    pub request_hash: String,
}

macro_rules! columns {
    () => {
        "SELECT id, client_transfer_id, from_outlet_id, to_outlet_id, note, status, rejection_code, rejection_message,
                failures, requested_by, created_at, committed_at, request, encode(request_hash, 'hex') AS request_hash
         FROM stock_transfers "
    };
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    transfer_id: Uuid,
    client_transfer_id: Uuid,
    from_outlet_id: Uuid,
    to_outlet_id: Uuid,
    items: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection: Option<Value>,
    failures: i32,
    requested_by: Uuid,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    committed_at: Option<DateTime<Utc>>,
}

impl TransferRow {
    fn into_view(self) -> TransferView {
        let rejection = self
            .rejection_code
            .map(|code| serde_json::json!({ "code": code, "message": self.rejection_message.unwrap_or_default() }));
        TransferView {
            transfer_id: self.id,
            client_transfer_id: self.client_transfer_id,
            from_outlet_id: self.from_outlet_id,
            to_outlet_id: self.to_outlet_id,
            items: self.request["items"].clone(),
            note: self.note,
            status: self.status,
            rejection,
            failures: self.failures,
            requested_by: self.requested_by,
            created_at: self.created_at,
            committed_at: self.committed_at,
        }
    }
}

pub async fn fetch(db: &sqlx::PgPool, auth: &AuthUser, id: TransferId) -> ApiResult<TransferRow> {
    let mut tx = common::db::tenant_tx(db, &[auth.tenant_id.0]).await?;
    sqlx::query_as::<_, TransferRow>(concat!(columns!(), "WHERE tenant_id = $1 AND id = $2"))
        .bind(auth.tenant_id.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::not_found("stock transfer"))
}

pub async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<TransferView>> {
    auth.require(SUPERVISORS)?;
    Ok(Json(fetch(&state.db, &auth, TransferId(id)).await?.into_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    auth.require(SUPERVISORS)?;
    if q.status.as_deref().is_some_and(|s| !["pending", "committed", "failed"].contains(&s)) {
        return Err(ApiError::invalid("status", "must be pending, committed or failed"));
    }
    let page = Page::new(limit(q.limit)?, q.cursor.as_deref())?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, TransferRow>(concat!(
        columns!(),
        "WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
           AND ($5::text IS NULL OR status = $5)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(auth.tenant_id.0);
    let rows = page.bind(query).bind(q.status).fetch_all(&mut *tx).await?;
    let views: Vec<TransferView> = rows.into_iter().map(TransferRow::into_view).collect();
    Ok(Json(page.finish(views, |v| (v.created_at, v.transfer_id))))
}
