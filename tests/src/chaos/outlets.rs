//! Outlets during the fault run: the load's shop opens a second outlet, the
//! terminals sell half their orders there (the rest name none: the default
//! outlet), and the checker counts orders not at the outlet they were sold
//! at: the one their request named, else the shop's default one.

use crate::loadgen::Target;
use serde_json::json;
use sqlx::PgPool;
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
    let body: serde_json::Value = made.json().await?;
    Ok(body["id"].as_str().unwrap_or_default().parse()?)
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
