//! The direct-SQL limit: pgbench running the per-order transaction a worker
//! performs (order, items, payment, guarded stock decrements, ledger rows),
//! one order per transaction, as the services' role under row-level
//! security, over 1 to 16 clients.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

const PRODUCTS: i64 = 9_999;

/// Three distinct products per order, in ascending id order (uniform over
/// `PRODUCTS`, or three of the five hot ones).
fn script(hot: bool) -> String {
    let picks = if hot {
        // Ascending, as the workers lock them: a wrapped-around order deadlocks.
        "\\set p1 random(1, 3)\n\\set p2 :p1 + 1\n\\set p3 :p1 + 2\n"
    } else {
        "\\set p1 random(1, 3333)\n\\set p2 :p1 + 3333\n\\set p3 :p1 + 6666\n"
    };
    let id = |p: &str| format!("('00000000-0000-4000-8000-' || lpad(:{p}::text, 12, '0'))::uuid");
    let decrement = |p: &str| {
        format!(
            "UPDATE outlet_stock SET stock = stock - 1 WHERE tenant_id = :tenant AND outlet_id = default_outlet_id(:tenant) AND product_id = {} AND stock >= 1;\n",
            id(p)
        )
    };
    format!(
        "{picks}BEGIN;
SELECT set_config('app.tenant_ids', :tenants, true);
INSERT INTO orders (id, tenant_id, client_order_id, source, status, request, request_hash, created_at, received_at, subtotal, discount_total, total, discounts, payment_change, committed_at) VALUES (gen_random_uuid(), :tenant, gen_random_uuid(), 'online', 'committed', '{{}}', '\\x00', now(), now(), 3000, 0, 3000, '[]', 0, now()) RETURNING id AS oid \\gset
{d1}{d2}{d3}INSERT INTO order_items (tenant_id, order_id, line_no, product_id, quantity, price, line_total) VALUES (:tenant, :oid, 0, {i1}, 1, 1000, 1000), (:tenant, :oid, 1, {i2}, 1, 1000, 1000), (:tenant, :oid, 2, {i3}, 1, 1000, 1000);
INSERT INTO payments (id, tenant_id, order_id, method, amount, change) VALUES (gen_random_uuid(), :tenant, :oid, 'cash', 3000, 0);
INSERT INTO stock_movements (id, tenant_id, outlet_id, product_id, kind, delta, order_id) VALUES (gen_random_uuid(), :tenant, default_outlet_id(:tenant), {i1}, 'sale', -1, :oid), (gen_random_uuid(), :tenant, default_outlet_id(:tenant), {i2}, 'sale', -1, :oid), (gen_random_uuid(), :tenant, default_outlet_id(:tenant), {i3}, 'sale', -1, :oid);
COMMIT;
",
        d1 = decrement("p1"),
        d2 = decrement("p2"),
        d3 = decrement("p3"),
        i1 = id("p1"),
        i2 = id("p2"),
        i3 = id("p3"),
    )
}

/// A tenant with deterministic product ids for pgbench to address.
pub async fn seed(admin: &PgPool) -> anyhow::Result<Uuid> {
    let tenant = Uuid::now_v7();
    sqlx::query("INSERT INTO tenants (id, name, slug) VALUES ($1, 'pgbench', $2)")
        .bind(tenant)
        .bind(format!("pgbench-{}", tenant.simple()))
        .execute(admin)
        .await?;
    sqlx::query(
        "INSERT INTO products (id, tenant_id, sku, name, price)
         SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, $1, 'PB-' || g, 'pgbench ' || g, 1000
         FROM generate_series(1, $2) g",
    )
    .bind(tenant)
    .bind(PRODUCTS)
    .execute(admin)
    .await?;
    sqlx::query("UPDATE outlet_stock SET stock = 100000000 WHERE tenant_id = $1").bind(tenant).execute(admin).await?;
    sqlx::query("ANALYZE").execute(admin).await?;
    Ok(tenant)
}

/// Best transactions per second over `clients`, and each client count's figure.
pub async fn run(
    url: &str,
    tenant: Uuid,
    hot: bool,
    clients: &[u32],
    seconds: u32,
) -> anyhow::Result<(f64, Vec<(u32, f64)>)> {
    let file = std::env::temp_dir().join(format!("warungin-pgbench-{}.sql", Uuid::now_v7()));
    std::fs::write(&file, script(hot))?;
    let mut figures = Vec::new();
    for &c in clients {
        let output = tokio::process::Command::new("pgbench")
            .args([
                "-n",
                "-M",
                "prepared",
                "-T",
                &seconds.to_string(),
                "-c",
                &c.to_string(),
                "-j",
                &c.min(2).to_string(),
            ])
            .args(["-D", &format!("tenant={tenant}"), "-D", &format!("tenants={{{tenant}}}"), "-f"])
            .arg(&file)
            .arg(url)
            .output()
            .await
            .context("running pgbench (Debian package postgresql-contrib or postgresql-client)")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("pgbench output: {text}{}", String::from_utf8_lossy(&output.stderr)))?;
        figures.push((c, tps));
    }
    let _ = std::fs::remove_file(&file);
    let best = figures.iter().map(|(_, t)| *t).fold(0.0, f64::max);
    Ok((best, figures))
}
