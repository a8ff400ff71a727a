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

use super::plan::{self, Plan};
use super::read;
use super::recreate;
use super::writes::Writes;
use crate::error::StoreError;
use common::message::Message;
use deadpool_postgres::Transaction;
use futures::future::try_join_all;
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
    if recreate::missing_rows(&tx, messages, &locked).await? {
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
