//! The stock a batch takes and gives back: its ledger rows (sales, cancels,
//! returns, oversold), each at an outlet, and the guarded update of the
//! outlets' stock rows.

use super::rows::Writes;
use super::statement::{Statement, col, statement};
use uuid::Uuid;

pub const STOCK_UPDATE: &str = "stock update";

// The rows are locked in (product, outlet) order (the CTE is materialized
// before the update reads it), so batches taking stock never deadlock. The guard
// leaves a row unchanged rather than let its stock go below zero, or when
// it has less than the batch's stock checks assumed (`needed`: they read it
// without a lock); a row with a net change of 0 is still checked and locked.
const UPDATE_STOCK: &str = "
WITH d AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::bigint[])
           AS d(tenant_id, outlet_id, product_id, delta, needed)),
     locked AS MATERIALIZED (
         SELECT s.tenant_id, s.outlet_id, s.product_id FROM outlet_stock s
         JOIN d ON s.tenant_id = d.tenant_id AND s.outlet_id = d.outlet_id AND s.product_id = d.product_id
         ORDER BY s.product_id, s.outlet_id FOR NO KEY UPDATE OF s)
UPDATE outlet_stock s SET stock = s.stock + d.delta
FROM d JOIN locked l ON l.tenant_id = d.tenant_id AND l.outlet_id = d.outlet_id AND l.product_id = d.product_id
WHERE s.tenant_id = d.tenant_id AND s.outlet_id = d.outlet_id AND s.product_id = d.product_id
  AND s.stock + d.delta >= 0 AND s.stock >= d.needed";

const INSERT_MOVEMENTS: &str = "
INSERT INTO stock_movements (id, tenant_id, outlet_id, product_id, kind, delta, order_id, refund_id, transfer_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::uuid[], $8::uuid[],
                     $9::uuid[])";

pub(super) fn movements(w: &Writes) -> Option<Statement> {
    let m = &w.movements;
    let params = vec![
        col(m, |_| Uuid::now_v7()),
        col(m, |r| r.tenant_id.0),
        col(m, |r| r.outlet_id.0),
        col(m, |r| r.product_id.0),
        col(m, |r| r.kind.as_str()),
        col(m, |r| r.delta),
        col(m, |r| r.order_id.map(|id| id.0)),
        col(m, |r| r.refund_id.map(|id| id.0)),
        col(m, |r| r.transfer_id.map(|id| id.0)),
    ];
    statement("stock movements", INSERT_MOVEMENTS, m.len(), params)
}

pub(super) fn update(w: &Writes) -> Option<Statement> {
    let stock = stock_rows(w);
    let params = vec![
        col(&stock, |s| s.0.0.0),
        col(&stock, |s| s.0.1.0),
        col(&stock, |s| s.0.2.0),
        col(&stock, |s| s.1),
        col(&stock, |s| s.2),
    ];
    statement(STOCK_UPDATE, UPDATE_STOCK, stock.len(), params)
}

/// (stock row, net change, stock needed) for every outlet's product whose
/// stock the batch changes or whose stock level a decision rests on.
fn stock_rows(w: &Writes) -> Vec<(crate::commit::locked::StockKey, i64, i64)> {
    let mut keys: Vec<_> = w.stock.keys().chain(w.stock_needed.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|key| (key, w.stock.get(&key).copied().unwrap_or(0), w.stock_needed.get(&key).copied().unwrap_or(0)))
        .filter(|&(_, delta, needed)| delta != 0 || needed > 0)
        .collect()
}
