//! What a batch reads before it decides, in one pipelined round trip: its
//! orders locked (`FOR UPDATE`, in id order), whether each has an open
//! failed sync (read after the lock), its products (read, or locked when
//! the batch is redone on locked rows), what its cancelled orders still
//! have sold, and what its refunds' orders sold and refunded. Stock is read
//! per outlet (`outlet_stock`)
//! (`refund`, read after the order lock so no refund is missed).

pub mod keys;
pub mod pricing;
pub mod recreate;
mod recreate_transfer;
pub mod refund;
pub mod transfer;

use super::locked::{LockedOrder, LockedProduct, LockedTransfer, RefundData, SoldLine};
use crate::error::StoreError;
use common::ids::{OrderId, OutletId, ProductId, TenantId};
use common::message::Message;
use common::money::Money;
use common::order::OrderStatus;
use deadpool_postgres::Transaction;
use futures::TryFutureExt;
use keys::Keys;
use std::collections::HashSet;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// How a batch reads its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Products {
    /// Read; the final guarded UPDATE locks them.
    Read,
    /// Locked (`FOR NO KEY UPDATE`) from the first round trip.
    Locked,
}

pub type Locked = (Vec<LockedOrder>, Vec<LockedProduct>, Vec<SoldLine>, RefundData, Vec<LockedTransfer>);

// An order's outlet, for its stock: where its sale took it from, once it
// did (an order sold at another outlet before stock per outlet took the
// shop's one stock, now the default outlet's); else the outlet it names.
macro_rules! stock_outlet {
    ($o:literal) => {
        concat!(
            "coalesce(CASE WHEN ",
            $o,
            ".status <> 'pending' THEN
                (SELECT m.outlet_id FROM stock_movements m
                 WHERE m.tenant_id = ",
            $o,
            ".tenant_id AND m.order_id = ",
            $o,
            ".id AND m.kind = 'sale' LIMIT 1) END,
             ",
            $o,
            ".outlet_id, default_outlet_id(",
            $o,
            ".tenant_id))"
        )
    };
}

const LOCK_ORDERS: &str = concat!(
    "
SELECT o.id, o.tenant_id, o.client_order_id, o.status, encode(o.request_hash, 'hex'), ",
    stock_outlet!("o"),
    "
FROM orders o
WHERE o.id IN (
    SELECT x.id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, client_order_id)
    JOIN orders x ON x.tenant_id = k.tenant_id AND x.client_order_id = k.client_order_id
    UNION
    SELECT x.id FROM unnest($3::uuid[], $4::uuid[]) AS c(tenant_id, id)
    JOIN orders x ON x.tenant_id = c.tenant_id AND x.id = c.id)
ORDER BY o.id
FOR UPDATE OF o"
);

// Which of the batch's orders have an open failed sync. A statement of its
// own, after LOCK_ORDERS: its snapshot is taken once the order rows are
// locked, so it sees a discard that committed while the batch waited for
// them (a subquery of LOCK_ORDERS would read the snapshot from before).
// The orders' own failed syncs (not their refunds'), for orders named by
// client id (orders, replays) and by id (a refund waits while its order's
// failed sync is open).
const OPEN_FAILED_SYNCS: &str = "
SELECT f.tenant_id, f.order_id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, client_order_id)
JOIN orders x ON x.tenant_id = k.tenant_id AND x.client_order_id = k.client_order_id
JOIN failed_syncs f ON f.tenant_id = x.tenant_id AND f.order_id = x.id
WHERE f.status = 'open' AND f.refund_id IS NULL
UNION
SELECT f.tenant_id, f.order_id FROM unnest($3::uuid[], $4::uuid[]) AS c(tenant_id, id)
JOIN failed_syncs f ON f.tenant_id = c.tenant_id AND f.order_id = c.id
WHERE f.status = 'open' AND f.refund_id IS NULL";

// The batch's products with their stock at the outlet each is sold at or
// given back to: an order's lines at its outlet (none named: the default),
// a refund's at its order's, and what its cancelled orders sold where they
// sold it. Ordered by (product, outlet): the global lock order of stock rows.
macro_rules! products_query {
    ($lock:literal) => {
        concat!(
            "SELECT s.tenant_id, s.outlet_id, p.id, p.price, s.stock, p.is_active
FROM (
    SELECT k.tenant_id, coalesce(k.outlet_id, default_outlet_id(k.tenant_id)) AS outlet_id, k.product_id
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS k(tenant_id, outlet_id, product_id)
    UNION
    SELECT o.tenant_id, ",
            stock_outlet!("o"),
            ", r.product_id
    FROM unnest($4::uuid[], $5::uuid[], $6::uuid[]) AS r(tenant_id, order_id, product_id)
    JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
    UNION
    SELECT m.tenant_id, m.outlet_id, m.product_id FROM unnest($7::uuid[], $8::uuid[]) AS c(tenant_id, order_id)
    JOIN stock_movements m ON m.tenant_id = c.tenant_id AND m.order_id = c.order_id AND m.kind = 'sale') k
JOIN outlet_stock s ON s.tenant_id = k.tenant_id AND s.outlet_id = k.outlet_id AND s.product_id = k.product_id
JOIN products p ON p.tenant_id = k.tenant_id AND p.id = k.product_id
ORDER BY s.product_id, s.outlet_id",
            $lock
        )
    };
}
const READ_PRODUCTS: &str = products_query!("");
// NO KEY UPDATE: only stock changes, so other transactions' foreign-key
// checks on these rows (KEY SHARE) need not wait.
const LOCK_PRODUCTS: &str = products_query!("\nFOR NO KEY UPDATE OF s");

// What a cancel gives back: sold less returned by refunds. DISTINCT: the
// same order cancelled twice in one batch must not double its lines.
const SOLD_LINES: &str = "
SELECT m.tenant_id, m.order_id, m.product_id, (-sum(m.delta))::bigint
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS c(tenant_id, order_id)
JOIN stock_movements m ON m.tenant_id = c.tenant_id AND m.order_id = c.order_id AND m.kind IN ('sale', 'return')
GROUP BY 1, 2, 3";

/// Lock the batch's orders, then read (or lock) its products, in one round trip.
pub(super) async fn lock(tx: &Transaction<'_>, messages: &[&Message], mode: Products) -> Result<Locked, StoreError> {
    let k = Keys::of(messages);
    // Prepared first, so the pipelined queries below reach the server in
    // this order: orders, transfers, then stock rows (the global lock order).
    let (lock_orders, open_syncs, lock_transfers, lock_products, sold_lines) = (
        tx.prepare_cached(LOCK_ORDERS).await?,
        tx.prepare_cached(OPEN_FAILED_SYNCS).await?,
        transfer::prepare(tx, &k).await?,
        tx.prepare_cached(if mode == Products::Locked { LOCK_PRODUCTS } else { READ_PRODUCTS }).await?,
        tx.prepare_cached(SOLD_LINES).await?,
    );
    let order_params: [&(dyn ToSql + Sync); 4] = [&k.order_tenants, &k.client_ids, &k.lock_tenants, &k.lock_ids];
    let open_params: [&(dyn ToSql + Sync); 4] = [&k.order_tenants, &k.client_ids, &k.lock_tenants, &k.lock_ids];
    let product_params: [&(dyn ToSql + Sync); 8] = [
        &k.product_tenants,
        &k.product_outlets,
        &k.product_ids,
        &k.returned_tenants,
        &k.returned_orders,
        &k.returned_products,
        &k.cancel_tenants,
        &k.cancel_ids,
    ];
    let sold_params: [&(dyn ToSql + Sync); 2] = [&k.cancel_tenants, &k.cancel_ids];
    let refunds = refund::Statements::prepare(tx, &k).await?;
    let (orders, open, transfers, products, sold, refunds) = futures::try_join!(
        tx.query(&lock_orders, &order_params).err_into::<StoreError>(),
        tx.query(&open_syncs, &open_params).err_into(),
        transfer::query(tx, lock_transfers.as_ref(), &k),
        tx.query(&lock_products, &product_params).err_into(),
        tx.query(&sold_lines, &sold_params).err_into(),
        refunds.query(tx, &k),
    )?;
    Ok((locked_orders(&orders, &open)?, locked_products(&products)?, sold_lines_of(&sold)?, refunds, transfers))
}

fn locked_orders(rows: &[Row], open: &[Row]) -> Result<Vec<LockedOrder>, StoreError> {
    let open = open
        .iter()
        .map(|r| Ok((TenantId(r.try_get(0)?), OrderId(r.try_get(1)?))))
        .collect::<Result<HashSet<_>, StoreError>>()?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(3)?;
            let (id, tenant_id) = (OrderId(r.try_get(0)?), TenantId(r.try_get(1)?));
            Ok(LockedOrder {
                id,
                tenant_id,
                client_order_id: r.try_get(2)?,
                status: OrderStatus::parse(&status)
                    .ok_or_else(|| StoreError::Invariant(format!("unknown status {status}")))?,
                request_hash: r.try_get(4)?,
                failed_sync_open: open.contains(&(tenant_id, id)),
                outlet_id: OutletId(r.try_get(5)?),
            })
        })
        .collect()
}

fn locked_products(rows: &[Row]) -> Result<Vec<LockedProduct>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(LockedProduct {
                tenant_id: TenantId(r.try_get(0)?),
                outlet_id: OutletId(r.try_get(1)?),
                id: ProductId(r.try_get(2)?),
                price: Money::from_rupiah(r.try_get(3)?),
                stock: r.try_get(4)?,
                is_active: r.try_get(5)?,
            })
        })
        .collect()
}

fn sold_lines_of(rows: &[Row]) -> Result<Vec<SoldLine>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(SoldLine {
                tenant_id: TenantId(r.try_get(0)?),
                order_id: OrderId(r.try_get(1)?),
                product_id: ProductId(r.try_get(2)?),
                quantity: r.try_get(3)?,
            })
        })
        .collect()
}
