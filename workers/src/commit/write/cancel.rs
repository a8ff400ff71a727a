//! The statement that writes a batch's cancels (their stock comes back
//! through the ledger, `stock`).

use super::rows::Writes;
use super::statement::{Statement, col, statement};

const UPDATE_CANCELLED: &str = "
UPDATE orders o SET status = 'cancelled', cancelled_at = now(), cancel_reason = d.reason, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS d(tenant_id, id, reason)
WHERE o.tenant_id = d.tenant_id AND o.id = d.id AND o.status = 'committed'";

pub(super) fn cancels(w: &Writes) -> Option<Statement> {
    let x = &w.cancels;
    let params = vec![col(x, |r| r.tenant_id.0), col(x, |r| r.order_id.0), col(x, |r| r.reason.clone())];
    statement("cancel orders", UPDATE_CANCELLED, x.len(), params)
}
