//! The Z-report of a cash shift: its sales by payment method net of change,
//! refunds by method, discounts, service charge, tax and rounding, pay-ins
//! and pay-outs, and the cash the drawer should hold (float + cash sales
//! net of change − cash refunds + pay-ins − pay-outs), counted and over or
//! short. At close the figures are kept; what is attached to the shift
//! afterwards (a sale synced late, a refund of one of its sales) is the
//! difference between the figures now and those kept, shown apart as late
//! additions, so the closed report itself never changes.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What the shift's orders, refunds and cash movements add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub orders: i64,
    pub gross_sales: i64,
    pub discounts: i64,
    pub service_charge: i64,
    pub tax: i64,
    pub rounding: i64,
    pub net_sales: i64,
    /// Paid by method, net of change.
    pub sales_by_method: BTreeMap<String, i64>,
    pub refunds: i64,
    pub refunds_by_method: BTreeMap<String, i64>,
    pub pay_ins: i64,
    pub pay_outs: i64,
}

impl Figures {
    /// Cash in the drawer from these figures, before the float.
    pub fn cash_net(&self) -> i64 {
        let cash = |m: &BTreeMap<String, i64>| m.get("cash").copied().unwrap_or(0);
        cash(&self.sales_by_method)
            .saturating_sub(cash(&self.refunds_by_method))
            .saturating_add(self.pay_ins)
            .saturating_sub(self.pay_outs)
    }

    /// `self − kept`, field by field: what was added since `kept`.
    pub fn since(&self, kept: &Figures) -> Figures {
        let minus = |now: &BTreeMap<String, i64>, then: &BTreeMap<String, i64>| {
            let mut out = now.clone();
            for (method, amount) in then {
                let left = out.entry(method.clone()).or_default();
                *left = left.saturating_sub(*amount);
            }
            out.retain(|_, v| *v != 0);
            out
        };
        Figures {
            orders: self.orders.saturating_sub(kept.orders),
            gross_sales: self.gross_sales.saturating_sub(kept.gross_sales),
            discounts: self.discounts.saturating_sub(kept.discounts),
            service_charge: self.service_charge.saturating_sub(kept.service_charge),
            tax: self.tax.saturating_sub(kept.tax),
            rounding: self.rounding.saturating_sub(kept.rounding),
            net_sales: self.net_sales.saturating_sub(kept.net_sales),
            sales_by_method: minus(&self.sales_by_method, &kept.sales_by_method),
            refunds: self.refunds.saturating_sub(kept.refunds),
            refunds_by_method: minus(&self.refunds_by_method, &kept.refunds_by_method),
            pay_ins: self.pay_ins.saturating_sub(kept.pay_ins),
            pay_outs: self.pay_outs.saturating_sub(kept.pay_outs),
        }
    }
}

// A cancelled sale still took its money (its payback is a refund of kind
// `cancel`), so it counts with the committed ones.
const FIGURES: &str = "
WITH o AS (SELECT * FROM orders WHERE tenant_id = $1 AND shift_id = $2 AND status IN ('committed', 'cancelled')),
     r AS (SELECT * FROM refunds WHERE tenant_id = $1 AND shift_id = $2 AND status = 'committed')
SELECT (SELECT count(*) FROM o),
       (SELECT coalesce(sum(subtotal), 0)::bigint FROM o),
       (SELECT coalesce(sum(discount_total), 0)::bigint FROM o),
       (SELECT coalesce(sum(service_charge), 0)::bigint FROM o),
       (SELECT coalesce(sum(tax), 0)::bigint FROM o),
       (SELECT coalesce(sum(rounding), 0)::bigint FROM o),
       (SELECT coalesce(sum(total), 0)::bigint FROM o),
       (SELECT coalesce(jsonb_object_agg(method, net), '{}') FROM
          (SELECT p.method, sum(p.amount - p.change) AS net FROM payments p
           JOIN o ON p.tenant_id = o.tenant_id AND p.order_id = o.id GROUP BY 1) x),
       (SELECT count(*) FROM r),
       (SELECT coalesce(jsonb_object_agg(method, back), '{}') FROM
          (SELECT rp.method, sum(rp.amount) AS back FROM refund_payments rp
           JOIN r ON rp.tenant_id = r.tenant_id AND rp.refund_id = r.id GROUP BY 1) y),
       (SELECT coalesce(sum(amount) FILTER (WHERE kind = 'pay_in'), 0)::bigint
        FROM cash_movements WHERE tenant_id = $1 AND shift_id = $2),
       (SELECT coalesce(sum(amount) FILTER (WHERE kind = 'pay_out'), 0)::bigint
        FROM cash_movements WHERE tenant_id = $1 AND shift_id = $2)";

type Row = (
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    sqlx::types::Json<BTreeMap<String, i64>>,
    i64,
    sqlx::types::Json<BTreeMap<String, i64>>,
    i64,
    i64,
);

/// The shift's figures as the database has them now.
pub async fn figures(db: &mut PgConnection, tenant: Uuid, shift: Uuid) -> sqlx::Result<Figures> {
    let row: Row = sqlx::query_as(FIGURES).bind(tenant).bind(shift).fetch_one(db).await?;
    Ok(Figures {
        orders: row.0,
        gross_sales: row.1,
        discounts: row.2,
        service_charge: row.3,
        tax: row.4,
        rounding: row.5,
        net_sales: row.6,
        sales_by_method: row.7.0,
        refunds: row.8,
        refunds_by_method: row.9.0,
        pay_ins: row.10,
        pay_outs: row.11,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_additions_are_what_came_after_the_kept_figures() {
        let methods = |pairs: &[(&str, i64)]| pairs.iter().map(|(m, a)| ((*m).to_owned(), *a)).collect();
        let kept = Figures {
            orders: 2,
            net_sales: 30_000,
            sales_by_method: methods(&[("cash", 10_000), ("qris", 20_000)]),
            ..Figures::default()
        };
        let now = Figures {
            orders: 3,
            net_sales: 45_000,
            sales_by_method: methods(&[("cash", 25_000), ("qris", 20_000)]),
            refunds: 1,
            refunds_by_method: methods(&[("cash", 5_000)]),
            ..Figures::default()
        };
        let late = now.since(&kept);
        assert_eq!((late.orders, late.net_sales, late.refunds), (1, 15_000, 1));
        assert_eq!(late.sales_by_method, methods(&[("cash", 15_000)]), "no qris came late");
        assert_eq!(late.cash_net(), 10_000);
    }
}
