//! Admitting a refund: with the order's row locked (so two refunds of one
//! order are admitted one after the other, and a worker committing either
//! waits), check it against what the order sold less what its other
//! refunds (pending or committed) claim, and that it is not dated before
//! the sale, and that its payment lines carry what the refund pays back
//! (`quote.rs`: 422 `payment_mismatch` with the expected amount, or
//! `refund_exceeds_paid`), and write it pending with its items. The same
//! clientRefundId again is the same refund; with a different body, or for
//! another order, 409. A refund of an order not committed yet is checked
//! only at commit: its amount is not known before.

use crate::auth::AuthUser;
use crate::http::error::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use common::ids::{OrderId, RefundId};
use common::order::ValidatedOrder;
use common::refund::ValidatedRefund;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

pub struct Admitted {
    pub refund_id: RefundId,
    pub status: String,
    pub duplicate: bool,
}

pub async fn admit(
    db: &PgPool,
    auth: &AuthUser,
    trail: &crate::audit::Trail,
    order_id: OrderId,
    refund: &ValidatedRefund,
    request_hash: &str,
    received_at: DateTime<Utc>,
) -> ApiResult<Admitted> {
    let tenant = auth.tenant_id.0;
    let mut tx = common::db::tenant_tx(db, &[tenant]).await?;
    let (status, order): (String, Json<ValidatedOrder>) =
        sqlx::query_as("SELECT status, request FROM orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(order_id.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ApiError::not_found("order"))?;
    if let Some(existing) = existing(&mut tx, tenant, refund.client_refund_id, order_id, request_hash).await? {
        return Ok(existing);
    }
    if refund.created_at < order.0.created_at {
        return Err(ApiError::Unprocessable {
            code: "sale_time_out_of_range",
            message: format!(
                "the refund's createdAt ({}) is before the sale it refunds ({})",
                refund.created_at.to_rfc3339(),
                order.0.created_at.to_rfc3339()
            ),
        });
    }
    refundable(&mut tx, tenant, order_id, &status).await?;
    check_quantities(&mut tx, tenant, order_id, &order.0, refund).await?;
    // Lines without amounts take what the refund pays: nothing to check.
    if status == "committed" && refund.payments.iter().any(|p| p.amount.is_some()) {
        super::quote::quote(&mut tx, tenant, order_id, refund).await?;
    }
    let refund_id = RefundId(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO refunds (id, tenant_id, order_id, client_refund_id, request, request_hash, reason, created_at,
                              received_at, requested_by, device_id)
         VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), $7, $8, $9, $10, $11)",
    )
    .bind(refund_id.0)
    .bind(tenant)
    .bind(order_id.0)
    .bind(refund.client_refund_id)
    .bind(Json(refund))
    .bind(request_hash)
    .bind(&refund.reason)
    .bind(refund.created_at)
    .bind(received_at)
    .bind(auth.user_id.0)
    .bind(auth.device_id)
    .execute(&mut *tx)
    .await?;
    let products: Vec<Uuid> = refund.items.iter().map(|l| l.product_id.0).collect();
    let quantities: Vec<i32> = refund.items.iter().map(|l| i32::try_from(l.quantity).unwrap_or(i32::MAX)).collect();
    sqlx::query(
        "INSERT INTO refund_items (tenant_id, refund_id, product_id, quantity)
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::int4[])",
    )
    .bind(tenant)
    .bind(refund_id.0)
    .bind(&products)
    .bind(&quantities)
    .execute(&mut *tx)
    .await?;
    let change = crate::audit::Change {
        action: "refund",
        entity: crate::audit::Entity::Refund,
        entity_id: refund_id.0.to_string(),
        before: Some(serde_json::json!({ "orderId": order_id, "orderStatus": status })),
        after: Some(serde_json::json!({ "status": "pending", "request": refund })),
    };
    trail.record(&mut tx, auth, change).await?;
    tx.commit().await?;
    Ok(Admitted { refund_id, status: "pending".to_owned(), duplicate: false })
}

/// The refund already admitted under this clientRefundId, if any.
async fn existing(
    tx: &mut PgConnection,
    tenant: Uuid,
    client_refund_id: Uuid,
    order_id: OrderId,
    request_hash: &str,
) -> ApiResult<Option<Admitted>> {
    let found: Option<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT id, order_id, encode(request_hash, 'hex'), status FROM refunds
         WHERE tenant_id = $1 AND client_refund_id = $2",
    )
    .bind(tenant)
    .bind(client_refund_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, for_order, hash, status)) = found else { return Ok(None) };
    if for_order != order_id.0 || hash != request_hash {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this clientRefundId was already used for a different refund request",
        ));
    }
    Ok(Some(Admitted { refund_id: RefundId(id), status, duplicate: true }))
}

/// Only a committed order, or one still on its way (pending, or failed
/// and open for review), can take a refund; the worker waits for it.
async fn refundable(tx: &mut PgConnection, tenant: Uuid, order_id: OrderId, status: &str) -> ApiResult<()> {
    let open_review = status == "failed"
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM failed_syncs WHERE tenant_id = $1 AND order_id = $2
                            AND refund_id IS NULL AND status = 'open')",
        )
        .bind(tenant)
        .bind(order_id.0)
        .fetch_one(&mut *tx)
        .await?;
    if matches!(status, "committed" | "pending") || open_review {
        return Ok(());
    }
    Err(ApiError::conflict("not_refundable", format!("only a committed order can be refunded; this one is {status}")))
}

/// Every product's refunded quantity, with this refund's, within what the order sold.
async fn check_quantities(
    tx: &mut PgConnection,
    tenant: Uuid,
    order_id: OrderId,
    order: &ValidatedOrder,
    refund: &ValidatedRefund,
) -> ApiResult<()> {
    let claimed: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT ri.product_id, sum(ri.quantity)::bigint FROM refunds r
         JOIN refund_items ri ON ri.tenant_id = r.tenant_id AND ri.refund_id = r.id
         WHERE r.tenant_id = $1 AND r.order_id = $2 AND r.status IN ('pending', 'committed')
         GROUP BY 1",
    )
    .bind(tenant)
    .bind(order_id.0)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let sold: HashMap<Uuid, i64> = order.quantities_by_product().into_iter().map(|(p, q)| (p.0, q)).collect();
    for line in &refund.items {
        let (sold, before) = (sold.get(&line.product_id.0).copied().unwrap_or(0), claimed.get(&line.product_id.0));
        let before = before.copied().unwrap_or(0);
        if before + i64::from(line.quantity) > sold {
            return Err(ApiError::conflict(
                "refund_exceeds_sold",
                format!(
                    "product {}: the order sold {sold} and other refunds claim {before}; this refund asks for {}",
                    line.product_id, line.quantity
                ),
            ));
        }
    }
    Ok(())
}
