//! Outlets during the fault run: the load's shop opens a second outlet and
//! stocks it with half of every product by a transfer, the terminals sell
//! half their orders there (the rest name none: the default outlet), and
//! the back office moves stock between the two. The checker counts orders
//! not at the outlet they were sold at, and transfers whose movements are
//! not exactly theirs (a committed one: one `transfer_out` at its source and
//! one `transfer_in` at its destination per product; any other: none).

use crate::loadgen::Target;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Open the run's second outlet.
pub async fn open(target: &Target) -> anyhow::Result<Uuid> {
    let made = target
        .http
        .post(format!("{}/api/outlets", target.base))
        .bearer_auth(&target.token)
        .json(&json!({ "name": "Lapak chaos", "address": "Jl. Gangguan 1" }))
        .send()
        .await?;
    anyhow::ensure!(made.status().as_u16() == 201, "opening an outlet answered {}", made.status());
    let body: Value = made.json().await?;
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
}

/// Move half of every product's stock at the default outlet to `stall`, in
/// transfers of up to 100 products, and wait until each is committed.
pub async fn stock(target: &Target, db: &PgPool, tenant: Uuid, stall: Uuid) -> anyhow::Result<()> {
    let halves: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT product_id, stock / 2 FROM outlet_stock
         WHERE tenant_id = $1 AND outlet_id = default_outlet_id($1) AND stock >= 2 ORDER BY product_id",
    )
    .bind(tenant)
    .fetch_all(db)
    .await?;
    let default: Uuid = sqlx::query_scalar("SELECT default_outlet_id($1)").bind(tenant).fetch_one(db).await?;
    for chunk in halves.chunks(100) {
        let items: Vec<Value> = chunk.iter().map(|(p, q)| json!({ "productId": p, "quantity": q })).collect();
        let body = json!({ "clientTransferId": Uuid::now_v7(), "fromOutletId": default, "toOutletId": stall,
                           "items": items, "note": "chaos: stocking the stall" });
        let sent = target.http.post(format!("{}/api/stock-transfers", target.base)).bearer_auth(&target.token);
        let sent = sent.json(&body).send().await?;
        anyhow::ensure!(sent.status().as_u16() == 202, "stocking the stall answered {}", sent.status());
        let id: Uuid = sent.json::<Value>().await?["transferId"].as_str().unwrap_or_default().parse()?;
        committed(db, id).await?;
    }
    Ok(())
}

async fn committed(db: &PgPool, transfer: Uuid) -> anyhow::Result<()> {
    for _ in 0..300 {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM stock_transfers WHERE id = $1")
            .bind(transfer)
            .fetch_optional(db)
            .await?;
        match status.as_deref() {
            Some("committed") => return Ok(()),
            Some("failed") => anyhow::bail!("stocking the stall failed (transfer {transfer})"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    anyhow::bail!("stocking the stall did not commit within 30 s (transfer {transfer})")
}

/// Orders whose outlet is not the one they were sold at (the request as
/// stored names it, or names none and the default outlet takes it).
/// Also how many orders are at an outlet other than the default one.
const MISPLACED: &str = "
SELECT count(*) FILTER (WHERE o.outlet_id IS DISTINCT FROM
                               coalesce((o.request->>'outletId')::uuid, default_outlet_id(o.tenant_id))),
       count(*) FILTER (WHERE o.outlet_id <> default_outlet_id(o.tenant_id))
FROM orders o WHERE o.tenant_id = $1";

/// (orders misplaced, orders at another outlet than the default one).
pub async fn misplaced(db: &PgPool, tenant: Uuid) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(MISPLACED).bind(tenant).fetch_one(db).await?)
}

// A transfer's movements as they must be, against those in the ledger,
// both ways: the transfers where the two differ.
const TRANSFER_MISMATCHES: &str = "
WITH expected AS (
    SELECT t.id, i.product_id, t.from_outlet_id AS outlet_id, 'transfer_out' AS kind, -i.quantity::bigint AS delta
    FROM stock_transfers t JOIN stock_transfer_items i ON i.tenant_id = t.tenant_id AND i.transfer_id = t.id
    WHERE t.tenant_id = $1 AND t.status = 'committed'
    UNION ALL
    SELECT t.id, i.product_id, t.to_outlet_id, 'transfer_in', i.quantity::bigint
    FROM stock_transfers t JOIN stock_transfer_items i ON i.tenant_id = t.tenant_id AND i.transfer_id = t.id
    WHERE t.tenant_id = $1 AND t.status = 'committed'),
actual AS (
    SELECT transfer_id, product_id, outlet_id, kind, delta FROM stock_movements
    WHERE tenant_id = $1 AND transfer_id IS NOT NULL)
SELECT count(DISTINCT d.id),
       (SELECT count(*) FROM stock_transfers WHERE tenant_id = $1 AND status = 'committed'),
       (SELECT count(*) FROM stock_transfers WHERE tenant_id = $1 AND status = 'failed')
FROM ((SELECT * FROM expected EXCEPT ALL SELECT * FROM actual)
      UNION ALL (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected)) d";

/// (transfers whose movements are not theirs, committed, failed).
pub async fn transfers(db: &PgPool, tenant: Uuid) -> anyhow::Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(TRANSFER_MISMATCHES).bind(tenant).fetch_one(db).await?)
}
