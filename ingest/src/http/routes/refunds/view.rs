//! A refund as the API shows it (`Refund`): its request, and once a worker
//! applied it the amount and the payments back from `refund_payments`.

use crate::http::error::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use common::ids::{OrderId, RefundId, TenantId};
use common::money::Money;
use common::refund::{RefundLine, ValidatedRefund};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

macro_rules! refund_columns {
    () => {
        "r.id, r.order_id, r.status, r.request, r.amount, r.rejection_code, r.rejection_message, r.created_at, \
         r.received_at, r.committed_at, \
         coalesce((SELECT jsonb_agg(jsonb_build_object('method', p.method, 'amount', p.amount) ORDER BY p.line_no) \
                   FROM refund_payments p WHERE p.tenant_id = r.tenant_id AND p.refund_id = r.id), '[]') AS payments"
    };
}

#[derive(sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: String,
    pub request: Json<ValidatedRefund>,
    pub amount: Option<i64>,
    pub rejection_code: Option<String>,
    pub rejection_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub committed_at: Option<DateTime<Utc>>,
    pub payments: Json<Vec<PaymentBack>>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct PaymentBack {
    pub method: String,
    pub amount: Money,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    pub refund_id: Uuid,
    pub client_refund_id: Uuid,
    pub order_id: Uuid,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<super::super::orders::view::Rejection>,
    pub items: Vec<RefundLine>,
    /// Paid back, once a worker applied the refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// As paid back once applied; as asked for before.
    pub payments: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<DateTime<Utc>>,
}

impl RefundRow {
    pub fn into_view(self) -> RefundView {
        let request = self.request.0;
        let payments = if self.status == "committed" {
            serde_json::to_value(&self.payments.0)
        } else {
            serde_json::to_value(&request.payments)
        };
        RefundView {
            refund_id: self.id,
            client_refund_id: request.client_refund_id,
            order_id: self.order_id,
            status: self.status,
            rejection: self.rejection_code.map(|code| super::super::orders::view::Rejection {
                code,
                message: self.rejection_message.unwrap_or_default(),
            }),
            items: request.items,
            amount: self.amount.map(Money::from_rupiah),
            payments: payments.unwrap_or_default(),
            reason: request.reason,
            created_at: self.created_at,
            received_at: self.received_at,
            committed_at: self.committed_at,
        }
    }
}

pub async fn fetch(db: &PgPool, tenant: TenantId, id: RefundId) -> ApiResult<RefundRow> {
    let mut tx = common::db::tenant_tx(db, &[tenant.0]).await?;
    sqlx::query_as::<_, RefundRow>(concat!(
        "SELECT ",
        refund_columns!(),
        " FROM refunds r WHERE r.tenant_id = $1 AND r.id = $2 AND r.kind = 'refund'"
    ))
    .bind(tenant.0)
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::not_found("refund"))
}

pub async fn of_order(db: &PgPool, tenant: TenantId, order: OrderId) -> ApiResult<Vec<RefundRow>> {
    let mut tx = common::db::tenant_tx(db, &[tenant.0]).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE tenant_id = $1 AND id = $2)")
        .bind(tenant.0)
        .bind(order.0)
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        return Err(ApiError::not_found("order"));
    }
    Ok(sqlx::query_as::<_, RefundRow>(concat!(
        "SELECT ",
        refund_columns!(),
        " FROM refunds r WHERE r.tenant_id = $1 AND r.order_id = $2 AND r.kind = 'refund'",
        " ORDER BY r.received_at, r.id LIMIT 500"
    ))
    .bind(tenant.0)
    .bind(order.0)
    .fetch_all(&mut *tx)
    .await?)
}

/// Poll until the refund left `pending` or the deadline passed.
pub async fn wait_for_outcome(
    db: &PgPool,
    tenant: TenantId,
    id: RefundId,
    wait: std::time::Duration,
) -> ApiResult<RefundRow> {
    crate::http::extract::poll_until(wait, || fetch(db, tenant, id), |row: &RefundRow| row.status != "pending").await
}
