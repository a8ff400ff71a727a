//! Cash shifts during the fault run: the back office keeps a shift open for
//! the load's cashier at each outlet (the load's orders fall in it), records
//! pay-ins and pay-outs, and now and then closes one with a count a little
//! over or short and opens the next. The checker reads every closed shift's
//! Z-report through the API and recomputes its cash from the rows: the
//! expected cash at close plus what came late must be the float plus every
//! cash row of the shift now, and over/short must be counted − expected.

use crate::loadgen::Target;
use rand::RngExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// One back-office step on the shift at `outlet`: open one if none is,
/// else a pay-in or pay-out, or a close (the next step opens the next).
pub async fn step(target: &Target, db: &PgPool, tenant: Uuid, outlet: Uuid, rng: &mut impl rand::Rng) -> u64 {
    let open: Option<Uuid> = sqlx::query_scalar(
        "SELECT s.id FROM cash_shifts s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.cashier_id
         WHERE s.tenant_id = $1 AND s.outlet_id = $2 AND s.status = 'open' AND u.role = 'owner'",
    )
    .bind(tenant)
    .bind(outlet)
    .fetch_optional(db)
    .await
    .ok()
    .flatten();
    let Some(shift) = open else {
        let body = json!({ "outletId": outlet, "openingFloat": rng.random_range(1..50) * 10_000 });
        super::backoffice::post(target, "/api/shifts", body).await;
        return 1;
    };
    if rng.random_bool(0.6) {
        let kind = if rng.random_bool(0.5) { "pay_in" } else { "pay_out" };
        let body = json!({ "kind": kind, "amount": rng.random_range(1..20) * 1_000, "reason": "chaos: kas kecil" });
        super::backoffice::post(target, &format!("/api/shifts/{shift}/cash-movements"), body).await;
        return 1;
    }
    let Some(report) = get(target, &format!("/api/shifts/{shift}")).await else { return 0 };
    let expected = report["cashExpected"].as_i64().unwrap_or(0);
    let counted = (expected + rng.random_range(-5..=5) * 1_000).max(0);
    super::backoffice::post(target, &format!("/api/shifts/{shift}/close"), json!({ "countedCash": counted })).await;
    1
}

async fn get(target: &Target, path: &str) -> Option<Value> {
    let response = target.http.get(format!("{}{path}", target.base)).bearer_auth(&target.token).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

// Every cash row of a shift now: sales net of change (a cancelled sale
// still took its money; its payback is a refund), refunds, pay-ins, pay-outs.
const CASH_ROWS: &str = "
SELECT s.id, (s.opening_float
       + coalesce((SELECT sum(p.amount - p.change) FROM orders o
                   JOIN payments p ON p.tenant_id = o.tenant_id AND p.order_id = o.id
                   WHERE o.tenant_id = s.tenant_id AND o.shift_id = s.id AND o.status IN ('committed', 'cancelled')
                     AND p.method = 'cash'), 0)
       - coalesce((SELECT sum(rp.amount) FROM refunds r
                   JOIN refund_payments rp ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id
                   WHERE r.tenant_id = s.tenant_id AND r.shift_id = s.id AND r.status = 'committed'
                     AND rp.method = 'cash'), 0)
       + coalesce((SELECT sum(CASE m.kind WHEN 'pay_in' THEN m.amount ELSE -m.amount END) FROM cash_movements m
                   WHERE m.tenant_id = s.tenant_id AND m.shift_id = s.id), 0))::bigint
FROM cash_shifts s WHERE s.tenant_id = $1 AND s.status = 'closed' ORDER BY s.opened_at";

/// What the checker found in the closed shifts.
#[derive(Debug, Default)]
pub struct Findings {
    pub closed: usize,
    /// Closed shifts with something attached after their close.
    pub with_late_additions: usize,
    /// Closed shifts whose report disagrees with their rows.
    pub mismatches: Vec<String>,
}

pub async fn check(target: &Target, db: &PgPool, tenant: Uuid) -> anyhow::Result<Findings> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(CASH_ROWS).bind(tenant).fetch_all(db).await?;
    let mut findings = Findings { closed: rows.len(), ..Findings::default() };
    for (shift, cash_now) in rows {
        let report = get(target, &format!("/api/shifts/{shift}"))
            .await
            .ok_or_else(|| anyhow::anyhow!("shift {shift}: the Z-report did not answer"))?;
        let field = |name: &str| report[name].as_i64().unwrap_or(i64::MIN);
        let late = report["lateAdditions"]["cash"].as_i64().unwrap_or(0);
        if report["lateAdditions"]["sales"]["orders"].as_i64().unwrap_or(0) != 0
            || report["lateAdditions"]["refunds"]["count"].as_i64().unwrap_or(0) != 0
        {
            findings.with_late_additions += 1;
        }
        let (expected, counted, over_short) = (field("cashExpected"), field("countedCash"), field("overShort"));
        if expected + late != cash_now || over_short != counted - expected {
            findings.mismatches.push(format!(
                "shift {shift}: expected {expected} + late {late} ≠ cash rows {cash_now}, or over/short {over_short} ≠ {counted} − {expected}"
            ));
        }
    }
    Ok(findings)
}
