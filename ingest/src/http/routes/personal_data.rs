//! Members' personal data under UU 27/2022 (PDP): an export of everything
//! held about a member, and erasure. Erasing keeps the member's id, orders,
//! totals and reports and takes their name, phone and email everywhere they
//! are kept (the profile, the audit trail's values, the notes of their
//! orders and the raw requests of failed syncs and dead letters): one
//! database function, `member_erase`, shared with the retention sweep.

use crate::audit::{Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS, Role};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::PathId;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/members/{id}/personal-data", get(export)).route("/api/members/{id}/erase", post(erase))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct MemberOrder {
    order_id: Uuid,
    status: String,
    total: Option<i64>,
    created_at: DateTime<Utc>,
    outlet_id: Option<Uuid>,
}

/// Everything held about the member: the profile, their orders by id and
/// total, and what they earned (the shop's member discount; no points
/// ledger exists).
async fn export(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<Value>> {
    auth.require(MANAGERS)?;
    let mut tx = state.snapshot(auth.tenant_id).await?;
    let profile = snapshot(&mut tx, &auth, Entity::Member, id).await?.ok_or(ApiError::not_found("member"))?;
    let orders = sqlx::query_as::<_, MemberOrder>(
        "SELECT id AS order_id, status, total, created_at, outlet_id FROM orders
         WHERE tenant_id = $1 AND member_id = $2 ORDER BY created_at, id",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let spent: i64 =
        orders.iter().filter(|o| o.status == "committed").filter_map(|o| o.total).fold(0, i64::saturating_add);
    Ok(Json(json!({
        "memberId": id,
        "exportedAt": Utc::now(),
        "profile": profile,
        "orders": orders,
        "totals": { "orders": orders.len(), "committedSpend": spent },
        "points": null,
    })))
}

/// Owners only: an erasure cannot be undone.
async fn erase(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    if auth.role != Role::Owner {
        return Err(ApiError::forbidden("only an owner may erase a member's personal data"));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Member, id).await?.ok_or(ApiError::not_found("member"))?;
    let erased: bool =
        sqlx::query_scalar("SELECT erase_member($1, $2)").bind(auth.tenant_id.0).bind(id).fetch_one(&mut *tx).await?;
    if erased {
        // The record names what went, never the values.
        let before = Some(json!({ "erasedAt": before.get("erased_at"), "fields": ["name", "phone", "email"] }));
        trail.updated(&mut tx, &auth, "erase", Entity::Member, id, before).await?;
    }
    let after = snapshot(&mut tx, &auth, Entity::Member, id).await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %auth.tenant_id, member_id = %id, erased, "member personal data erased");
    Ok(Json(json!({ "memberId": id, "erased": erased, "member": after })))
}
