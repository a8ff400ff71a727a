//! After the load: wait for the pipeline to drain, read what was committed,
//! audit the stock, and summarise.

use super::drive::Tally;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0) }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Audit {
    pub products: usize,
    /// initial − committed quantity ≠ final stock
    pub stock_mismatches: Vec<Uuid>,
    pub negative: Vec<Uuid>,
    /// Σ ledger ≠ stock
    pub ledger_mismatches: Vec<Uuid>,
}

impl Audit {
    pub fn clean(&self) -> bool {
        self.stock_mismatches.is_empty() && self.negative.is_empty() && self.ledger_mismatches.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seconds: f64,
    pub requests: u64,
    pub orders_sent: u64,
    pub accepted: u64,
    pub accepted_per_s: f64,
    pub committed: i64,
    pub committed_per_s: f64,
    pub rejected_by_code: BTreeMap<String, i64>,
    pub http_status: BTreeMap<u16, u64>,
    pub ingest_latency_ms: Percentiles,
    pub end_to_end_ms: Percentiles,
    pub error_rate: f64,
    pub still_pending: i64,
    pub audit: Audit,
}

/// Wait until none of the tenant's orders is pending (or `timeout`).
pub async fn drain(db: &PgPool, tenant: Uuid, timeout: Duration) -> anyhow::Result<i64> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'pending'")
                .bind(tenant)
                .fetch_one(db)
                .await?;
        if pending == 0 || tokio::time::Instant::now() >= deadline {
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn audit(db: &PgPool, tenant: Uuid, initial: &HashMap<Uuid, i64>) -> anyhow::Result<Audit> {
    // Fresh statistics first: planned while the shop looked empty, the join
    // below becomes a nested loop over sequential scans (minutes at 100k orders).
    sqlx::query("ANALYZE products, outlet_stock, stock_movements, order_items, orders").execute(db).await?;
    let rows: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
        // Set-based: one pass over each table, however many products.
        "WITH moved AS (SELECT product_id, sum(delta) AS ledger FROM stock_movements WHERE tenant_id = $1 GROUP BY product_id),
              stock AS (SELECT product_id, sum(stock) AS stock FROM outlet_stock WHERE tenant_id = $1 GROUP BY product_id),
              sold AS (SELECT i.product_id, sum(i.quantity) AS units
                       FROM order_items i JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id
                       WHERE i.tenant_id = $1 AND o.status = 'committed' GROUP BY i.product_id)
         SELECT p.id, coalesce(k.stock, 0)::bigint, coalesce(m.ledger, 0)::bigint, coalesce(s.units, 0)::bigint
         FROM products p LEFT JOIN stock k ON k.product_id = p.id
         LEFT JOIN moved m ON m.product_id = p.id LEFT JOIN sold s ON s.product_id = p.id
         WHERE p.tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let mut audit = Audit { products: rows.len(), ..Audit::default() };
    for (id, stock, ledger, sold) in rows {
        if initial.get(&id).copied().unwrap_or(0) - sold != stock {
            audit.stock_mismatches.push(id);
        }
        if stock < 0 {
            audit.negative.push(id);
        }
        if ledger != stock {
            audit.ledger_mismatches.push(id);
        }
    }
    Ok(audit)
}

pub async fn summarise(
    db: &PgPool,
    tenant: Uuid,
    scenario: &str,
    tally: Tally,
    still_pending: i64,
    audit: Audit,
) -> anyhow::Result<Summary> {
    let (committed, span): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM max(committed_at) - min(received_at))::float8 FROM orders WHERE tenant_id = $1 AND status = 'committed'",
    )
    .bind(tenant)
    .fetch_one(db)
    .await?;
    let e2e: Vec<f64> = sqlx::query_scalar(
        "SELECT (extract(epoch FROM committed_at - received_at) * 1000)::float8 FROM orders WHERE tenant_id = $1 AND status = 'committed'",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let rejected: Vec<(String, i64)> = sqlx::query_as(
        "SELECT rejection_code, count(*) FROM orders WHERE tenant_id = $1 AND rejection_code IS NOT NULL GROUP BY 1",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let seconds = tally.elapsed.as_secs_f64().max(1e-9);
    let failed: u64 = tally.by_status.iter().filter(|(s, _)| !matches!(s, 200..=202)).map(|(_, n)| n).sum();
    Ok(Summary {
        scenario: scenario.to_owned(),
        seconds,
        requests: tally.sent,
        orders_sent: tally.orders_sent,
        accepted: tally.accepted,
        accepted_per_s: tally.accepted as f64 / seconds,
        committed,
        committed_per_s: span.filter(|s| *s > 0.0).map_or(0.0, |s| committed as f64 / s),
        rejected_by_code: rejected.into_iter().collect(),
        http_status: tally.by_status,
        ingest_latency_ms: Percentiles::of(tally.latencies_ms),
        end_to_end_ms: Percentiles::of(e2e),
        error_rate: failed as f64 / tally.sent.max(1) as f64,
        still_pending,
        audit,
    })
}

pub fn print(s: &Summary) {
    println!("scenario {}: {:.1} s, {} requests, {} orders sent", s.scenario, s.seconds, s.requests, s.orders_sent);
    println!("  accepted   {:>8} ({:.0}/s)", s.accepted, s.accepted_per_s);
    println!("  committed  {:>8} ({:.0}/s)", s.committed, s.committed_per_s);
    println!("  rejected   {:?}", s.rejected_by_code);
    println!("  http       {:?}  error rate {:.3} %", s.http_status, s.error_rate * 100.0);
    let i = &s.ingest_latency_ms;
    println!("  ingest     p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms", i.p50, i.p95, i.p99, i.max);
    let e = &s.end_to_end_ms;
    println!("  202→commit p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms", e.p50, e.p95, e.p99);
    let a = &s.audit;
    println!(
        "  stock audit over {} products: {} (stock mismatches {}, negative {}, ledger mismatches {}, still pending {})",
        a.products,
        if a.clean() && s.still_pending == 0 { "clean" } else { "FAILED" },
        a.stock_mismatches.len(),
        a.negative.len(),
        a.ledger_mismatches.len(),
        s.still_pending
    );
}
