//! The write statements of a batch, each one set-based over `unnest` arrays
//! so a batch of 100 orders costs the same number of statements as one.

use super::writes::Writes;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

pub(super) type Param = Box<dyn ToSql + Sync + Send>;

pub struct Statement {
    pub name: &'static str,
    pub sql: &'static str,
    params: Vec<Param>,
    /// Rows the statement must change; anything else aborts the batch.
    pub expect_rows: Option<u64>,
}

impl Statement {
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// A statement over `rows` rows, which it must change exactly; none for no rows.
pub(super) fn statement(name: &'static str, sql: &'static str, rows: usize, params: Vec<Param>) -> Option<Statement> {
    let expect_rows = Some(u64::try_from(rows).unwrap_or(u64::MAX));
    (rows > 0).then_some(Statement { name, sql, params, expect_rows })
}

pub(super) fn col<T, U: ToSql + Sync + Send + 'static>(rows: &[T], f: impl Fn(&T) -> U) -> Param {
    Box::new(rows.iter().map(f).collect::<Vec<U>>())
}

pub const STOCK_UPDATE: &str = "stock update";

// The rows are locked in id order (the CTE is materialized before the
// update reads it), so batches taking stock never deadlock. The guard
// leaves a row unchanged rather than let its stock go below zero, or when
// it has less than the batch's stock checks assumed (`needed`: they read it
// without a lock); a row with a net change of 0 is still checked and locked.
const UPDATE_STOCK: &str = "
WITH d AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) AS d(tenant_id, id, delta, needed)),
     locked AS MATERIALIZED (
         SELECT p.tenant_id, p.id FROM products p JOIN d ON p.tenant_id = d.tenant_id AND p.id = d.id
         ORDER BY p.id FOR NO KEY UPDATE OF p)
UPDATE products p SET stock = p.stock + d.delta, updated_at = now()
FROM d JOIN locked l ON l.tenant_id = d.tenant_id AND l.id = d.id
WHERE p.tenant_id = d.tenant_id AND p.id = d.id AND p.stock + d.delta >= 0 AND p.stock >= d.needed";

const INSERT_MOVEMENTS: &str = "
INSERT INTO stock_movements (id, tenant_id, product_id, kind, delta, order_id, refund_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::uuid[], $7::uuid[])";

// Receipt numbers are taken here, in the commit transaction: each
// (tenant, outlet, period) counter row is bumped once by the batch's count
// (rows taken in key order, so batches never deadlock on them) and its
// orders get the numbers below the new value in batch order. A rolled-back
// batch rolls its bump back: no gaps. The period is the commit's day or
// year in the tenant's timezone, so numbers rise with time.
const UPDATE_COMMITTED: &str = "
WITH d AS (
    SELECT d.*, coalesce(d.outlet_id, '00000000-0000-0000-0000-000000000000') AS outlet_key,
           to_char(now() AT TIME ZONE t.timezone, CASE t.receipt_reset WHEN 'yearly' THEN 'YYYY' ELSE 'YYYYMMDD' END)
               AS period,
           t.receipt_prefix
    FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::jsonb[], $11::bigint[], $12::uuid[], $13::uuid[]) WITH ORDINALITY
         AS d(tenant_id, id, subtotal, discount_total, service_charge, tax_base, tax, total, rounding, discounts,
              change, message_id, outlet_id, n)
    JOIN tenants t ON t.id = d.tenant_id),
wanted AS (SELECT tenant_id, outlet_key, period, count(*) AS taken FROM d GROUP BY 1, 2, 3),
bumped AS (
    INSERT INTO receipt_counters AS c (tenant_id, outlet_key, period, last_number)
    SELECT tenant_id, outlet_key, period, taken FROM wanted ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, outlet_key, period) DO UPDATE SET last_number = c.last_number + EXCLUDED.last_number
    RETURNING tenant_id, outlet_key, period, last_number),
numbered AS (
    SELECT d.*, b.last_number - w.taken + row_number() OVER (PARTITION BY d.tenant_id, d.outlet_key, d.period ORDER BY d.n)
               AS seq
    FROM d JOIN wanted w USING (tenant_id, outlet_key, period) JOIN bumped b USING (tenant_id, outlet_key, period))
UPDATE orders o SET status = 'committed', subtotal = d.subtotal, discount_total = d.discount_total,
       service_charge = d.service_charge, tax_base = d.tax_base, tax = d.tax, total = d.total, rounding = d.rounding,
       discounts = d.discounts, payment_change = d.change, rejection_code = NULL, rejection_message = NULL,
       receipt_number = d.receipt_prefix || '-' || d.period || '-' || lpad(d.seq::text, greatest(6, length(d.seq::text)), '0'),
       committed_at = now(), applied_message_id = d.message_id, updated_at = now()
FROM numbered d
WHERE o.tenant_id = d.tenant_id AND o.id = d.id";

const UPDATE_REJECTED: &str = "
UPDATE orders o SET status = d.status, rejection_code = d.code, rejection_message = d.message,
       applied_message_id = d.message_id, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[])
     AS d(tenant_id, id, status, code, message, message_id)
WHERE o.tenant_id = d.tenant_id AND o.id = d.id";

const UPDATE_CANCELLED: &str = "
UPDATE orders o SET status = 'cancelled', cancelled_at = now(), cancel_reason = d.reason, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS d(tenant_id, id, reason)
WHERE o.tenant_id = d.tenant_id AND o.id = d.id AND o.status = 'committed'";

const INSERT_ITEMS: &str = "
INSERT INTO order_items (tenant_id, order_id, line_no, product_id, quantity, price, line_total)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int2[], $4::uuid[], $5::int4[], $6::int8[], $7::int8[])";

const INSERT_PAYMENTS: &str = "
INSERT INTO payments (id, tenant_id, order_id, line_no, method, amount, change, reference)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int2[], $5::text[], $6::int8[], $7::int8[], $8::text[])";

// Open a failed sync, or count more failures on the open one (a retry
// that failed again): attempts + n, the new reason. A discarded or
// resolved one is an operator's or a commit's final word: left alone.
pub(crate) const UPSERT_FAILED_SYNCS: &str = "
INSERT INTO failed_syncs AS f (id, tenant_id, order_id, client_order_id, device_id, reason_code, reason_message,
                               request, attempts)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::jsonb[],
                     $9::int4[])
ON CONFLICT (tenant_id, order_id) WHERE refund_id IS NULL DO UPDATE
   SET attempts = f.attempts + EXCLUDED.attempts, reason_code = EXCLUDED.reason_code,
       reason_message = EXCLUDED.reason_message, last_failed_at = now()
   WHERE f.status = 'open'";

// Only an open one: the batch read it open after locking its order, and a
// discard takes that lock too, so a count short of the batch's is a bug.
const RESOLVE_FAILED_SYNCS: &str = "
UPDATE failed_syncs f SET status = 'resolved'
FROM unnest($1::uuid[], $2::uuid[]) AS i(tenant_id, order_id)
WHERE f.tenant_id = i.tenant_id AND f.order_id = i.order_id AND f.refund_id IS NULL AND f.status = 'open'";

/// The statements for `w`, in the order they must run (the stock and the
/// receipt counters last, so their row locks are held only until the
/// COMMIT); empty ones omitted.
pub fn statements(w: &Writes) -> Vec<Statement> {
    let refunds = super::sql_refunds::statements(w);
    let head = [movements(w), rejections(w), items(w), payments(w), failed_syncs(w), resolved(w)];
    // Row locks are taken orders, products, receipt counters, in that
    // order whichever way the batch reads its products (a batch redone on
    // locked products holds them from its first round trip): the stock
    // late and the counters after it, both held to the COMMIT. A cancel
    // comes after the commit of an order it may cancel.
    let tail = [stock(w), commits(w), cancels(w)];
    head.into_iter().flatten().chain(refunds).chain(tail.into_iter().flatten()).collect()
}

fn movements(w: &Writes) -> Option<Statement> {
    let m = &w.movements;
    let params = vec![
        col(m, |_| Uuid::now_v7()),
        col(m, |r| r.tenant_id.0),
        col(m, |r| r.product_id.0),
        col(m, |r| r.kind.as_str()),
        col(m, |r| r.delta),
        col(m, |r| r.order_id.0),
        col(m, |r| r.refund_id.map(|id| id.0)),
    ];
    statement("stock movements", INSERT_MOVEMENTS, m.len(), params)
}

fn commits(w: &Writes) -> Option<Statement> {
    let c = &w.commits;
    let params = vec![
        col(c, |r| r.tenant_id.0),
        col(c, |r| r.order_id.0),
        col(c, |r| r.subtotal),
        col(c, |r| r.discount_total),
        col(c, |r| r.service_charge),
        col(c, |r| r.tax_base),
        col(c, |r| r.tax),
        col(c, |r| r.total),
        col(c, |r| r.rounding),
        col(c, |r| r.discounts.clone()),
        col(c, |r| r.change),
        col(c, |r| r.message_id),
        col(c, |r| r.outlet_id),
    ];
    statement("commit orders", UPDATE_COMMITTED, c.len(), params)
}

fn rejections(w: &Writes) -> Option<Statement> {
    let r = &w.rejections;
    let params = vec![
        col(r, |x| x.tenant_id.0),
        col(r, |x| x.order_id.0),
        col(r, |x| x.status.as_str()),
        col(r, |x| x.code),
        col(r, |x| x.message.clone()),
        col(r, |x| x.message_id),
    ];
    statement("reject orders", UPDATE_REJECTED, r.len(), params)
}

fn cancels(w: &Writes) -> Option<Statement> {
    let x = &w.cancels;
    let params = vec![col(x, |r| r.tenant_id.0), col(x, |r| r.order_id.0), col(x, |r| r.reason.clone())];
    statement("cancel orders", UPDATE_CANCELLED, x.len(), params)
}

fn items(w: &Writes) -> Option<Statement> {
    let i = &w.items;
    let params = vec![
        col(i, |r| r.tenant_id.0),
        col(i, |r| r.order_id.0),
        col(i, |r| r.line_no),
        col(i, |r| r.product_id.0),
        col(i, |r| r.quantity),
        col(i, |r| r.price),
        col(i, |r| r.line_total),
    ];
    statement("order items", INSERT_ITEMS, i.len(), params)
}

fn payments(w: &Writes) -> Option<Statement> {
    let p = &w.payments;
    let params = vec![
        col(p, |_| Uuid::now_v7()),
        col(p, |r| r.tenant_id.0),
        col(p, |r| r.order_id.0),
        col(p, |r| r.line_no),
        col(p, |r| r.method),
        col(p, |r| r.amount),
        col(p, |r| r.change),
        col(p, |r| r.reference.clone()),
    ];
    statement("payments", INSERT_PAYMENTS, p.len(), params)
}

fn failed_syncs(w: &Writes) -> Option<Statement> {
    let f: Vec<_> = w.failed_syncs.iter().filter(|f| f.refund_id.is_none()).collect();
    let params = vec![
        col(&f, |_| Uuid::now_v7()),
        col(&f, |r| r.tenant_id.0),
        col(&f, |r| r.order_id.0),
        col(&f, |r| r.client_order_id),
        col(&f, |r| r.device_id.clone()),
        col(&f, |r| r.code),
        col(&f, |r| r.message.clone()),
        col(&f, |r| r.request.clone()),
        col(&f, |r| r.failures),
    ];
    statement("failed syncs", UPSERT_FAILED_SYNCS, f.len(), params)
}

fn resolved(w: &Writes) -> Option<Statement> {
    let v: Vec<_> = w.resolved.iter().filter(|r| r.refund_id.is_none()).collect();
    let params = vec![col(&v, |r| r.tenant_id.0), col(&v, |r| r.order_id.0)];
    statement("resolve failed syncs", RESOLVE_FAILED_SYNCS, v.len(), params)
}

fn stock(w: &Writes) -> Option<Statement> {
    let stock = stock_rows(w);
    let params = vec![col(&stock, |s| s.0.0.0), col(&stock, |s| s.0.1.0), col(&stock, |s| s.1), col(&stock, |s| s.2)];
    statement(STOCK_UPDATE, UPDATE_STOCK, stock.len(), params)
}

/// (product, net change, stock needed) for every product whose stock the
/// batch changes or whose stock level a decision rests on.
fn stock_rows(w: &Writes) -> Vec<((common::ids::TenantId, common::ids::ProductId), i64, i64)> {
    let mut keys: Vec<_> = w.stock.keys().chain(w.stock_needed.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|key| (key, w.stock.get(&key).copied().unwrap_or(0), w.stock_needed.get(&key).copied().unwrap_or(0)))
        .filter(|&(_, delta, needed)| delta != 0 || needed > 0)
        .collect()
}
