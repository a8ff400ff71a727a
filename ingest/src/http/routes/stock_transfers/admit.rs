//! Admitting a stock transfer: both outlets and every product are the
//! shop's (422 `unknown_outlet` / `unknown_product`), and it is written
//! pending with its items. The same clientTransferId again is the same
//! transfer; with a different body, 409. Two sent at once: the second
//! waits on the first's key and then finds it.

use crate::auth::AuthUser;
use crate::http::error::{ApiError, ApiResult};
use common::ids::TransferId;
use common::transfer::ValidatedTransfer;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct Admitted {
    pub id: TransferId,
    pub status: String,
    pub duplicate: bool,
}

pub async fn admit(
    db: &sqlx::PgPool,
    auth: &AuthUser,
    trail: &crate::audit::Trail,
    transfer: &ValidatedTransfer,
    request_hash: &str,
) -> ApiResult<Admitted> {
    let tenant = auth.tenant_id.0;
    let mut tx = common::db::tenant_tx(db, &[tenant]).await?;
    if let Some(existing) = existing(&mut tx, tenant, transfer.client_transfer_id, request_hash).await? {
        return Ok(existing);
    }
    check_names(&mut tx, tenant, transfer).await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO stock_transfers (id, tenant_id, client_transfer_id, from_outlet_id, to_outlet_id, note, request,
                                      request_hash, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, decode($8, 'hex'), $9)
         ON CONFLICT (tenant_id, client_transfer_id) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(transfer.client_transfer_id)
    .bind(transfer.from_outlet_id)
    .bind(transfer.to_outlet_id)
    .bind(transfer.note.as_deref())
    .bind(sqlx::types::Json(transfer))
    .bind(request_hash)
    .bind(auth.user_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        // Another request with this key committed first.
        return existing(&mut tx, tenant, transfer.client_transfer_id, request_hash)
            .await?
            .ok_or_else(|| ApiError::Internal("a transfer key conflicted but no transfer holds it".into()));
    };
    sqlx::query(
        "INSERT INTO stock_transfer_items (tenant_id, transfer_id, product_id, quantity)
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::int4[])",
    )
    .bind(tenant)
    .bind(id)
    .bind(transfer.items.iter().map(|l| l.product_id.0).collect::<Vec<_>>())
    .bind(transfer.items.iter().map(|l| i32::try_from(l.quantity).unwrap_or(i32::MAX)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let after = crate::audit::snapshot(&mut tx, auth, crate::audit::Entity::StockTransfer, id).await?;
    let change = crate::audit::Change {
        action: "create",
        entity: crate::audit::Entity::StockTransfer,
        entity_id: id.to_string(),
        before: None,
        after,
    };
    trail.record(&mut tx, auth, change).await?;
    tx.commit().await?;
    Ok(Admitted { id: TransferId(id), status: "pending".into(), duplicate: false })
}

async fn existing(
    tx: &mut PgConnection,
    tenant: Uuid,
    client_transfer_id: Uuid,
    request_hash: &str,
) -> ApiResult<Option<Admitted>> {
    let found: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, encode(request_hash, 'hex'), status FROM stock_transfers
         WHERE tenant_id = $1 AND client_transfer_id = $2",
    )
    .bind(tenant)
    .bind(client_transfer_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, hash, status)) = found else { return Ok(None) };
    if hash != request_hash {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this clientTransferId was already used for a different transfer request",
        ));
    }
    Ok(Some(Admitted { id: TransferId(id), status, duplicate: true }))
}

/// Both outlets and every product must be the shop's.
async fn check_names(tx: &mut PgConnection, tenant: Uuid, transfer: &ValidatedTransfer) -> ApiResult<()> {
    let outlets = [transfer.from_outlet_id, transfer.to_outlet_id];
    let known: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outlets WHERE tenant_id = $1 AND id = ANY($2)")
        .bind(tenant)
        .bind(&outlets[..])
        .fetch_all(&mut *tx)
        .await?;
    if let Some(unknown) = outlets.iter().find(|o| !known.contains(o)) {
        let message = format!("outlet {unknown} is not an outlet of this shop");
        return Err(ApiError::Unprocessable { code: "unknown_outlet", message });
    }
    let products: Vec<Uuid> = transfer.items.iter().map(|l| l.product_id.0).collect();
    let known: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM products WHERE tenant_id = $1 AND id = ANY($2)")
        .bind(tenant)
        .bind(&products)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(unknown) = products.iter().find(|p| !known.contains(p)) {
        let message = format!("product {unknown} is not a product of this shop");
        return Err(ApiError::Unprocessable { code: "unknown_product", message });
    }
    Ok(())
}
