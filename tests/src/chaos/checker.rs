//! The history checker. The terminals' history (every request, its body
//! and its answer) says what was sent and what was accepted; PostgreSQL
//! says what happened. The checker counts lost, duplicated, unexpected and
//! stuck orders and stock conservation violations, RabbitMQ's own Jepsen
//! checker's categories with this system's invariants; refunds count in
//! the same categories (`refund_checks`).

use crate::broker::TestBroker;
use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use uuid::Uuid;

#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub requests: u64,
    pub orders_sent: usize,
    pub orders_accepted: usize,
    pub refunds_sent: usize,
    pub refunds_accepted: usize,
    pub refunds_by_status: HashMap<String, i64>,
    pub by_status: HashMap<String, i64>,
    /// Accepted (202/201/200, or `accepted`/`duplicate` in a sync batch) but not in the books.
    pub lost: usize,
    /// More than one effect of one order: rows, payments or stock movements.
    pub duplicated: usize,
    /// In the books, but no terminal ever sent it.
    pub unexpected: usize,
    /// Products whose stock is not initial + adjustments − committed sales
    /// (+ oversold shortfalls), whose ledger does not sum to it, or negative.
    pub conservation_violations: usize,
    /// Still `pending` after the drain.
    pub stuck: usize,
    /// `failed` orders without an open failed sync with a reason.
    pub failed_without_review: usize,
    /// Committed or cancelled orders whose failed sync is not resolved (a
    /// discard that crossed a retry's commit), and resolved failed syncs of
    /// orders that are not committed.
    pub review_disagreements: usize,
    /// Messages left in the retry or dead-letter queues (not recorded).
    pub unrecorded_messages: u32,
    /// Days whose report's `netCollected` is not payments less refunds in the books.
    pub report_mismatches: usize,
    /// Closed days whose report changed during the run (nothing new was dated in them).
    pub closed_day_changes: usize,
    /// The closed day's sales refunded and cancelled during the run (dated today).
    pub closed_day_refunds: i64,
    pub closed_day_cancels: i64,
    /// Orders not at the outlet their request named (or the default one).
    pub misplaced_orders: i64,
    /// Orders at an outlet other than the shop's default one.
    pub orders_at_other_outlets: i64,
    /// Stock transfers whose movements are not exactly theirs.
    pub transfer_mismatches: i64,
    pub transfers_committed: i64,
    pub transfers_failed: i64,
    /// Closed cash shifts whose Z-report disagrees with their cash rows.
    pub shift_mismatches: usize,
    pub shifts_closed: usize,
    pub shifts_with_late_additions: usize,
    /// Answers with status 500: a failure (a failover included) must be a 503, never a 500.
    pub internal_errors: usize,
    /// Accepted orders whose row the database no longer had when their
    /// message was applied (recreated from it, `warungin_orders_recreated_total`):
    /// acknowledged writes a failover lost. 0 with synchronous replication.
    pub acknowledged_missing_after_failover: usize,
    /// Checks that failed or timed out (the verdict is incomplete there).
    pub failed_checks: usize,
    pub examples: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost + self.duplicated + self.unexpected + self.conservation_violations + self.stuck == 0
            && self.failed_without_review == 0
            && self.review_disagreements == 0
            && self.unrecorded_messages == 0
            && self.report_mismatches == 0
            && self.closed_day_changes == 0
            && self.misplaced_orders == 0
            && self.transfer_mismatches == 0
            && self.shift_mismatches == 0
            && self.internal_errors == 0
            && self.acknowledged_missing_after_failover == 0
            && self.failed_checks == 0
    }

    pub(super) fn note(&mut self, what: String) {
        if self.examples.len() < 20 {
            self.examples.push(what);
        }
    }

    /// A check that could not be made: a finding, named first among the examples.
    pub fn failed(&mut self, why: String) {
        self.failed_checks += 1;
        self.examples.insert(0, format!("CHECK FAILED: {why}"));
    }

    /// What the history alone says (when the books could not be read).
    pub fn of_history(history: &History) -> Self {
        Verdict {
            requests: history.requests,
            orders_sent: history.sent.len(),
            orders_accepted: history.accepted.len(),
            refunds_sent: history.refunds_sent.len(),
            refunds_accepted: history.refunds_accepted.len(),
            internal_errors: history.internal_errors,
            ..Verdict::default()
        }
    }
}

/// What the history says: every client order id sent, and those accepted.
#[derive(Default)]
pub struct History {
    pub requests: u64,
    /// Answers with status 500.
    pub internal_errors: usize,
    pub sent: HashSet<Uuid>,
    pub accepted: HashSet<Uuid>,
    /// Client refund ids sent, and those answered as taken.
    pub refunds_sent: HashSet<Uuid>,
    pub refunds_accepted: HashSet<Uuid>,
}

pub fn read_history(path: &std::path::Path) -> anyhow::Result<History> {
    let file = std::fs::File::open(path).with_context(|| format!("opening the history {}", path.display()))?;
    let mut history = History::default();
    for line in std::io::BufReader::new(file).lines() {
        let line: Value = serde_json::from_str(&line?)?;
        history.requests += 1;
        let status = line["status"].as_u64().unwrap_or(0);
        if status == 500 {
            history.internal_errors += 1;
        }
        let id = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
        match line["path"].as_str() {
            Some("/api/orders") => {
                let Some(client_id) = id(&line["body"]["clientOrderId"]) else { continue };
                history.sent.insert(client_id);
                if (200..=202).contains(&status) {
                    history.accepted.insert(client_id);
                }
            }
            Some("/api/sync/orders") => {
                let orders = line["body"]["orders"].as_array().cloned().unwrap_or_default();
                history.sent.extend(orders.iter().filter_map(|o| id(&o["clientOrderId"])));
                let results = line["answer"]["results"].as_array().cloned().unwrap_or_default();
                let taken = results.iter().filter(|r| matches!(r["status"].as_str(), Some("accepted" | "duplicate")));
                history.accepted.extend(taken.filter_map(|r| id(&r["clientOrderId"])));
            }
            Some(path) if path.starts_with("/api/orders/") && path.ends_with("/refunds") => {
                let Some(client_id) = id(&line["body"]["clientRefundId"]) else { continue };
                history.refunds_sent.insert(client_id);
                if (200..=202).contains(&status) {
                    history.refunds_accepted.insert(client_id);
                }
            }
            _ => {}
        }
    }
    Ok(history)
}

pub async fn check(
    history: &History,
    db: &PgPool,
    broker: &TestBroker,
    tenant: Uuid,
    initial: &HashMap<Uuid, i64>,
) -> anyhow::Result<Verdict> {
    let mut v = Verdict::of_history(history);
    // Fresh statistics, or the planner may loop over tables it still thinks empty.
    sqlx::query("ANALYZE orders, order_items, payments, stock_movements, products, outlet_stock, failed_syncs")
        .execute(db)
        .await?;
    let rows: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT id, client_order_id, status FROM orders WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(db)
            .await?;
    let mut in_books: HashMap<Uuid, usize> = HashMap::new();
    for (id, client_id, status) in &rows {
        *in_books.entry(*client_id).or_default() += 1;
        *v.by_status.entry(status.clone()).or_default() += 1;
        if status == "pending" {
            v.stuck += 1;
            v.note(format!("stuck pending: order {id} (client {client_id})"));
        }
        if !history.sent.contains(client_id) {
            v.unexpected += 1;
            v.note(format!("unexpected: order {id} (client {client_id}) was never sent"));
        }
    }
    for client_id in history.accepted.iter().filter(|c| !in_books.contains_key(c)) {
        v.lost += 1;
        v.note(format!("lost: client order {client_id} was accepted but is not in the books"));
    }
    let twice = in_books.values().filter(|n| **n > 1).count();
    let effects = orders_with_wrong_effects(db, tenant).await?;
    v.duplicated = twice + effects.len();
    effects.iter().for_each(|id| v.note(format!("duplicated or partial effect: order {id}")));
    for (product, why) in conservation(db, tenant, initial).await? {
        v.conservation_violations += 1;
        v.note(format!("conservation: product {product}: {why}"));
    }
    // A failed order keeps its failed sync for review: open, or discarded by an operator.
    v.failed_without_review = count(
        db,
        tenant,
        "SELECT count(*) FROM orders o WHERE o.tenant_id = $1 AND o.status = 'failed' AND NOT EXISTS
           (SELECT 1 FROM failed_syncs f WHERE f.tenant_id = o.tenant_id AND f.order_id = o.id AND f.refund_id IS NULL
             AND f.status IN ('open', 'discarded') AND f.reason_code <> '')",
    )
    .await?;
    v.review_disagreements = count(
        db,
        tenant,
        "SELECT count(*) FROM orders o JOIN failed_syncs f ON f.tenant_id = o.tenant_id AND f.order_id = o.id AND f.refund_id IS NULL
         WHERE o.tenant_id = $1
           AND (o.status IN ('committed', 'cancelled')) <> (f.status = 'resolved')",
    )
    .await?;
    super::refund_checks::check(history, db, tenant, &mut v).await?;
    for queue in broker.topology.all_queues().iter().filter(|q| **q != broker.topology.orders_queue()) {
        v.unrecorded_messages += broker.depth(queue).await?.0;
    }
    Ok(v)
}

/// The accepted orders the workers found without a row and recreated from
/// their message, by the workers' logs (`logs/worker-*.log`, JSON lines).
pub fn acknowledged_and_recreated(history: &History, logs: &std::path::Path) -> anyhow::Result<Vec<Uuid>> {
    let mut recreated = HashSet::new();
    for entry in std::fs::read_dir(logs).with_context(|| format!("reading {}", logs.display()))? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|f| f.to_string_lossy().starts_with("worker-")) {
            continue;
        }
        for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
            let line = line?;
            if !line.contains("recreated from its message") {
                continue;
            }
            let fields = serde_json::from_str::<Value>(&line).map(|v| v["fields"].clone()).unwrap_or_default();
            if let Some(id) = fields["client_order_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                recreated.insert(id);
            }
        }
    }
    Ok(recreated.into_iter().filter(|id| history.accepted.contains(id)).collect())
}

/// Orders whose payments or stock movements do not match their status
/// exactly once: a payment row per payment sent (adding up to total plus
/// rounding) and sale movements equal to the items while committed or
/// cancelled, cancel and return movements together equal to the items once
/// cancelled (returns alone before), nothing otherwise.
async fn orders_with_wrong_effects(db: &PgPool, tenant: Uuid) -> anyhow::Result<Vec<Uuid>> {
    // Set-based (one pass over each table), whatever the size of the run.
    Ok(sqlx::query_scalar(
        "WITH items AS (SELECT order_id, sum(quantity) AS units FROM order_items WHERE tenant_id = $1 GROUP BY order_id),
              paid AS (SELECT order_id, count(*) AS n, sum(amount - change) AS net FROM payments WHERE tenant_id = $1
                       GROUP BY order_id),
              moved AS (SELECT order_id,
                               coalesce(-sum(delta) FILTER (WHERE kind = 'sale'), 0) AS sold,
                               coalesce(sum(delta) FILTER (WHERE kind IN ('cancel', 'return')), 0) AS returned,
                               coalesce(sum(delta) FILTER (WHERE kind = 'return'), 0) AS refunded
                        FROM stock_movements WHERE tenant_id = $1 AND order_id IS NOT NULL GROUP BY order_id)
         SELECT o.id FROM orders o
           LEFT JOIN items i ON i.order_id = o.id
           LEFT JOIN paid p ON p.order_id = o.id
           LEFT JOIN moved m ON m.order_id = o.id
         WHERE o.tenant_id = $1 AND (
               coalesce(p.n, 0) <> CASE WHEN o.status IN ('committed', 'cancelled')
                                        THEN coalesce(jsonb_array_length(o.request->'payments'), 1) ELSE 0 END
            OR (o.status IN ('committed', 'cancelled') AND p.net IS DISTINCT FROM o.total + o.rounding)
            OR coalesce(m.sold, 0) <> CASE WHEN o.status IN ('committed', 'cancelled') THEN coalesce(i.units, 0) ELSE 0 END
            OR coalesce(m.returned, 0) <> CASE WHEN o.status = 'cancelled' THEN coalesce(i.units, 0)
                                               ELSE coalesce(m.refunded, 0) END)",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?)
}

/// (product, outlet, default outlet?, stock, ledger, opening in the ledger,
/// adjusted, oversold, sold, returned, transferred in less out)
type ProductBooks = (Uuid, Uuid, bool, i64, i64, i64, i64, i64, i64, i64, i64);

/// For every product at every outlet: stock = initial (at the default
/// outlet) + later adjustments − units of committed orders sold there +
/// oversold shortfalls + units their refunds brought back (a cancelled
/// order's returns and cancel net out) + transfers in − transfers out, the
/// ledger sums to the stock, and the stock is not negative.
async fn conservation(db: &PgPool, tenant: Uuid, initial: &HashMap<Uuid, i64>) -> anyhow::Result<Vec<(Uuid, String)>> {
    let rows: Vec<ProductBooks> = sqlx::query_as(
        "WITH moved AS (
           SELECT product_id, outlet_id, sum(delta) AS ledger,
                  coalesce(sum(delta) FILTER (WHERE kind = 'adjustment' AND reason = 'initial'), 0) AS opening,
                  coalesce(sum(delta) FILTER (WHERE kind = 'adjustment' AND reason IS DISTINCT FROM 'initial'), 0) AS adjusted,
                  coalesce(sum(delta) FILTER (WHERE kind = 'oversold'), 0) AS oversold,
                  coalesce(sum(delta) FILTER (WHERE kind IN ('transfer_out', 'transfer_in')), 0) AS transferred
           FROM stock_movements WHERE tenant_id = $1 GROUP BY product_id, outlet_id),
         returned AS (
           SELECT ri.product_id, o.outlet_id, sum(ri.quantity) AS units
           FROM refund_items ri JOIN refunds r ON r.tenant_id = ri.tenant_id AND r.id = ri.refund_id
           JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
           WHERE ri.tenant_id = $1 AND r.status = 'committed' AND o.status = 'committed' GROUP BY 1, 2),
         sold AS (
           SELECT i.product_id, o.outlet_id, sum(i.quantity) AS units
           FROM order_items i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id
           WHERE i.tenant_id = $1 AND o.status = 'committed' GROUP BY 1, 2)
         SELECT x.product_id, x.outlet_id, w.is_default, x.stock, coalesce(m.ledger, 0)::bigint,
                coalesce(m.opening, 0)::bigint, coalesce(m.adjusted, 0)::bigint, coalesce(m.oversold, 0)::bigint,
                coalesce(s.units, 0)::bigint, coalesce(r.units, 0)::bigint, coalesce(m.transferred, 0)::bigint
         FROM outlet_stock x JOIN outlets w ON w.tenant_id = x.tenant_id AND w.id = x.outlet_id
         LEFT JOIN moved m USING (product_id, outlet_id) LEFT JOIN sold s USING (product_id, outlet_id)
         LEFT JOIN returned r USING (product_id, outlet_id)
         WHERE x.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let mut violations = Vec::new();
    for (id, outlet, at_default, stock, ledger, opening_in_ledger, adjusted, oversold, sold, returned, transferred) in
        rows
    {
        let opening = if at_default { initial.get(&id).copied().unwrap_or(0) } else { 0 };
        let expected = opening + adjusted - sold + oversold + returned + transferred;
        if stock != expected || ledger != stock || stock < 0 || opening_in_ledger != opening {
            violations.push((
                id,
                format!(
                    "at outlet {outlet}: stock {stock}, ledger {ledger}; opening {opening} (ledger says {opening_in_ledger}) \
                     + adjustments {adjusted} − sold {sold} + oversold {oversold} + returned {returned} \
                     + transferred {transferred} = {expected}"
                ),
            ));
        }
    }
    Ok(violations)
}

async fn count(db: &PgPool, tenant: Uuid, sql: &'static str) -> anyhow::Result<usize> {
    let n: i64 = sqlx::query_scalar(sql).bind(tenant).fetch_one(db).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
