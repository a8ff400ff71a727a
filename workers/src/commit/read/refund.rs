//! What a batch's refunds read, in the same pipelined round trip as the
//! order locks and after them: the refund rows (and whether each has an
//! open failed sync), and for each refunded order what it sold and what
//! its committed refunds took (the statements ingest's refund quote reads
//! too: `common::pricing::refund_rows`). Refunds of an order commit with its row
//! locked, so with that lock held these figures cannot move.

use super::keys::Keys;
use crate::commit::locked::{LockedRefund, RefundData, RefundStatus, Sold};
use crate::error::StoreError;
use common::ids::{OrderId, ProductId, RefundId, TenantId};
use common::money::Money;
use common::pricing::refund::left_after;
use common::pricing::refund_charges::Charged;
use common::pricing::refund_rows::{SOLD_LINES, SOLD_MONEY, by_method, given_back};
use deadpool_postgres::Transaction;
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

const REFUNDS: &str = "
SELECT r.tenant_id, r.id, r.status, encode(r.request_hash, 'hex'),
       EXISTS (SELECT 1 FROM failed_syncs f WHERE f.tenant_id = r.tenant_id AND f.refund_id = r.id AND f.status = 'open')
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS k(tenant_id, id)
JOIN refunds r ON r.tenant_id = k.tenant_id AND r.id = k.id";

/// The refund statements, prepared before the batch's queries are sent so
/// that they reach the server after the order locks. None: no refunds.
pub(super) struct Statements(Option<[Statement; 3]>);

impl Statements {
    pub async fn prepare(tx: &Transaction<'_>, k: &Keys) -> Result<Self, StoreError> {
        if k.refund_ids.is_empty() {
            return Ok(Self(None));
        }
        let (a, b, c) = (
            tx.prepare_cached(REFUNDS).await?,
            tx.prepare_cached(SOLD_LINES).await?,
            tx.prepare_cached(SOLD_MONEY).await?,
        );
        Ok(Self(Some([a, b, c])))
    }

    pub async fn query(&self, tx: &Transaction<'_>, k: &Keys) -> Result<RefundData, StoreError> {
        let Some([refunds, lines, money]) = &self.0 else { return Ok(RefundData::default()) };
        let refund_params: [&(dyn ToSql + Sync); 2] = [&k.refund_tenants, &k.refund_ids];
        let order_params: [&(dyn ToSql + Sync); 2] = [&k.refund_tenants, &k.refund_order_ids];
        let (refunds, lines, money) = futures::try_join!(
            tx.query(refunds, &refund_params),
            tx.query(lines, &order_params),
            tx.query(money, &order_params),
        )?;
        Ok(RefundData { refunds: locked_refunds(&refunds)?, sold: sold(&lines, &money)? })
    }
}

fn locked_refunds(rows: &[Row]) -> Result<Vec<LockedRefund>, StoreError> {
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(2)?;
            Ok(LockedRefund {
                tenant_id: TenantId(r.try_get(0)?),
                id: RefundId(r.try_get(1)?),
                status: RefundStatus::parse(&status)
                    .ok_or_else(|| StoreError::Invariant(format!("unknown refund status {status}")))?,
                request_hash: r.try_get(3)?,
                failed_sync_open: r.try_get(4)?,
            })
        })
        .collect()
}

fn rupiah(value: Option<i64>) -> Money {
    Money::from_rupiah(value.unwrap_or(0))
}

fn sold(lines: &[Row], money: &[Row]) -> Result<std::collections::HashMap<(TenantId, OrderId), Sold>, StoreError> {
    let mut sold = std::collections::HashMap::new();
    for r in money {
        let key = (TenantId(r.try_get(0)?), OrderId(r.try_get(1)?));
        let (paid, refunded): (Option<serde_json::Value>, Option<serde_json::Value>) = (r.try_get(5)?, r.try_get(6)?);
        let order = Sold {
            subtotal: Money::from_rupiah(r.try_get::<_, Option<i64>>(2)?.unwrap_or(0)),
            total: Money::from_rupiah(r.try_get::<_, Option<i64>>(3)?.unwrap_or(0)),
            lines: BTreeMap::new(),
            refunded_units: BTreeMap::new(),
            refunded: Money::from_rupiah(r.try_get(4)?),
            left: left_after(&by_method(paid), &by_method(refunded)),
            cash_for_noncash: r.try_get(7)?,
            charged: Charged {
                discounts: rupiah(r.try_get(8)?),
                service_charge: rupiah(r.try_get(9)?),
                tax_base: rupiah(r.try_get(10)?),
                tax: rupiah(r.try_get(11)?),
            },
            charged_back: given_back(&r.try_get::<_, Vec<i64>>(12)?),
        };
        sold.insert(key, order);
    }
    for r in lines {
        let key = (TenantId(r.try_get(0)?), OrderId(r.try_get(1)?));
        let Some(order) = sold.get_mut(&key) else { continue };
        let product = ProductId(r.try_get(2)?);
        order.lines.insert(product, (r.try_get(3)?, r.try_get(4)?));
        let refunded: i64 = r.try_get(5)?;
        if refunded > 0 {
            order.refunded_units.insert(product, refunded);
        }
    }
    Ok(sold)
}
