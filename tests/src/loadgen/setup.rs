//! The load's own shop: a tenant made through the API, and a catalogue
//! seeded in bulk through SQL (10,000 products through the API would take
//! longer than the run), each with its opening stock in the ledger.

use super::scenario::Catalogue;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

pub struct Shop {
    pub tenant_id: Uuid,
    pub token: String,
    pub catalogue: Catalogue,
    /// Opening stock per product, for the audit.
    pub initial: HashMap<Uuid, i64>,
}

pub async fn shop(
    http: &reqwest::Client,
    base: &str,
    internal_key: &str,
    db: &PgPool,
    products: usize,
    stock: i64,
) -> anyhow::Result<Shop> {
    let slug = format!("load-{:08x}", rand::random::<u32>());
    let email = format!("owner@{slug}.test");
    let created = http
        .post(format!("{base}/api/admin/tenants"))
        .header("X-Internal-Api-Key", internal_key)
        .json(&json!({ "name": format!("Load {slug}"), "slug": slug, "owner": { "email": email, "password": "load-password-1", "name": "Load" } }))
        .send()
        .await
        .context("creating the load tenant")?;
    if created.status().as_u16() != 201 {
        bail!("creating the tenant answered {}: {}", created.status(), created.text().await.unwrap_or_default());
    }
    let created: Value = created.json().await?;
    let tenant_id = Uuid::parse_str(created["tenantId"].as_str().unwrap_or_default())?;
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "email": email, "password": "load-password-1" }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["accessToken"].as_str().context("no access token")?.to_owned();
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "WITH made AS (
            INSERT INTO products (id, tenant_id, sku, name, price)
            SELECT gen_random_uuid(), $1, 'L-' || g, 'Load product ' || g, 500 * (1 + g % 40)
            FROM generate_series(1, $2) g RETURNING id, price, created_at
         ), prices AS (
            INSERT INTO product_prices (tenant_id, product_id, effective_at, price) SELECT $1, id, created_at, price FROM made
         )
         SELECT id, price FROM made",
    )
    .bind(tenant_id)
    .bind(i32::try_from(products).unwrap_or(i32::MAX))
    .fetch_all(db)
    .await
    .context("seeding products (the load generator's database URL must be the tables' owner)")?;
    // The opening stock, at the default outlet (the products' stock rows
    // are made by the insert's trigger, so this is a statement of its own).
    sqlx::query(
        "WITH s AS (
            UPDATE outlet_stock SET stock = $2 WHERE tenant_id = $1 AND outlet_id = default_outlet_id($1) AND $2 > 0
            RETURNING tenant_id, outlet_id, product_id)
         INSERT INTO stock_movements (id, tenant_id, outlet_id, product_id, kind, delta, reason)
         SELECT gen_random_uuid(), tenant_id, outlet_id, product_id, 'adjustment', $2, 'initial' FROM s",
    )
    .bind(tenant_id)
    .bind(stock)
    .execute(db)
    .await
    .context("opening stock")?;
    let initial = rows.iter().map(|(id, _)| (*id, stock)).collect();
    Ok(Shop { tenant_id, token, catalogue: Catalogue { products: rows, outlets: Vec::new() }, initial })
}
