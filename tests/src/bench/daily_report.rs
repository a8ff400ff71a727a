//! The daily report on a big day (`scripts/bench --only-report N`): one
//! tenant-day of N committed orders (three items and one or two payments
//! each, a refund every 50th, a cancel every 100th), written straight into
//! PostgreSQL in statements of 10,000 orders, as worker batches would be
//! (through the summaries' triggers), then the report timed through the API:
//! the median of 7 calls. For comparison, the same figures read from the
//! rows (what the report did before the summaries), once, on fresh
//! statistics.

use crate::pipeline::{Options, Pipeline};
use std::time::{Duration, Instant};

const CHUNK: i64 = 10_000;

/// What the report read before the quarter-hour summaries: the day's
/// orders, their payments and their items, scanned.
const FROM_ROWS: &[&str] = &[
    "SELECT count(*), sum(subtotal), sum(total) FROM orders
     WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 AND status IN ('committed', 'cancelled')",
    "SELECT p.method, sum(p.amount - p.change) FROM orders o JOIN payments p ON p.tenant_id = $1 AND p.order_id = o.id
     WHERE o.tenant_id = $1 AND o.created_at >= $2 AND o.created_at < $3 AND o.status = 'committed' GROUP BY 1",
    "SELECT i.product_id, sum(i.quantity), sum(i.line_total) FROM orders o
     JOIN order_items i ON i.tenant_id = $1 AND i.order_id = o.id
     WHERE o.tenant_id = $1 AND o.created_at >= $2 AND o.created_at < $3 AND o.status = 'committed'
     GROUP BY 1 ORDER BY 3 DESC LIMIT 10",
];

pub async fn run(orders: i64) -> anyhow::Result<()> {
    let p = Pipeline::start_with(Options { in_process_workers: 0, ..Options::default() }).await;
    let shop = p.tenant().await;
    let products: Vec<uuid::Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(p.product(&shop, 10_000, 1_000_000).await);
        }
        ids
    };
    // Yesterday in the shop's zone (Asia/Jakarta, UTC+7).
    let day = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc() - chrono::Duration::hours(7)).unwrap_or_default();
    let end = start + chrono::Duration::days(1);
    eprintln!("daily report: writing {orders} orders into {day} …");
    let seeding = Instant::now();
    for first in (0..orders).step_by(CHUNK as usize) {
        seed_chunk(&p.db, shop.id, &products, start, first, CHUNK.min(orders - first), orders).await?;
        // Standing in for autovacuum's ANALYZE, which this machine's
        // PostgreSQL runs without: on statistics of an almost empty table
        // the summaries' triggers join order_items through a bitmap of the
        // whole tenant (16 s for 2,000 orders at 140,000).
        sqlx::query("ANALYZE orders, order_items, payments, refunds, refund_payments").execute(&p.db).await?;
    }
    eprintln!("  written in {:.0} s", seeding.elapsed().as_secs_f64());

    let scan = |label: &'static str| {
        let db = p.db.clone();
        async move {
            let started = Instant::now();
            for sql in FROM_ROWS {
                sqlx::query(sqlx::AssertSqlSafe(*sql)).bind(shop.id).bind(start).bind(end).fetch_all(&db).await?;
            }
            eprintln!("  the same figures scanned from the rows, {label}: {:.2} s", started.elapsed().as_secs_f64());
            anyhow::Ok(started.elapsed())
        }
    };
    sqlx::query("ANALYZE").execute(&p.db).await?;
    let scanned = scan("statistics fresh").await?;

    let path = format!("/api/reports/daily-sales?date={day}");
    let mut took = Vec::new();
    let mut body = serde_json::Value::Null;
    for _ in 0..7 {
        let started = Instant::now();
        let reply = p.get(&shop.token, &path).await;
        took.push(started.elapsed());
        anyhow::ensure!(reply.status == 200, "the report answered {}: {}", reply.status, reply.body);
        body = reply.body;
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "daily report, {} orders in one tenant-day ({} sold; made that day: {} cancels, {} paybacks, refunds and cancels): API median {:.0} ms \
         (min {:.0}, max {:.0}, 7 calls); the same figures scanned from the rows {:.2} s",
        orders,
        body["orders"],
        body["cancelled"]["orders"],
        body["refunds"]["count"],
        ms(took[3]),
        ms(took[0]),
        ms(took[6]),
        scanned.as_secs_f64()
    );
    p.stop().await;
    Ok(())
}

/// Orders `first..first + n` of the day: committed, a tenth paid in two
/// lines, every 100th cancelled, a refund of one unit every 50th.
async fn seed_chunk(
    db: &sqlx::PgPool,
    tenant: uuid::Uuid,
    products: &[uuid::Uuid],
    start: chrono::DateTime<chrono::Utc>,
    first: i64,
    n: i64,
    total: i64,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let spacing_us = 86_400_000_000 / total.max(1);
    sqlx::query(
        "CREATE TEMP TABLE seed ON COMMIT DROP AS
         SELECT g AS n, gen_random_uuid() AS id FROM generate_series($1::bigint, $1 + $2 - 1) g",
    )
    .bind(first)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    let statements = [
        "INSERT INTO orders (id, tenant_id, client_order_id, source, status, request, request_hash, created_at,
                             received_at, committed_at, subtotal, discount_total, service_charge, tax_base, tax,
                             total, rounding, payment_change)
         SELECT s.id, $1, gen_random_uuid(), 'offline', 'committed', '{}', '\\x00', $2 + s.n * ($3 * interval '1 microsecond'),
                now(), now(), 30000, 0, 0, 30000, 0, 30000, 0, 0
         FROM seed s",
        "INSERT INTO order_items (tenant_id, order_id, line_no, product_id, quantity, price, line_total)
         SELECT $1, s.id, l, ($4::uuid[])[1 + (s.n * 3 + l) % array_length($4::uuid[], 1)], 1, 10000, 10000
         FROM seed s, generate_series(0, 2) l",
        "INSERT INTO payments (id, tenant_id, order_id, line_no, method, amount, change)
         SELECT gen_random_uuid(), $1, s.id, l, CASE WHEN l = 1 THEN 'qris' WHEN s.n % 3 = 0 THEN 'card' ELSE 'cash' END,
                CASE WHEN s.n % 10 = 0 THEN 15000 ELSE 30000 END, 0
         FROM seed s, generate_series(0, 1) l WHERE l = 0 OR s.n % 10 = 0",
        "WITH r AS (
           INSERT INTO refunds (id, tenant_id, order_id, client_refund_id, status, request, request_hash, amount,
                                created_at, committed_at)
           SELECT gen_random_uuid(), $1, s.id, gen_random_uuid(), 'committed', '{}', '\\x00', 10000,
                  $2 + s.n * ($3 * interval '1 microsecond') + interval '1 minute', now()
           FROM seed s WHERE s.n % 50 = 7 RETURNING id, amount)
         INSERT INTO refund_payments (tenant_id, refund_id, line_no, method, amount) SELECT $1, id, 0, 'cash', amount FROM r",
        "UPDATE orders o SET status = 'cancelled', cancelled_at = now() FROM seed s
         WHERE o.tenant_id = $1 AND o.id = s.id AND s.n % 100 = 3",
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(start)
            .bind(spacing_us as f64)
            .bind(products)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
