//! The statements that write a batch's orders: applied ones (their figures
//! and receipt numbers, lines, payments), refused ones, and their failed
//! syncs.

use super::rows::Writes;
use super::statement::{Statement, col, statement};
use uuid::Uuid;

// Receipt numbers are taken here, in the commit transaction: each
// (tenant, outlet, period) counter row is bumped once by the batch's count
// (rows taken in key order, so batches never deadlock on them) and its
// orders get the numbers below the new value in batch order (the outlet is
// the order row's: a request stored before outlets names none). A rolled-back
// batch rolls its bump back: no gaps. The period is the commit's day or
// year in the tenant's timezone, so numbers rise with time.
const UPDATE_COMMITTED: &str = "
WITH d AS (
    SELECT d.*, coalesce(o.outlet_id, '00000000-0000-0000-0000-000000000000') AS outlet_key,
           to_char(now() AT TIME ZONE t.timezone, CASE t.receipt_reset WHEN 'yearly' THEN 'YYYY' ELSE 'YYYYMMDD' END)
               AS period,
           t.receipt_prefix
    FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::jsonb[], $11::bigint[], $12::uuid[]) WITH ORDINALITY
         AS d(tenant_id, id, subtotal, discount_total, service_charge, tax_base, tax, total, rounding, discounts,
              change, message_id, n)
    JOIN tenants t ON t.id = d.tenant_id
    JOIN orders o ON o.tenant_id = d.tenant_id AND o.id = d.id),
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

pub(super) fn commits(w: &Writes) -> Option<Statement> {
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
    ];
    statement("commit orders", UPDATE_COMMITTED, c.len(), params)
}

pub(super) fn rejections(w: &Writes) -> Option<Statement> {
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

pub(super) fn items(w: &Writes) -> Option<Statement> {
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

pub(super) fn payments(w: &Writes) -> Option<Statement> {
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

pub(super) fn failed_syncs(w: &Writes) -> Option<Statement> {
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

pub(super) fn resolved(w: &Writes) -> Option<Statement> {
    let v: Vec<_> = w.resolved.iter().filter(|r| r.refund_id.is_none()).collect();
    let params = vec![col(&v, |r| r.tenant_id.0), col(&v, |r| r.order_id.0)];
    statement("resolve failed syncs", RESOLVE_FAILED_SYNCS, v.len(), params)
}
