//! The write statement for a batch's stock transfers: each decided one's
//! status (its stock moves through the ledger, `stock`).

use super::rows::Writes;
use super::statement::{Statement, col, statement};

// Only a transfer still pending, or failed and retried: a count short of
// the batch's means two batches decided one transfer, and aborts. A
// failure counts one more (`failures`); a commit keeps the count.
const UPDATE_TRANSFERS: &str = "
UPDATE stock_transfers t SET status = d.status, rejection_code = d.code, rejection_message = d.message,
       failures = t.failures + (d.status = 'failed')::int,
       committed_at = CASE WHEN d.status = 'committed' THEN now() END, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[]) AS d(tenant_id, id, status, code, message)
WHERE t.tenant_id = d.tenant_id AND t.id = d.id AND t.status IN ('pending', 'failed')";

pub(super) fn transfers(w: &Writes) -> Option<Statement> {
    let t = &w.transfers;
    let params = vec![
        col(t, |x| x.tenant_id.0),
        col(t, |x| x.transfer_id.0),
        col(t, |x| x.status),
        col(t, |x| x.code),
        col(t, |x| x.message.clone()),
    ];
    statement("decide transfers", UPDATE_TRANSFERS, t.len(), params)
}
