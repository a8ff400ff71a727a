//! The commit path's SQL, all of it. One transaction per batch, three round
//! trips after BEGIN: lock the batch's orders and read its products and
//! what pricing needs (`pricing_data`); write (one set-based statement per
//! table, pipelined, the stock and receipt counters last); COMMIT.
//!
//! Products are read without a lock and their stock is taken by a late
//! write, a guarded UPDATE that locks the rows in id order: a product row
//! is held only from that statement (followed by the receipt counters) to
//! the COMMIT, so batches that share
//! products (nearly all of them, with a few hundred lines each) do not
//! queue behind each other's whole transaction. When a decision depends on
//! how much stock there is (an order short of stock, an oversell) or the
//! guard finds less stock than was read, the batch is redone with its
//! product rows locked from the start, so such decisions are always made
//! on locked rows. `CHECK (stock >= 0)` refuses anything that would
//! oversell either way. The unique keys on payments, order items and stock
//! movements refuse a second effect for an order even if a bug let one
//! through.

use super::plan::{self, LockedOrder, Plan};
use super::read;
use super::writes::Writes;
use crate::error::StoreError;
use common::ids::TenantId;
use common::message::{Message, OrderMessage};
use deadpool_postgres::Transaction;
use futures::future::try_join_all;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// How a batch reads its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Products {
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
        futures::try_join!(read::lock(&tx, messages, products), super::pricing_data::load(&tx, messages))?;
    let mut lock_wait = locking.elapsed();
    let missing = missing_orders(messages, &locked.0);
    if !missing.is_empty() {
        // Rare: a message whose pending row is gone (a database restored
        // from an older backup, a hand-published message). The message is
        // self-contained, so the order is recreated from it. Logged per
        // order: after a failover this is an acknowledged order the database
        // lost (asynchronous replication), recovered from the queue.
        for order in &missing {
            let (tenant_id, order_id, client_order_id) = (order.tenant_id, order.order_id, order.order.client_order_id);
            tracing::warn!(%tenant_id, %order_id, %client_order_id, "order row missing: recreated from its message");
        }
        crate::metrics::orders_recreated(missing.len());
        insert_orders(&tx, &missing).await?;
        locked = read::lock(&tx, messages, products).await?;
    }
    window.await;
    let mut plan = plan::plan(messages, &locked.0, &locked.1, &locked.2, &pricing, &locked.3);
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
