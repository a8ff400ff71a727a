//! Decide: a batch, in memory, with its rows already read and its orders
//! locked. For each message in delivery order: is an order applied,
//! rejected or failed (`order`), an order cancelled (`cancel`), a refund
//! applied or failed (`refund`), a stock transfer moved or failed
//! (`transfer`), or is the message skipped or deferred; and
//! what rows does that write (`write::rows`). Pure: no I/O.
//!
//! Stock is taken from the in-memory copy of the read rows, so orders in
//! one batch compete for stock exactly as they would one transaction each;
//! each order takes from its outlet's stock, and gives back to it.

mod cancel;
mod order;
mod refund;
mod state;
mod transfer;

pub use state::{Effect, Plan};

use super::locked::{LockedOrder, LockedProduct, LockedTransfer, RefundData, SoldLine};
use super::read::pricing::PricingData;
use common::message::Message;
use state::State;
use std::collections::HashMap;

/// Decide `messages` on the rows read for them.
pub fn plan(
    messages: &[&Message],
    orders: &[LockedOrder],
    products: &[LockedProduct],
    sold: &[SoldLine],
    pricing: &PricingData,
    refunds: &RefundData,
    transfers: &[LockedTransfer],
) -> Plan {
    let mut state = State {
        refunds: refunds.refunds.iter().map(|r| ((r.tenant_id, r.id), r.clone())).collect(),
        refundable: refunds.sold.clone(),
        transfers: transfers.iter().map(|t| ((t.tenant_id, t.id), t.clone())).collect(),
        read_stock: products.iter().map(|p| (p.key(), p.stock)).collect(),
        orders: orders.iter().map(|o| ((o.tenant_id, o.client_order_id), o.clone())).collect(),
        order_keys: orders.iter().map(|o| ((o.tenant_id, o.id), (o.tenant_id, o.client_order_id))).collect(),
        products: products.iter().map(|p| (p.key(), p.clone())).collect(),
        sold: HashMap::new(),
        pricing,
        plan: Plan::default(),
    };
    for line in sold {
        // Keyed by product: a line read twice must not count twice.
        state.sold.entry((line.tenant_id, line.order_id)).or_default().insert(line.product_id, line.quantity);
    }
    for message in messages {
        let effect = match message {
            Message::Order(m) => state.order(m),
            Message::Cancel(m) => state.cancel(m),
            Message::Refund(m) => state.refund(m),
            Message::Transfer(m) => state.transfer(m),
        };
        state.plan.effects.push(effect);
    }
    state.plan
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod transfer_tests;
