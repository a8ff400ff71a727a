//! The rows a refund is decided on, read the same way by the workers'
//! commit (tokio-postgres, a batch's orders at once) and ingest's quote
//! and door check (sqlx, one order): per product what the order sold and
//! its committed refunds took back, and the order's money. Both bind
//! `$1` tenants and `$2` order ids as arrays of equal length.

use super::refund::Left;
use super::refund_charges::Charged;
use crate::money::Money;
use crate::order::PaymentMethod;

/// `tenant_id, order_id, product_id, units sold, their list price, units refunded`.
pub const SOLD_LINES: &str = "
SELECT i.tenant_id, i.order_id, i.product_id, sum(i.quantity)::bigint, sum(i.line_total)::bigint,
       coalesce((SELECT sum(ri.quantity) FROM refunds r
                 JOIN refund_items ri ON ri.tenant_id = r.tenant_id AND ri.refund_id = r.id
                 WHERE r.tenant_id = i.tenant_id AND r.order_id = i.order_id AND r.status = 'committed'
                   AND ri.product_id = i.product_id), 0)::bigint
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(tenant_id, order_id)
JOIN order_items i ON i.tenant_id = k.tenant_id AND i.order_id = k.order_id
GROUP BY 1, 2, 3";

/// What can go back is what was paid: the total with its cash rounding;
/// by method, what each took net of change and what refunds gave back by it.
/// `tenant_id, id, subtotal, paid, refunded, paid by method (jsonb),
/// refunded by method (jsonb), cash for non-cash, discounts, service
/// charge, tax base, tax, [those four given back so far]`; committed orders only.
pub const SOLD_MONEY: &str = "
SELECT o.tenant_id, o.id, o.subtotal, o.total + coalesce(o.rounding, 0),
       coalesce((SELECT sum(r.amount) FROM refunds r
                 WHERE r.tenant_id = o.tenant_id AND r.order_id = o.id AND r.status = 'committed'), 0)::bigint,
       (SELECT jsonb_object_agg(x.method, x.net) FROM
          (SELECT p.method, sum(p.amount - p.change) AS net FROM payments p
           WHERE p.tenant_id = o.tenant_id AND p.order_id = o.id GROUP BY p.method) x),
       (SELECT jsonb_object_agg(x.method, x.back) FROM
          (SELECT rp.method, sum(rp.amount) AS back FROM refunds r
           JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
           WHERE r.tenant_id = o.tenant_id AND r.order_id = o.id AND r.status = 'committed' GROUP BY rp.method) x),
       t.refund_cash_for_noncash,
       o.discount_total, o.service_charge, o.tax_base, o.tax,
       (SELECT ARRAY[coalesce(sum(r.discount_total), 0), coalesce(sum(r.service_charge), 0),
                     coalesce(sum(r.tax_base), 0), coalesce(sum(r.tax), 0)]::bigint[]
        FROM refunds r WHERE r.tenant_id = o.tenant_id AND r.order_id = o.id AND r.status = 'committed')
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(tenant_id, id)
JOIN orders o ON o.tenant_id = k.tenant_id AND o.id = k.id
JOIN tenants t ON t.id = o.tenant_id
WHERE o.status = 'committed'";

/// `{"cash": 1000, …}` as amounts by method (unknown methods and non-numbers left out).
pub fn by_method(json: Option<serde_json::Value>) -> Left {
    let Some(serde_json::Value::Object(methods)) = json else { return Left::new() };
    methods
        .into_iter()
        .filter_map(|(method, amount)| Some((PaymentMethod::parse(&method)?, Money::from_rupiah(amount.as_i64()?))))
        .collect()
}

/// `[discounts, service charge, tax base, tax]` given back so far.
pub fn given_back(sums: &[i64]) -> Charged {
    let at = |i: usize| Money::from_rupiah(sums.get(i).copied().unwrap_or(0));
    Charged { discounts: at(0), service_charge: at(1), tax_base: at(2), tax: at(3) }
}
