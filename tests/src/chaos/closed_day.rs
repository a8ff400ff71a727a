//! A day that is over, for the check that closed days never change (issue
//! 22 #5). Before the faults a till syncs sales dated yesterday (cash with
//! change, QRIS, card, split) and the day's report is kept. During the run
//! the back office refunds and cancels some of them; those are dated today,
//! so at the end yesterday's report must read exactly as it was kept.

use crate::loadgen::{Catalogue, Plan, Target};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Sales synced for the closed day.
const SALES: usize = 24;
/// The load's first products are its hot, scarce ones: the closed day
/// sells from the others, so none of its sales fails for stock.
const HOT: usize = 5;

#[derive(Debug, Default)]
pub struct ClosedDay {
    pub date: String,
    pub kept: Value,
}

/// Yesterday in the shop's timezone, and its noon.
const YESTERDAY: &str = "
SELECT ((now() AT TIME ZONE timezone)::date - 1)::text,
       (((now() AT TIME ZONE timezone)::date - 1) + time '12:00') AT TIME ZONE timezone
FROM tenants WHERE id = $1";

pub async fn close(target: &Target, db: &PgPool, tenant: Uuid, catalogue: &Catalogue) -> anyhow::Result<ClosedDay> {
    let (date, noon): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(YESTERDAY).bind(tenant).fetch_one(db).await?;
    let products = catalogue.products.get(HOT..).filter(|p| !p.is_empty()).unwrap_or(&catalogue.products);
    let sales: Vec<Value> = (0..SALES).map(|i| sale(products, i, noon + chrono::Duration::minutes(i as i64))).collect();
    let ids: Vec<Uuid> = sales.iter().filter_map(|s| s["clientOrderId"].as_str()?.parse().ok()).collect();
    let plan =
        Plan { persistent: true, self_timeout_share: 0.0, duration: Duration::from_secs(120), ..Plan::default() };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    let body = json!({ "deviceId": "chaos-closed-day", "orders": sales });
    let status =
        crate::loadgen::drive::send(target, "/api/sync/orders", &body, &plan, &mut rng, &mut Default::default()).await;
    anyhow::ensure!(status == 202, "syncing the closed day's sales: HTTP {status}");
    crate::checks::eventually("the closed day's sales to commit", Duration::from_secs(120), || async {
        let committed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE tenant_id = $1 AND client_order_id = ANY($2) AND status = 'committed'",
        )
        .bind(tenant)
        .bind(&ids)
        .fetch_one(db)
        .await
        .ok()?;
        (committed == SALES as i64).then_some(())
    })
    .await;
    let kept = report(target, &date).await?;
    Ok(ClosedDay { date, kept })
}

/// The closed day's report now, when it differs from the one kept.
pub async fn changed(target: &Target, day: &ClosedDay) -> anyhow::Result<Option<Value>> {
    let now = report(target, &day.date).await?;
    Ok((now != day.kept).then_some(now))
}

async fn report(target: &Target, date: &str) -> anyhow::Result<Value> {
    let url = format!("{}/api/reports/daily-sales?date={date}", target.base);
    Ok(target.http.get(url).bearer_auth(&target.token).send().await?.error_for_status()?.json().await?)
}

/// The i-th sale: one to three lines, paid in turn by cash with change,
/// QRIS, card, and QRIS with the rest in cash.
fn sale(products: &[(Uuid, i64)], i: usize, at: chrono::DateTime<chrono::Utc>) -> Value {
    let lines: Vec<Value> = (0..1 + i % 3)
        .map(|k| {
            let (id, price) = products[(i * 7 + k * 3) % products.len()];
            json!({ "productId": id, "quantity": 1 + (i + k) % 2, "price": price })
        })
        .collect();
    let total: i64 = lines.iter().map(|l| l["quantity"].as_i64().unwrap_or(0) * l["price"].as_i64().unwrap_or(0)).sum();
    let mut order = json!({ "clientOrderId": Uuid::now_v7(), "items": lines, "createdAt": at.to_rfc3339() });
    match i % 4 {
        0 => order["payment"] = json!({ "method": "cash", "amount": total + 2_000 }),
        1 => order["payment"] = json!({ "method": "qris", "amount": total }),
        2 => order["payment"] = json!({ "method": "card", "amount": total }),
        _ => {
            order["payments"] = json!([{ "method": "qris", "amount": total / 2 }, { "method": "cash", "amount": total - total / 2 + 500 }])
        }
    }
    order
}
