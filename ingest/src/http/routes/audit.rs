//! `GET /api/audit`: the shop's audit trail for owners and admins, newest
//! first, filtered by entity, entity id, actor and time, paged like every
//! list. Rows are only ever added (the services' role cannot change them).

use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Query, within_years};
use crate::http::page::{Page, limit};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/audit", get(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    entity: Option<String>,
    entity_id: Option<String>,
    actor: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct AuditEntry {
    id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    actor_user_id: Option<Uuid>,
    actor_name: Option<String>,
    device_id: Option<Uuid>,
    client_addr: Option<String>,
    request_id: Option<String>,
    action: String,
    entity: String,
    entity_id: String,
    before: Option<Value>,
    after: Option<Value>,
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<AuditQuery>) -> ApiResult<Json<Value>> {
    auth.require(MANAGERS)?;
    if q.entity.as_ref().is_some_and(|e| e.len() > 64) || q.entity_id.as_ref().is_some_and(|e| e.len() > 128) {
        return Err(ApiError::invalid("entity", "entity and entityId are at most 64 and 128 characters"));
    }
    let (from, to) =
        (q.from.map(|t| within_years("from", t)).transpose()?, q.to.map(|t| within_years("to", t)).transpose()?);
    let page = Page::new(limit(q.limit)?, q.cursor.as_deref())?;
    let mut tx = state.snapshot(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, AuditEntry>(
        "SELECT a.id, a.at, a.actor, a.actor_user_id, u.name AS actor_name, a.actor_device_id AS device_id,
                a.client_addr, a.request_id, a.action, a.entity, a.entity_id, a.before, a.after
         FROM audit_log a LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.actor_user_id
         WHERE a.tenant_id = $1
           AND ($2::text IS NULL OR a.entity = $2)
           AND ($3::text IS NULL OR a.entity_id = $3)
           AND ($4::uuid IS NULL OR a.actor_user_id = $4)
           AND ($5::timestamptz IS NULL OR a.at >= $5)
           AND ($6::timestamptz IS NULL OR a.at < $6)
           AND ($7::timestamptz IS NULL OR (a.at, a.id) < ($7, $8))
         ORDER BY a.at DESC, a.id DESC LIMIT $9",
    )
    .bind(auth.tenant_id.0)
    .bind(&q.entity)
    .bind(&q.entity_id)
    .bind(q.actor)
    .bind(from)
    .bind(to);
    let entries = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(entries, |e| (e.at, e.id))))
}
