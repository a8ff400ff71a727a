//! A dead-lettered refund (its order never committed before its retries
//! ran out, or its commit kept failing) becomes the refund's failed sync
//! and the refund reads `failed`, unless it was applied meanwhile.

use crate::error::StoreError;
use common::message::RefundMessage;
use deadpool_postgres::Transaction;
use uuid::Uuid;

const FAIL_REFUND: &str = "
UPDATE refunds SET status = 'failed', rejection_code = $3, rejection_message = $4
WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'failed')";

const UPSERT_REFUND_FAILED_SYNC: &str = "
INSERT INTO failed_syncs AS f (id, tenant_id, order_id, client_order_id, refund_id, reason_code, reason_message, request)
SELECT $1, o.tenant_id, o.id, o.client_order_id, $3, $4, $5, $6 FROM orders o WHERE o.tenant_id = $2 AND o.id = $7
ON CONFLICT (tenant_id, refund_id) WHERE refund_id IS NOT NULL DO UPDATE
   SET attempts = f.attempts + 1, reason_code = EXCLUDED.reason_code, reason_message = EXCLUDED.reason_message,
       last_failed_at = now()
   WHERE f.status = 'open'";

/// Whether the refund was marked failed (false: it was applied meanwhile, or is unknown).
pub async fn record(
    tx: &Transaction<'_>,
    refund: &RefundMessage,
    code: &str,
    reason: &str,
) -> Result<bool, StoreError> {
    let (tenant, id) = (refund.tenant_id.0, refund.refund_id.0);
    if tx.execute(FAIL_REFUND, &[&tenant, &id, &code, &reason]).await? == 0 {
        return Ok(false);
    }
    let request = serde_json::to_value(&refund.refund).unwrap_or_default();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
        [&Uuid::now_v7(), &tenant, &id, &code, &reason, &request, &refund.order_id.0];
    tx.execute(UPSERT_REFUND_FAILED_SYNC, &params).await?;
    Ok(true)
}
