//! What a batch's stock transfers read, in the read stage's pipelined
//! round trip after the order locks and before the stock rows: the
//! transfer rows, locked (`FOR UPDATE`, in id order), so a transfer
//! redelivered to two workers at once is decided by one of them.

use super::keys::Keys;
use crate::commit::locked::{LockedTransfer, TransferStatus};
use crate::error::StoreError;
use common::ids::{TenantId, TransferId};
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

const LOCK_TRANSFERS: &str = "
SELECT t.tenant_id, t.id, t.status, encode(t.request_hash, 'hex')
FROM stock_transfers t
WHERE t.id IN (
    SELECT x.id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, id)
    JOIN stock_transfers x ON x.tenant_id = k.tenant_id AND x.id = k.id)
ORDER BY t.id
FOR UPDATE OF t";

/// Prepared before the batch's queries are sent, so that it reaches the
/// server after the order locks. None: no transfers.
pub(super) async fn prepare(tx: &Transaction<'_>, k: &Keys) -> Result<Option<Statement>, StoreError> {
    if k.transfer_ids.is_empty() {
        return Ok(None);
    }
    Ok(Some(tx.prepare_cached(LOCK_TRANSFERS).await?))
}

pub(super) async fn query(
    tx: &Transaction<'_>,
    statement: Option<&Statement>,
    k: &Keys,
) -> Result<Vec<LockedTransfer>, StoreError> {
    let Some(statement) = statement else { return Ok(Vec::new()) };
    let params: [&(dyn ToSql + Sync); 2] = [&k.transfer_tenants, &k.transfer_ids];
    tx.query(statement, &params).await?.iter().map(locked_transfer).collect()
}

fn locked_transfer(r: &Row) -> Result<LockedTransfer, StoreError> {
    let status: String = r.try_get(2)?;
    Ok(LockedTransfer {
        tenant_id: TenantId(r.try_get(0)?),
        id: TransferId(r.try_get(1)?),
        status: TransferStatus::parse(&status)
            .ok_or_else(|| StoreError::Invariant(format!("unknown transfer status {status}")))?,
        request_hash: r.try_get(3)?,
    })
}
