//! Deciding a cancel: a committed order gives back what it still has sold
//! (what its refunds brought back is not given back again); anything else
//! is skipped. It goes back to the outlet that sold it.

use super::state::{Effect, State};
use crate::commit::write::rows::{CancelRow, MovementKind};
use common::message::CancelMessage;
use common::order::OrderStatus;

impl State<'_> {
    pub(super) fn cancel(&mut self, m: &CancelMessage) -> Effect {
        let key = self.order_keys.get(&(m.tenant_id, m.order_id)).copied();
        let Some(row) = key.and_then(|k| self.orders.get_mut(&k)) else {
            return Effect::Skipped { order_id: m.order_id, reason: "no such order" };
        };
        if row.status != OrderStatus::Committed {
            return Effect::Skipped { order_id: m.order_id, reason: "not committed" };
        }
        row.status = OrderStatus::Cancelled;
        let outlet_id = row.outlet_id;
        let lines = self.sold.get(&(m.tenant_id, m.order_id)).cloned().unwrap_or_default();
        let w = &mut self.plan.writes;
        // What refunds already brought back is not given back again.
        for (product_id, quantity) in lines.into_iter().filter(|&(_, q)| q > 0) {
            if let Some(product) = self.products.get_mut(&(m.tenant_id, outlet_id, product_id)) {
                product.stock += quantity;
            }
            w.move_stock((m.tenant_id, outlet_id, product_id), MovementKind::Cancel, quantity, m.order_id);
        }
        w.cancels.push(CancelRow { tenant_id: m.tenant_id, order_id: m.order_id, reason: m.reason.clone() });
        Effect::Cancelled { order_id: m.order_id }
    }
}
