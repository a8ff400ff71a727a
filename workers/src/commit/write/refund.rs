//! The write statements for a batch's refunds: applied ones (amount,
//! payments back), failed ones, and their failed syncs (one per refund).

use super::rows::Writes;
use super::statement::{Statement, col, statement};
use uuid::Uuid;

// Only a refund still pending, or failed and retried: a count short of
// the batch's means two batches decided one refund, and aborts.
const UPDATE_REFUNDS_COMMITTED: &str = "
UPDATE refunds r SET status = 'committed', amount = d.amount, rejection_code = NULL, rejection_message = NULL,
       committed_at = now(), discount_total = d.discounts, service_charge = d.service_charge, tax_base = d.tax_base,
       tax = d.tax
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
     AS d(tenant_id, id, amount, discounts, service_charge, tax_base, tax)
WHERE r.tenant_id = d.tenant_id AND r.id = d.id AND r.status IN ('pending', 'failed')";

const INSERT_REFUND_PAYMENTS: &str = "
INSERT INTO refund_payments (tenant_id, refund_id, line_no, method, amount)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int2[], $4::text[], $5::int8[])";

const UPDATE_REFUNDS_FAILED: &str = "
UPDATE refunds r SET status = 'failed', rejection_code = d.code, rejection_message = d.message
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS d(tenant_id, id, code, message)
WHERE r.tenant_id = d.tenant_id AND r.id = d.id AND r.status IN ('pending', 'failed')";

// As for orders: open one, or count more failures on the open one. The
// order refunded goes in `refund_order_id` (`order_id` is the order's own key).
const UPSERT_REFUND_FAILED_SYNCS: &str = "
INSERT INTO failed_syncs AS f (id, tenant_id, refund_order_id, client_order_id, refund_id, reason_code, reason_message,
                               request, attempts)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::jsonb[],
                     $9::int4[])
ON CONFLICT (tenant_id, refund_id) WHERE refund_id IS NOT NULL DO UPDATE
   SET attempts = f.attempts + EXCLUDED.attempts, reason_code = EXCLUDED.reason_code,
       reason_message = EXCLUDED.reason_message, last_failed_at = now()
   WHERE f.status = 'open'";

const RESOLVE_REFUND_FAILED_SYNCS: &str = "
UPDATE failed_syncs f SET status = 'resolved'
FROM unnest($1::uuid[], $2::uuid[]) AS i(tenant_id, refund_id)
WHERE f.tenant_id = i.tenant_id AND f.refund_id = i.refund_id AND f.status = 'open'";

pub fn statements(w: &Writes) -> Vec<Statement> {
    [committed(w), payments(w), failed(w), failed_syncs(w), resolved(w)].into_iter().flatten().collect()
}

fn committed(w: &Writes) -> Option<Statement> {
    let r = &w.refunds;
    let params = vec![
        col(r, |x| x.tenant_id.0),
        col(r, |x| x.refund_id.0),
        col(r, |x| x.amount),
        col(r, |x| x.charged.discounts.rupiah()),
        col(r, |x| x.charged.service_charge.rupiah()),
        col(r, |x| x.charged.tax_base.rupiah()),
        col(r, |x| x.charged.tax.rupiah()),
    ];
    statement("commit refunds", UPDATE_REFUNDS_COMMITTED, r.len(), params)
}

fn payments(w: &Writes) -> Option<Statement> {
    let p = &w.refund_payments;
    let params = vec![
        col(p, |x| x.tenant_id.0),
        col(p, |x| x.refund_id.0),
        col(p, |x| x.line_no),
        col(p, |x| x.method),
        col(p, |x| x.amount),
    ];
    statement("refund payments", INSERT_REFUND_PAYMENTS, p.len(), params)
}

fn failed(w: &Writes) -> Option<Statement> {
    let f = &w.refund_failures;
    let params =
        vec![col(f, |x| x.tenant_id.0), col(f, |x| x.refund_id.0), col(f, |x| x.code), col(f, |x| x.message.clone())];
    statement("fail refunds", UPDATE_REFUNDS_FAILED, f.len(), params)
}

fn failed_syncs(w: &Writes) -> Option<Statement> {
    let f: Vec<_> = w.failed_syncs.iter().filter(|f| f.refund_id.is_some()).collect();
    let params = vec![
        col(&f, |_| Uuid::now_v7()),
        col(&f, |r| r.tenant_id.0),
        col(&f, |r| r.order_id.0),
        col(&f, |r| r.client_order_id),
        col(&f, |r| r.refund_id.map(|id| id.0)),
        col(&f, |r| r.code),
        col(&f, |r| r.message.clone()),
        col(&f, |r| r.request.clone()),
        col(&f, |r| r.failures),
    ];
    statement("refund failed syncs", UPSERT_REFUND_FAILED_SYNCS, f.len(), params)
}

fn resolved(w: &Writes) -> Option<Statement> {
    let v: Vec<_> = w.resolved.iter().filter_map(|r| r.refund_id.map(|id| (r.tenant_id, id))).collect();
    let params = vec![col(&v, |r| r.0.0), col(&v, |r| r.1.0)];
    statement("resolve refund failed syncs", RESOLVE_REFUND_FAILED_SYNCS, v.len(), params)
}
