//! One batch, one transaction: read (lock the batch's orders, read its
//! products and what pricing needs), decide (in memory), write (one
//! set-based statement per table, pipelined, the stock and receipt counters
//! last), COMMIT: three round trips after BEGIN.
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

use super::decide::{self, Plan};
use super::read::{self, Products, recreate};
use super::write;
use crate::error::StoreError;
use common::message::Message;
use uuid::Uuid;

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
        futures::try_join!(read::lock(&tx, messages, products), read::pricing::load(&tx, messages))?;
    let mut lock_wait = locking.elapsed();
    if recreate::missing_rows(&tx, messages, &locked).await? {
        locked = read::lock(&tx, messages, products).await?;
    }
    window.await;
    let mut plan = decide::plan(messages, &locked.0, &locked.1, &locked.2, &pricing, &locked.3, &locked.4);
    if products == Products::Read && plan.decided_on_stock_levels() {
        return Err(StoreError::StockMoved);
    }
    let writing = std::time::Instant::now();
    write::write(&tx, &plan.writes, products).await?;
    if products == Products::Read {
        // The stock rows are locked by the write round trip.
        lock_wait = writing.elapsed();
    }
    plan.lock_wait = lock_wait;
    tx.commit().await?;
    Ok(plan)
}
