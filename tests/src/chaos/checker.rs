//! The history checker. The terminals' history (every request, its body
//! and its answer) says what was sent and what was accepted; PostgreSQL
//! says what happened. The checker counts lost, duplicated, unexpected and
//! stuck orders and stock conservation violations, RabbitMQ's own Jepsen
//! checker's categories with this system's invariants.

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
    /// Messages left in the retry or dead-letter queues (not recorded).
    pub unrecorded_messages: u32,
    pub examples: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost + self.duplicated + self.unexpected + self.conservation_violations + self.stuck == 0
            && self.failed_without_review == 0
            && self.unrecorded_messages == 0
    }

    fn note(&mut self, what: String) {
        if self.examples.len() < 20 {
            self.examples.push(what);
        }
    }
}

/// What the history says: every client order id sent, and those accepted.
#[derive(Default)]
pub struct History {
    pub requests: u64,
    pub sent: HashSet<Uuid>,
    pub accepted: HashSet<Uuid>,
}

pub fn read_history(path: &std::path::Path) -> anyhow::Result<History> {
    let file = std::fs::File::open(path).with_context(|| format!("opening the history {}", path.display()))?;
    let mut history = History::default();
    for line in std::io::BufReader::new(file).lines() {
        let line: Value = serde_json::from_str(&line?)?;
        history.requests += 1;
        let status = line["status"].as_u64().unwrap_or(0);
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
    let mut v = Verdict {
        requests: history.requests,
        orders_sent: history.sent.len(),
        orders_accepted: history.accepted.len(),
        ..Verdict::default()
    };
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
    v.failed_without_review = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM orders o WHERE o.tenant_id = $1 AND o.status = 'failed' AND NOT EXISTS
           (SELECT 1 FROM failed_syncs f WHERE f.tenant_id = o.tenant_id AND f.order_id = o.id
             AND f.status = 'open' AND f.reason_code <> '')",
    )
    .bind(tenant)
    .fetch_one(db)
    .await?
    .try_into()
    .unwrap_or(usize::MAX);
    for queue in broker.topology.all_queues().iter().filter(|q| **q != broker.topology.orders_queue()) {
        v.unrecorded_messages += broker.depth(queue).await?.0;
    }
    Ok(v)
}

/// Orders whose payments or stock movements do not match their status
/// exactly once: one payment and sale movements equal to the items while
/// committed or cancelled, cancel movements equal to the items once
/// cancelled, nothing otherwise.
async fn orders_with_wrong_effects(db: &PgPool, tenant: Uuid) -> anyhow::Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH o AS (
           SELECT o.id, o.status IN ('committed', 'cancelled') AS applied, o.status = 'cancelled' AS cancelled,
                  (SELECT coalesce(sum(quantity), 0) FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id) AS units,
                  (SELECT count(*) FROM payments p WHERE p.tenant_id = o.tenant_id AND p.order_id = o.id) AS payments,
                  (SELECT coalesce(-sum(delta), 0) FROM stock_movements m
                    WHERE m.tenant_id = o.tenant_id AND m.order_id = o.id AND m.kind = 'sale') AS sold,
                  (SELECT coalesce(sum(delta), 0) FROM stock_movements m
                    WHERE m.tenant_id = o.tenant_id AND m.order_id = o.id AND m.kind = 'cancel') AS returned
           FROM orders o WHERE o.tenant_id = $1)
         SELECT id FROM o
         WHERE payments <> CASE WHEN applied THEN 1 ELSE 0 END
            OR sold <> CASE WHEN applied THEN units ELSE 0 END
            OR returned <> CASE WHEN cancelled THEN units ELSE 0 END",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?)
}

/// For every product: stock = initial + later adjustments − units of
/// committed orders + oversold shortfalls, the ledger sums to the stock,
/// and the stock is not negative.
async fn conservation(db: &PgPool, tenant: Uuid, initial: &HashMap<Uuid, i64>) -> anyhow::Result<Vec<(Uuid, String)>> {
    let rows: Vec<(Uuid, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.stock,
           coalesce(sum(m.delta), 0)::bigint,
           coalesce(sum(m.delta) FILTER (WHERE m.kind = 'adjustment' AND m.reason = 'initial'), 0)::bigint,
           coalesce(sum(m.delta) FILTER (WHERE m.kind = 'adjustment' AND m.reason IS DISTINCT FROM 'initial'), 0)::bigint,
           coalesce(sum(m.delta) FILTER (WHERE m.kind = 'oversold'), 0)::bigint,
           coalesce((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id
                      WHERE i.tenant_id = p.tenant_id AND i.product_id = p.id AND o.status = 'committed'), 0)::bigint
         FROM products p LEFT JOIN stock_movements m ON m.tenant_id = p.tenant_id AND m.product_id = p.id
         WHERE p.tenant_id = $1 GROUP BY p.tenant_id, p.id, p.stock",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let mut violations = Vec::new();
    for (id, stock, ledger, opening_in_ledger, adjusted, oversold, sold) in rows {
        let opening = initial.get(&id).copied().unwrap_or(0);
        let expected = opening + adjusted - sold + oversold;
        if stock != expected || ledger != stock || stock < 0 || opening_in_ledger != opening {
            violations.push((
                id,
                format!(
                    "stock {stock}, ledger {ledger}; opening {opening} (ledger says {opening_in_ledger}) \
                     + adjustments {adjusted} − sold {sold} + oversold {oversold} = {expected}"
                ),
            ));
        }
    }
    Ok(violations)
}
