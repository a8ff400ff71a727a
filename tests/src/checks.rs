//! Waiting on conditions (never on sleeps) and the invariants every test
//! ends with: the ledger explains every stock figure, effects happened at
//! most once, nothing is stuck pending, and the queues are drained.

use crate::pipeline::Pipeline;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// Poll `check` until it yields a value; fail the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

impl Pipeline {
    pub async fn order_status(&self, order_id: Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&self.db)
            .await
            .ok()
            .flatten()
    }

    /// Wait until the order left `pending`; returns its status.
    pub async fn settled(&self, order_id: Uuid) -> String {
        eventually(&format!("order {order_id} to settle"), Duration::from_secs(30), || async move {
            self.order_status(order_id).await.filter(|s| s != "pending")
        })
        .await
    }

    /// Wait until the order has `status`.
    pub async fn reaches(&self, order_id: Uuid, status: &str) {
        eventually(&format!("order {order_id} to become {status}"), Duration::from_secs(30), || async move {
            (self.order_status(order_id).await.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    pub async fn pending_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'pending'")
            .fetch_one(&self.db)
            .await
            .unwrap_or(-1)
    }

    /// Wait until no order is pending and no queue holds a ready message.
    pub async fn drained(&self, timeout: Duration) {
        eventually("the pipeline to drain", timeout, || async {
            let idle = self.pending_count().await == 0 && self.broker.total_ready().await.ok() == Some(0);
            idle.then_some(())
        })
        .await;
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.expect("count query")
    }

    /// The books add up (see [`assert_books_balance`]).
    pub async fn assert_books_balance(&self) {
        assert_books_balance(&self.db).await;
    }
}

/// A product's stock at `outlet`, or over all outlets.
pub async fn stock(db: &sqlx::PgPool, product: Uuid, outlet: Option<Uuid>) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(stock), 0)::bigint FROM outlet_stock WHERE product_id = $1 AND ($2::uuid IS NULL OR outlet_id = $2)",
    )
    .bind(product)
    .bind(outlet)
    .fetch_one(db)
    .await
    .expect("stock")
}

/// The books add up: for every product, at every outlet, the ledger sums
/// to its stock and stock is never negative; every committed or cancelled order has one
/// payment row per payment it was sent with, adding up (net of change) to
/// its total plus rounding, and sale movements matching its items; no
/// other order has any effect; refunds as `refund_books_balance`.
pub async fn assert_books_balance(db: &sqlx::PgPool) {
    let unexplained: Vec<(Uuid, Uuid, i64, i64)> = sqlx::query_as(
        "SELECT s.product_id, s.outlet_id, s.stock, coalesce(sum(m.delta), 0)::bigint FROM outlet_stock s
         LEFT JOIN stock_movements m
                ON m.tenant_id = s.tenant_id AND m.outlet_id = s.outlet_id AND m.product_id = s.product_id
         GROUP BY 1, 2, 3 HAVING s.stock <> coalesce(sum(m.delta), 0) OR s.stock < 0",
    )
    .fetch_all(db)
    .await
    .expect("ledger query");
    assert!(unexplained.is_empty(), "stock not explained by the ledger: {unexplained:?}");
    let bad_payments: i64 = count(
        db,
        "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM payments p WHERE p.order_id = o.id)
             <> CASE WHEN o.status IN ('committed', 'cancelled')
                     THEN coalesce(jsonb_array_length(o.request->'payments'), 1) ELSE 0 END
           OR (o.status IN ('committed', 'cancelled') AND o.total + o.rounding
               <> (SELECT sum(p.amount - p.change) FROM payments p WHERE p.order_id = o.id))",
    )
    .await;
    assert_eq!(bad_payments, 0, "orders with a wrong number of payments, or payments not adding up");
    refund_books_balance(db).await;
    let bad_sales: i64 = count(
        db,
        "SELECT count(*) FROM orders o WHERE
               coalesce((SELECT -sum(delta) FROM stock_movements m WHERE m.order_id = o.id AND m.kind = 'sale'), 0)
               <> CASE WHEN o.status IN ('committed', 'cancelled')
                       THEN (SELECT coalesce(sum(quantity), 0) FROM order_items i WHERE i.order_id = o.id) ELSE 0 END",
    )
    .await;
    assert_eq!(bad_sales, 0, "orders whose sale movements do not match their items");
    // A committed order's failed sync is resolved; a failed order keeps one
    // for review (open, or discarded by an operator); nothing else has one.
    let bad_reviews: i64 = count(
        db,
        "SELECT count(*) FROM orders o LEFT JOIN failed_syncs f ON f.tenant_id = o.tenant_id AND f.order_id = o.id AND f.refund_id IS NULL
         WHERE CASE o.status WHEN 'failed' THEN f.status IS NULL OR f.status = 'resolved'
                             WHEN 'committed' THEN f.status IS NOT NULL AND f.status <> 'resolved'
                             WHEN 'cancelled' THEN f.status IS NOT NULL AND f.status <> 'resolved'
                             ELSE f.status IS NOT NULL END",
    )
    .await;
    assert_eq!(bad_reviews, 0, "orders whose failed sync disagrees with their status");
}

/// Refunds: a committed one has a return movement per item and payments
/// adding up to its amount, nothing else has any; no order gets back more
/// of a product than it sold, nor more money than its total.
pub async fn refund_books_balance(db: &sqlx::PgPool) {
    let bad_refunds: i64 = count(
        db,
        "SELECT count(*) FROM refunds r WHERE
               coalesce((SELECT sum(delta) FROM stock_movements m WHERE m.refund_id = r.id AND m.kind = 'return'), 0)
               <> CASE WHEN r.status = 'committed'
                       THEN (SELECT sum(quantity) FROM refund_items i WHERE i.refund_id = r.id) ELSE 0 END
            OR coalesce((SELECT sum(amount) FROM refund_payments p WHERE p.refund_id = r.id), 0)
               <> CASE WHEN r.status = 'committed' THEN r.amount ELSE 0 END",
    )
    .await;
    assert_eq!(bad_refunds, 0, "refunds whose returns or payments disagree with their status");
    let over_refunded: i64 = count(
        db,
        "SELECT count(*) FROM (
             SELECT m.order_id, m.product_id FROM stock_movements m WHERE m.kind IN ('sale', 'return')
             GROUP BY 1, 2 HAVING sum(m.delta) > 0) x",
    )
    .await;
    assert_eq!(over_refunded, 0, "products refunded more than their order sold");
    let over_paid_back: i64 = count(
        db,
        "SELECT count(*) FROM orders o WHERE o.total + coalesce(o.rounding, 0)
               < (SELECT sum(r.amount) FROM refunds r WHERE r.order_id = o.id AND r.status = 'committed')",
    )
    .await;
    assert_eq!(over_paid_back, 0, "orders that paid back more than was paid");
    // A cancel pays back what refunds left of each method: all of it.
    let cancels_short: i64 = count(
        db,
        "SELECT count(*) FROM orders o WHERE (o.status = 'cancelled') <> EXISTS
               (SELECT 1 FROM refunds r WHERE r.order_id = o.id AND r.kind = 'cancel' AND r.status = 'committed')
            OR (o.status = 'cancelled' AND EXISTS (
               SELECT method FROM payments p WHERE p.order_id = o.id GROUP BY method
               HAVING sum(p.amount - p.change) <> coalesce((SELECT sum(rp.amount) FROM refunds r
                   JOIN refund_payments rp ON rp.refund_id = r.id
                   WHERE r.order_id = o.id AND r.status = 'committed' AND rp.method = p.method), 0)))",
    )
    .await;
    assert_eq!(cancels_short, 0, "cancelled orders without exactly one payback of all that was left");
}

async fn count(db: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.expect("count query")
}
