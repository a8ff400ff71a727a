//! The batch's keys, gathered once from its messages, as the read
//! statements take them (parallel arrays for `unnest`).

use common::message::Message;
use uuid::Uuid;

/// The batch's keys, as the read statements take them.
#[derive(Default)]
pub struct Keys {
    pub(super) order_tenants: Vec<Uuid>,
    pub(super) client_ids: Vec<Uuid>,
    pub(super) cancel_tenants: Vec<Uuid>,
    pub(super) cancel_ids: Vec<Uuid>,
    /// Orders locked by id: cancelled and refunded ones.
    pub(super) lock_tenants: Vec<Uuid>,
    pub(super) lock_ids: Vec<Uuid>,
    pub(super) refund_tenants: Vec<Uuid>,
    pub(super) refund_ids: Vec<Uuid>,
    pub(super) refund_order_ids: Vec<Uuid>,
    /// Order lines: the product at the outlet the order names (none: the default).
    pub(super) product_tenants: Vec<Uuid>,
    pub(super) product_outlets: Vec<Option<Uuid>>,
    pub(super) product_ids: Vec<Uuid>,
    /// Refund lines: the product, back at the outlet of the order refunded.
    pub(super) returned_tenants: Vec<Uuid>,
    pub(super) returned_orders: Vec<Uuid>,
    pub(super) returned_products: Vec<Uuid>,
    pub(super) transfer_tenants: Vec<Uuid>,
    pub(super) transfer_ids: Vec<Uuid>,
}

impl Keys {
    pub(super) fn of(messages: &[&Message]) -> Self {
        let mut keys = Keys::default();
        for message in messages {
            match message {
                Message::Order(m) => {
                    keys.order_tenants.push(m.tenant_id.0);
                    keys.client_ids.push(m.order.client_order_id.0);
                    for line in &m.order.items {
                        keys.product_tenants.push(m.tenant_id.0);
                        keys.product_outlets.push(m.order.outlet_id);
                        keys.product_ids.push(line.product_id.0);
                    }
                }
                Message::Cancel(m) => {
                    keys.cancel_tenants.push(m.tenant_id.0);
                    keys.cancel_ids.push(m.order_id.0);
                }
                Message::Transfer(m) => {
                    keys.transfer_tenants.push(m.tenant_id.0);
                    keys.transfer_ids.push(m.transfer_id.0);
                    // The stock rows it takes from and gives to.
                    for line in &m.transfer.items {
                        for outlet in [m.transfer.from_outlet_id, m.transfer.to_outlet_id] {
                            keys.product_tenants.push(m.tenant_id.0);
                            keys.product_outlets.push(Some(outlet));
                            keys.product_ids.push(line.product_id.0);
                        }
                    }
                }
                Message::Refund(m) => {
                    keys.refund_tenants.push(m.tenant_id.0);
                    keys.refund_ids.push(m.refund_id.0);
                    keys.refund_order_ids.push(m.order_id.0);
                    for line in &m.refund.items {
                        keys.returned_tenants.push(m.tenant_id.0);
                        keys.returned_orders.push(m.order_id.0);
                        keys.returned_products.push(line.product_id.0);
                    }
                }
            }
        }
        keys.lock_tenants = [keys.cancel_tenants.as_slice(), &keys.refund_tenants].concat();
        keys.lock_ids = [keys.cancel_ids.as_slice(), &keys.refund_order_ids].concat();
        keys
    }
}
