//! The commit path's SQL, all of it. One transaction per batch, three round
//! trips after BEGIN: lock the batch's orders and read its products and
//! what pricing needs (`pricing_data`); write (one set-based statement per
//! table, pipelined, the stock last); COMMIT.
//!
//! Products are read without a lock and their stock is taken by the last
//! write, a guarded UPDATE that locks the rows in id order: a product row
//! is held only for that statement and the COMMIT, so batches that share
//! products (nearly all of them, with a few hundred lines each) do not
//! queue behind each other's whole transaction. When a decision depends on
//! how much stock there is (an order short of stock, an oversell) or the
//! guard finds less stock than was read, the batch is redone with its
//! product rows locked from the start, so such decisions are always made
//! on locked rows. `CHECK (stock >= 0)` refuses anything that would
//! oversell either way. The unique keys on payments, order items and stock
//! movements refuse a second effect for an order even if a bug let one
//! through.

use super::plan::{self, LockedOrder, LockedProduct, Plan, SoldLine};
use super::writes::Writes;
use crate::error::StoreError;
use common::ids::{OrderId, ProductId, TenantId};
use common::message::{Message, OrderMessage};
use common::money::Money;
use common::order::OrderStatus;
use deadpool_postgres::Transaction;
use futures::future::try_join_all;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// How a batch reads its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Products {
    /// Read; the final guarded UPDATE locks them.
    Read,
    /// Locked (`FOR NO KEY UPDATE`) from the first round trip.
    Locked,
}

/// Apply a batch: read, plan, write, commit. Returns what was decided.
pub async fn apply(client: &mut deadpool_postgres::Client, messages: &[&Message]) -> Result<Plan, StoreError> {
    apply_with_window(client, messages, std::future::ready(())).await
}

/// [`apply`], awaiting `window` between the unlocked read of the products
/// and the writes: the moment another transaction's stock change makes the
/// read stale. Tests put a concurrent writer there; [`apply`] puts nothing.
pub async fn apply_with_window(
    client: &mut deadpool_postgres::Client,
    messages: &[&Message],
    window: impl Future<Output = ()>,
) -> Result<Plan, StoreError> {
    match attempt(client, messages, Products::Read, window).await {
        Err(StoreError::StockMoved) => attempt(client, messages, Products::Locked, std::future::ready(())).await,
        other => other,
    }
}

async fn attempt(
    client: &mut deadpool_postgres::Client,
    messages: &[&Message],
    products: Products,
    window: impl Future<Output = ()>,
) -> Result<Plan, StoreError> {
    let tx = client.transaction().await?;
    // Row-level security: this transaction sees the batch's tenants only.
    let mut tenants: Vec<Uuid> = messages.iter().map(|m| m.tenant_id().0).collect();
    tenants.sort_unstable();
    tenants.dedup();
    tx.execute("SELECT set_config('app.tenant_ids', $1, true)", &[&common::db::tenant_list(&tenants)]).await?;
    let locking = std::time::Instant::now();
    let (mut locked, pricing) =
        futures::try_join!(lock(&tx, messages, products), super::pricing_data::load(&tx, messages))?;
    let mut lock_wait = locking.elapsed();
    let missing = missing_orders(messages, &locked.0);
    if !missing.is_empty() {
        // Rare: a message whose pending row is gone (a database restored
        // from an older backup, a hand-published message). The message is
        // self-contained, so the order is recreated from it.
        insert_orders(&tx, &missing).await?;
        locked = lock(&tx, messages, products).await?;
    }
    window.await;
    let mut plan = plan::plan(messages, &locked.0, &locked.1, &locked.2, &pricing);
    if products == Products::Read && plan.decided_on_stock_levels() {
        return Err(StoreError::StockMoved);
    }
    let writing = std::time::Instant::now();
    write(&tx, &plan.writes, products).await?;
    if products == Products::Read {
        // The stock rows are locked by the write round trip.
        lock_wait = writing.elapsed();
    }
    plan.lock_wait = lock_wait;
    tx.commit().await?;
    Ok(plan)
}

type Locked = (Vec<LockedOrder>, Vec<LockedProduct>, Vec<SoldLine>);

const LOCK_ORDERS: &str = "
SELECT o.id, o.tenant_id, o.client_order_id, o.status, encode(o.request_hash, 'hex')
FROM orders o
WHERE o.id IN (
    SELECT x.id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, client_order_id)
    JOIN orders x ON x.tenant_id = k.tenant_id AND x.client_order_id = k.client_order_id
    UNION
    SELECT x.id FROM unnest($3::uuid[], $4::uuid[]) AS c(tenant_id, id)
    JOIN orders x ON x.tenant_id = c.tenant_id AND x.id = c.id)
ORDER BY o.id
FOR UPDATE OF o";

// Which of the batch's orders have an open failed sync. A statement of its
// own, after LOCK_ORDERS: its snapshot is taken once the order rows are
// locked, so it sees a discard that committed while the batch waited for
// them (a subquery of LOCK_ORDERS would read the snapshot from before).
const OPEN_FAILED_SYNCS: &str = "
SELECT f.tenant_id, f.order_id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, client_order_id)
JOIN orders x ON x.tenant_id = k.tenant_id AND x.client_order_id = k.client_order_id
JOIN failed_syncs f ON f.tenant_id = x.tenant_id AND f.order_id = x.id
WHERE f.status = 'open'";

// The batch's products, and those its cancelled orders sold.
macro_rules! products_query {
    ($lock:literal) => {
        concat!(
            "SELECT p.tenant_id, p.id, p.price, p.stock, p.is_active
FROM products p
WHERE p.id IN (
    SELECT x.id FROM unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, id)
    JOIN products x ON x.tenant_id = k.tenant_id AND x.id = k.id
    UNION
    SELECT m.product_id FROM unnest($3::uuid[], $4::uuid[]) AS c(tenant_id, order_id)
    JOIN stock_movements m ON m.tenant_id = c.tenant_id AND m.order_id = c.order_id AND m.kind = 'sale')
ORDER BY p.id",
            $lock
        )
    };
}
const READ_PRODUCTS: &str = products_query!("");
// NO KEY UPDATE: only stock changes, so other batches' foreign-key checks
// on these rows (KEY SHARE) need not wait.
const LOCK_PRODUCTS: &str = products_query!("\nFOR NO KEY UPDATE OF p");

// DISTINCT: the same order cancelled twice in one batch must not double its lines.
const SOLD_LINES: &str = "
SELECT m.tenant_id, m.order_id, m.product_id, (-sum(m.delta))::bigint
FROM (SELECT DISTINCT * FROM unnest($1::uuid[], $2::uuid[])) AS c(tenant_id, order_id)
JOIN stock_movements m ON m.tenant_id = c.tenant_id AND m.order_id = c.order_id AND m.kind = 'sale'
GROUP BY 1, 2, 3";

async fn lock(tx: &Transaction<'_>, messages: &[&Message], mode: Products) -> Result<Locked, StoreError> {
    let (mut order_tenants, mut client_ids, mut cancel_tenants, mut cancel_ids) = (vec![], vec![], vec![], vec![]);
    let (mut product_tenants, mut product_ids) = (vec![], vec![]);
    for message in messages {
        match message {
            Message::Order(m) => {
                order_tenants.push(m.tenant_id.0);
                client_ids.push(m.order.client_order_id.0);
                for line in &m.order.items {
                    product_tenants.push(m.tenant_id.0);
                    product_ids.push(line.product_id.0);
                }
            }
            Message::Cancel(m) => {
                cancel_tenants.push(m.tenant_id.0);
                cancel_ids.push(m.order_id.0);
            }
        }
    }
    // Prepared first, so the pipelined queries below reach the server in
    // this order: orders, then products (the global lock order).
    let (lock_orders, open_syncs, lock_products, sold_lines) = (
        tx.prepare_cached(LOCK_ORDERS).await?,
        tx.prepare_cached(OPEN_FAILED_SYNCS).await?,
        tx.prepare_cached(if mode == Products::Locked { LOCK_PRODUCTS } else { READ_PRODUCTS }).await?,
        tx.prepare_cached(SOLD_LINES).await?,
    );
    let order_params: [&(dyn ToSql + Sync); 4] = [&order_tenants, &client_ids, &cancel_tenants, &cancel_ids];
    let open_params: [&(dyn ToSql + Sync); 2] = [&order_tenants, &client_ids];
    let product_params: [&(dyn ToSql + Sync); 4] = [&product_tenants, &product_ids, &cancel_tenants, &cancel_ids];
    let sold_params: [&(dyn ToSql + Sync); 2] = [&cancel_tenants, &cancel_ids];
    let (orders, open, products, sold) = futures::try_join!(
        tx.query(&lock_orders, &order_params),
        tx.query(&open_syncs, &open_params),
        tx.query(&lock_products, &product_params),
        tx.query(&sold_lines, &sold_params),
    )?;
    let open = open
        .iter()
        .map(|r| Ok((TenantId(r.try_get(0)?), OrderId(r.try_get(1)?))))
        .collect::<Result<HashSet<_>, StoreError>>()?;
    let orders = orders
        .iter()
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
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let products = products
        .iter()
        .map(|r| {
            Ok(LockedProduct {
                tenant_id: TenantId(r.try_get(0)?),
                id: ProductId(r.try_get(1)?),
                price: Money::from_rupiah(r.try_get(2)?),
                stock: r.try_get(3)?,
                is_active: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let sold = sold
        .iter()
        .map(|r| {
            Ok(SoldLine {
                tenant_id: TenantId(r.try_get(0)?),
                order_id: OrderId(r.try_get(1)?),
                product_id: ProductId(r.try_get(2)?),
                quantity: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok((orders, products, sold))
}

fn missing_orders<'a>(messages: &[&'a Message], locked: &[LockedOrder]) -> Vec<&'a OrderMessage> {
    let found: HashSet<(TenantId, Uuid)> = locked.iter().map(|o| (o.tenant_id, o.client_order_id)).collect();
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Order(o) if !found.contains(&(o.tenant_id, o.order.client_order_id.0)) => Some(o),
            _ => None,
        })
        .collect()
}

const INSERT_ORDERS: &str = "
INSERT INTO orders (id, tenant_id, client_order_id, source, request, request_hash, outlet_id, member_id,
                    device_id, sync_batch_id, created_at, received_at, request_id)
SELECT k.id, k.tenant_id, k.client_order_id, k.source, k.request, decode(k.request_hash, 'hex'), k.outlet_id,
       k.member_id, k.device_id, k.sync_batch_id, k.created_at, k.received_at, k.request_id
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::text[], $7::uuid[], $8::uuid[],
            $9::text[], $10::uuid[], $11::timestamptz[], $12::timestamptz[], $13::text[])
     AS k(id, tenant_id, client_order_id, source, request, request_hash, outlet_id, member_id,
          device_id, sync_batch_id, created_at, received_at, request_id)
ON CONFLICT (tenant_id, client_order_id) DO NOTHING";

pub async fn insert_orders(tx: &Transaction<'_>, orders: &[&OrderMessage]) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = orders.iter().map(|m| m.order_id.0).collect();
    let tenants: Vec<Uuid> = orders.iter().map(|m| m.tenant_id.0).collect();
    let client_ids: Vec<Uuid> = orders.iter().map(|m| m.order.client_order_id.0).collect();
    let sources: Vec<&str> = orders.iter().map(|m| m.source.as_str()).collect();
    let requests: Vec<serde_json::Value> =
        orders.iter().map(|m| serde_json::to_value(&m.order).unwrap_or_default()).collect();
    let hashes: Vec<&str> = orders.iter().map(|m| m.request_hash.as_str()).collect();
    let outlets: Vec<Option<Uuid>> = orders.iter().map(|m| m.order.outlet_id).collect();
    let members: Vec<Option<Uuid>> = orders.iter().map(|m| m.order.member_id).collect();
    let devices: Vec<Option<&str>> = orders.iter().map(|m| m.device_id.as_deref()).collect();
    let batches: Vec<Option<Uuid>> = orders.iter().map(|m| m.sync_batch_id.map(|b| b.0)).collect();
    let created: Vec<_> = orders.iter().map(|m| m.order.created_at).collect();
    let received: Vec<_> = orders.iter().map(|m| m.received_at).collect();
    let request_ids: Vec<Option<&str>> = orders.iter().map(|m| m.request_id.as_deref()).collect();
    let params: [&(dyn ToSql + Sync); 13] = [
        &ids,
        &tenants,
        &client_ids,
        &sources,
        &requests,
        &hashes,
        &outlets,
        &members,
        &devices,
        &batches,
        &created,
        &received,
        &request_ids,
    ];
    tx.execute(INSERT_ORDERS, &params).await?;
    Ok(())
}

/// Write everything the plan decided, one pipelined statement per table.
async fn write(tx: &Transaction<'_>, w: &Writes, products: Products) -> Result<(), StoreError> {
    if w.is_empty() {
        return Ok(());
    }
    let statements = super::sql::statements(w);
    let mut prepared = Vec::with_capacity(statements.len());
    for statement in &statements {
        prepared.push(tx.prepare_cached(statement.sql).await?);
    }
    let params: Vec<_> = statements.iter().map(|s| s.params()).collect();
    let counts = try_join_all(prepared.iter().zip(&params).map(|(p, params)| tx.execute(p, params))).await?;
    for (statement, count) in statements.iter().zip(counts) {
        if let Some(expected) = statement.expect_rows
            && count != expected
        {
            // Read without a lock, a product may have less stock by now than the plan saw.
            if statement.name == super::sql::STOCK_UPDATE && products == Products::Read {
                return Err(StoreError::StockMoved);
            }
            return Err(StoreError::Invariant(format!("{} changed {count} rows, expected {expected}", statement.name)));
        }
    }
    Ok(())
}
