//! The audit trail: every change a person makes through the API leaves one
//! `audit_log` row (actor, till, time, client address, request id, what,
//! before and after), written in the change's own transaction so a change
//! and its record commit or roll back together. The table is append-only
//! for the services' role; secrets (password, PIN and till hashes) never
//! enter a snapshot.

use crate::auth::AuthUser;
use crate::http::extract::ClientIp;
use crate::http::middleware::request_id::RequestId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Where a request came from: its client address and request id.
#[derive(Clone, Debug, Default)]
pub struct Trail {
    client: Option<String>,
    request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Trail {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Trail {
            client: parts.extensions.get::<ClientIp>().map(|c| c.0.to_string()),
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
        })
    }
}

/// One change: `action` on `entity` `entity_id`, from `before` to `after`
/// (None: it did not exist / does not any more, or is not a state).
pub struct Change<'a> {
    pub action: &'a str,
    pub entity: Entity,
    pub entity_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What a change is made to; the snapshot query of each names its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Settings,
    Product,
    Discount,
    Member,
    User,
    Device,
    Outlet,
    StockAdjustment,
    StockTransfer,
    Order,
    Refund,
    FailedSync,
    Shift,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Settings => "settings",
            Entity::Product => "product",
            Entity::Discount => "discount",
            Entity::Member => "member",
            Entity::User => "user",
            Entity::Device => "device",
            Entity::Outlet => "outlet",
            Entity::StockAdjustment => "stock_adjustment",
            Entity::StockTransfer => "stock_transfer",
            Entity::Order => "order",
            Entity::Refund => "refund",
            Entity::FailedSync => "failed_sync",
            Entity::Shift => "shift",
        }
    }

    /// The row as JSON, without secrets; None for entities kept elsewhere.
    fn snapshot_sql(self) -> Option<&'static str> {
        Some(match self {
            Entity::Product => "SELECT to_jsonb(t) FROM products t WHERE tenant_id = $1 AND id = $2",
            Entity::Discount => "SELECT to_jsonb(t) FROM discount_rules t WHERE tenant_id = $1 AND id = $2",
            Entity::Member => "SELECT to_jsonb(t) FROM members t WHERE tenant_id = $1 AND id = $2",
            Entity::User => {
                "SELECT to_jsonb(t) - ARRAY['password_hash', 'pin_hash'] || jsonb_build_object('hasPin', t.pin_hash IS NOT NULL)
                 FROM users t WHERE tenant_id = $1 AND id = $2"
            }
            Entity::Device => "SELECT to_jsonb(t) - 'secret_hash' FROM devices t WHERE tenant_id = $1 AND id = $2",
            Entity::Outlet => "SELECT to_jsonb(t) FROM outlets t WHERE tenant_id = $1 AND id = $2",
            Entity::Order => {
                "SELECT jsonb_build_object('status', t.status, 'total', t.total, 'cancelReason', t.cancel_reason)
                 FROM orders t WHERE tenant_id = $1 AND id = $2"
            }
            Entity::FailedSync => {
                "SELECT jsonb_build_object('status', t.status, 'attempts', t.attempts, 'reason', t.reason_code)
                 FROM failed_syncs t WHERE tenant_id = $1 AND id = $2"
            }
            Entity::Shift => "SELECT to_jsonb(t) FROM cash_shifts t WHERE tenant_id = $1 AND id = $2",
            Entity::StockTransfer => "SELECT to_jsonb(t) FROM stock_transfers t WHERE tenant_id = $1 AND id = $2",
            Entity::Settings | Entity::StockAdjustment | Entity::Refund => return None,
        })
    }
}

/// The current row of `entity` `id` as JSON (None: no such row).
pub async fn snapshot(
    tx: &mut PgConnection,
    auth: &AuthUser,
    entity: Entity,
    id: Uuid,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(sql) = entity.snapshot_sql() else { return Ok(None) };
    sqlx::query_scalar(sql).bind(auth.tenant_id.0).bind(id).fetch_optional(tx).await
}

impl Trail {
    /// Records `change` by `auth` in the transaction `tx` is in.
    pub async fn record(&self, tx: &mut PgConnection, auth: &AuthUser, change: Change<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor, actor_user_id, actor_device_id, client_addr, request_id,
                                    action, entity, entity_id, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(Uuid::now_v7())
        .bind(auth.tenant_id.0)
        .bind(auth.user_id.0.to_string())
        .bind(auth.user_id.0)
        .bind(auth.device_id)
        .bind(&self.client)
        .bind(&self.request_id)
        .bind(change.action)
        .bind(change.entity.as_str())
        .bind(change.entity_id)
        .bind(change.before)
        .bind(change.after)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Records `change` in a transaction of its own: for a change that is
    /// queued (a cancel, a retry), recorded once the broker has it.
    pub async fn record_alone(
        &self,
        db: &sqlx::PgPool,
        auth: &AuthUser,
        change: Change<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = common::db::tenant_tx(db, &[auth.tenant_id.0]).await?;
        self.record(&mut tx, auth, change).await?;
        tx.commit().await
    }

    /// Records an update of `entity` `id` whose `before` was taken earlier
    /// in `tx`: the after is read now.
    pub async fn updated(
        &self,
        tx: &mut PgConnection,
        auth: &AuthUser,
        action: &str,
        entity: Entity,
        id: Uuid,
        before: Option<Value>,
    ) -> Result<(), sqlx::Error> {
        let after = snapshot(tx, auth, entity, id).await?;
        self.record(tx, auth, Change { action, entity, entity_id: id.to_string(), before, after }).await
    }
}
