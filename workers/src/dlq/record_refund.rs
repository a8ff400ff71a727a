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
INSERT INTO failed_syncs AS f (id, tenant_id, refund_order_id, client_order_id, refund_id, reason_code, reason_message, request)
SELECT $1, o.tenant_id, o.id, o.client_order_id, $3, $4, $5, $6 FROM orders o WHERE o.tenant_id = $2 AND o.id = $7
ON CONFLICT (tenant_id, refund_id) WHERE refund_id IS NOT NULL DO UPDATE
   SET attempts = f.attempts + 1, reason_code = EXCLUDED.reason_code, reason_message = EXCLUDED.reason_message,
       last_failed_at = now()
   WHERE f.status = 'open'";

pub enum Recorded {
    Failed,
    /// Applied meanwhile: nothing to review.
    Superseded,
    /// No such refund here (a hand-published message, an older backup): keep it raw.
    Unknown,
}

pub async fn record(
    tx: &Transaction<'_>,
    refund: &RefundMessage,
    code: &str,
    reason: &str,
) -> Result<Recorded, StoreError> {
    let (tenant, id) = (refund.tenant_id.0, refund.refund_id.0);
    // The order row first, as a commit of the refund takes it: a copy of
    // this message committing at the same time is either seen or waits.
    tx.execute("SELECT 1 FROM orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE", &[&tenant, &refund.order_id.0])
        .await?;
    if tx.query_opt("SELECT 1 FROM refunds WHERE tenant_id = $1 AND id = $2", &[&tenant, &id]).await?.is_none() {
        return Ok(Recorded::Unknown);
    }
    if tx.execute(FAIL_REFUND, &[&tenant, &id, &code, &reason]).await? == 0 {
        return Ok(Recorded::Superseded);
    }
    let request = serde_json::to_value(&refund.refund).unwrap_or_default();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
        [&Uuid::now_v7(), &tenant, &id, &code, &reason, &request, &refund.order_id.0];
    tx.execute(UPSERT_REFUND_FAILED_SYNC, &params).await?;
    Ok(Recorded::Failed)
}
