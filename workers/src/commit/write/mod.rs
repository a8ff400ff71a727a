//! Write: the rows a batch decided, one set-based statement per table
//! (`rows` gathers them; `statement` is one), pipelined in one round trip:
//! per message kind (`order`, `cancel`, `refund`, `transfer`) and the stock they move
//! (`stock`). The order of the statements is the lock order.

pub mod cancel;
pub mod order;
pub mod refund;
pub mod rows;
pub mod statement;
pub mod stock;
pub mod transfer;

use super::read::Products;
use crate::error::StoreError;
use deadpool_postgres::Transaction;
use futures::future::try_join_all;
use rows::Writes;
use statement::Statement;

/// The statements for `w`, in the order they must run (the stock and the
/// receipt counters last, so their row locks are held only until the
/// COMMIT); empty ones omitted.
pub fn statements(w: &Writes) -> Vec<Statement> {
    let head = [
        stock::movements(w),
        order::rejections(w),
        order::items(w),
        order::payments(w),
        order::failed_syncs(w),
        order::resolved(w),
        transfer::transfers(w),
    ];
    // Row locks are taken orders, products, receipt counters, in that
    // order whichever way the batch reads its products (a batch redone on
    // locked products holds them from its first round trip): the stock
    // late and the counters after it, both held to the COMMIT. A cancel
    // comes after the commit of an order it may cancel.
    let tail = [stock::update(w), order::commits(w), cancel::cancels(w)];
    head.into_iter().flatten().chain(refund::statements(w)).chain(tail.into_iter().flatten()).collect()
}

/// Write everything the plan decided, one pipelined statement per table.
pub async fn write(tx: &Transaction<'_>, w: &Writes, products: Products) -> Result<(), StoreError> {
    if w.is_empty() {
        return Ok(());
    }
    let statements = statements(w);
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
            if statement.name == stock::STOCK_UPDATE && products == Products::Read {
                return Err(StoreError::StockMoved);
            }
            return Err(StoreError::Invariant(format!("{} changed {count} rows, expected {expected}", statement.name)));
        }
    }
    Ok(())
}
