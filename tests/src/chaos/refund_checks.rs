//! The checker's refunds: none accepted and lost, none stuck or made up,
//! each applied once (its return movements and payments back match it, or
//! it has none), never more of a product back than its order sold nor
//! more money than it took, in all or by any payment method; and the daily reports' `netCollected` over
//! every day of the run equals the payments less the refunds in the books.

use super::checker::{History, Verdict};
use crate::loadgen::Target;
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

pub async fn check(history: &History, db: &PgPool, tenant: Uuid, v: &mut Verdict) -> anyhow::Result<()> {
    let rows: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT id, client_refund_id, status FROM refunds WHERE tenant_id = $1 AND kind = 'refund'")
            .bind(tenant)
            .fetch_all(db)
            .await?;
    let known: HashSet<Uuid> = rows.iter().map(|r| r.1).collect();
    for (id, client_id, status) in &rows {
        *v.refunds_by_status.entry(status.clone()).or_default() += 1;
        if status == "pending" {
            v.stuck += 1;
            v.note(format!("stuck pending: refund {id} (client {client_id})"));
        }
        if !history.refunds_sent.contains(client_id) {
            v.unexpected += 1;
            v.note(format!("unexpected: refund {id} (client {client_id}) was never sent"));
        }
    }
    for client_id in history.refunds_accepted.iter().filter(|c| !known.contains(c)) {
        v.lost += 1;
        v.note(format!("lost: client refund {client_id} was accepted but is not in the books"));
    }
    let wrong: Vec<Uuid> = sqlx::query_scalar(WRONG_EFFECTS).bind(tenant).fetch_all(db).await?;
    let over: Vec<Uuid> = sqlx::query_scalar(OVER_REFUNDED).bind(tenant).fetch_all(db).await?;
    v.duplicated += wrong.len() + over.len();
    wrong.iter().for_each(|id| v.note(format!("duplicated or partial effect: refund {id}")));
    over.iter().for_each(|id| v.note(format!("refunded more than sold or paid: order {id}")));
    Ok(())
}

// A committed refund: its return movements equal its items, once; its
// payments back add up to its amount. Any other: neither.
const WRONG_EFFECTS: &str = "
WITH items AS (SELECT refund_id, sum(quantity) AS units FROM refund_items WHERE tenant_id = $1 GROUP BY 1),
     back AS (SELECT refund_id, sum(amount) AS paid FROM refund_payments WHERE tenant_id = $1 GROUP BY 1),
     moved AS (SELECT refund_id, sum(delta) AS units, count(*) AS rows FROM stock_movements
               WHERE tenant_id = $1 AND refund_id IS NOT NULL GROUP BY 1),
     lines AS (SELECT refund_id, count(*) AS rows FROM refund_items WHERE tenant_id = $1 GROUP BY 1)
SELECT r.id FROM refunds r
  LEFT JOIN items i ON i.refund_id = r.id LEFT JOIN back b ON b.refund_id = r.id
  LEFT JOIN moved m ON m.refund_id = r.id LEFT JOIN lines l ON l.refund_id = r.id
WHERE r.tenant_id = $1 AND CASE WHEN r.status = 'committed'
      THEN m.units IS DISTINCT FROM i.units OR m.rows IS DISTINCT FROM l.rows OR coalesce(b.paid, 0) <> r.amount
      ELSE m.units IS NOT NULL OR b.paid IS NOT NULL END";

// Per order and product, sales and returns together never above zero;
// per order, money back never above its total; per order and payment
// method, never more back than the method took net of change (the run's
// shop does not let cash stand in for other methods); a cancelled order,
// and only one, has paid back exactly what each method took (its cancel
// refund gave back what refunds had left).
const OVER_REFUNDED: &str = "
SELECT order_id FROM stock_movements WHERE tenant_id = $1 AND kind IN ('sale', 'return')
GROUP BY order_id, product_id HAVING sum(delta) > 0
UNION
SELECT o.id FROM orders o JOIN refunds r ON r.tenant_id = o.tenant_id AND r.order_id = o.id
WHERE o.tenant_id = $1 AND r.status = 'committed' GROUP BY o.id
HAVING sum(r.amount) > min(o.total + coalesce(o.rounding, 0))
UNION
SELECT b.order_id FROM
  (SELECT r.order_id, rp.method, sum(rp.amount) AS back FROM refunds r
   JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
   WHERE r.tenant_id = $1 AND r.status = 'committed' GROUP BY 1, 2) b
LEFT JOIN (SELECT order_id, method, sum(amount - change) AS net FROM payments WHERE tenant_id = $1 GROUP BY 1, 2) p
  ON p.order_id = b.order_id AND p.method = b.method
WHERE b.back > coalesce(p.net, 0)
UNION
SELECT o.id FROM orders o
LEFT JOIN (SELECT order_id, method, sum(amount - change) AS net FROM payments WHERE tenant_id = $1 GROUP BY 1, 2) p
  ON p.order_id = o.id
LEFT JOIN (SELECT r.order_id, rp.method, sum(rp.amount) AS back FROM refunds r
           JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
           WHERE r.tenant_id = $1 AND r.status = 'committed' GROUP BY 1, 2) b ON b.order_id = o.id AND b.method = p.method
WHERE o.tenant_id = $1 AND o.status = 'cancelled' AND coalesce(p.net, 0) <> coalesce(b.back, 0)
UNION
SELECT o.id FROM orders o WHERE o.tenant_id = $1
  AND (o.status = 'cancelled') <> EXISTS (SELECT 1 FROM refunds r WHERE r.tenant_id = o.tenant_id
                                          AND r.order_id = o.id AND r.kind = 'cancel')";

// Every day an order was sold or a refund made on, in the tenant's zone.
const DAYS: &str = "
SELECT DISTINCT (x.at AT TIME ZONE t.timezone)::date::text FROM tenants t,
  LATERAL (SELECT created_at AS at FROM orders WHERE tenant_id = t.id AND status IN ('committed', 'cancelled')
           UNION ALL SELECT created_at FROM refunds WHERE tenant_id = t.id AND status = 'committed') x
WHERE t.id = $1";

// What the books took, net of change, less what went back, over every day:
// payments of sold (committed or cancelled) orders, their refunds and
// cancels' paybacks.
const BOOKS_NET: &str = "
SELECT (SELECT coalesce(sum(p.amount - p.change), 0) FROM payments p JOIN orders o ON o.tenant_id = p.tenant_id
        AND o.id = p.order_id WHERE p.tenant_id = $1 AND o.status IN ('committed', 'cancelled'))::bigint
     - (SELECT coalesce(sum(r.amount), 0) FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id
        AND o.id = r.order_id WHERE r.tenant_id = $1 AND r.status = 'committed'
        AND o.status IN ('committed', 'cancelled'))::bigint";

/// (the reports' netCollected summed over the run's days, the books' net).
pub async fn report_net(target: &Target, db: &PgPool, tenant: Uuid) -> anyhow::Result<(i64, i64)> {
    let days: Vec<String> = sqlx::query_scalar(DAYS).bind(tenant).fetch_all(db).await?;
    let mut reported = 0;
    for day in days {
        let url = format!("{}/api/reports/daily-sales?date={day}", target.base);
        let report: serde_json::Value =
            target.http.get(url).bearer_auth(&target.token).send().await?.error_for_status()?.json().await?;
        reported += report["netCollected"].as_i64().ok_or_else(|| anyhow::anyhow!("no netCollected: {report}"))?;
    }
    let books: i64 = sqlx::query_scalar(BOOKS_NET).bind(tenant).fetch_one(db).await?;
    Ok((reported, books))
}
