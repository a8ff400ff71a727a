//! Deciding a batch, in memory, with the rows already locked: for each
//! message in delivery order, is the order applied, rejected, failed,
//! cancelled or skipped, and what rows does that write. Pure: no I/O.
//!
//! Checks run in the contract's order (the first failure decides): products
//! exist and are active, prices, pricing (`negative_total`), stock, payment.
//! Stock is taken from the in-memory copy of the locked rows, so orders in
//! one batch compete for stock exactly as they would one transaction each.

use super::writes::{
    CancelRow, CommitRow, FailedSyncRow, ItemRow, MovementKind, PaymentRow, RejectRow, ResolvedRow,
    Writes,
};
use common::ids::{OrderId, ProductId, TenantId};
use common::message::{CancelMessage, Message, OrderMessage, Replay};
use common::money::Money;
use common::order::{OrderStatus, PaymentMethod, RejectionCode, Source, ValidatedOrder};
use common::pricing::{PricedOrder, PricingError, PricingInput, price_order};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// An order row as locked by this batch.
#[derive(Clone, Debug)]
pub struct LockedOrder {
    pub id: OrderId,
    pub tenant_id: TenantId,
    pub client_order_id: Uuid,
    pub status: OrderStatus,
    pub request_hash: String,
}

/// A product row as locked by this batch.
#[derive(Clone, Debug)]
pub struct LockedProduct {
    pub tenant_id: TenantId,
    pub id: ProductId,
    pub price: Money,
    pub stock: i64,
    pub is_active: bool,
}

/// What a committed order took from one product (for cancelling it).
#[derive(Clone, Debug)]
pub struct SoldLine {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub quantity: i64,
}

/// What happened to one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Committed {
        order_id: OrderId,
        total: Money,
    },
    /// An online order that could not be applied: the cashier is told.
    Rejected {
        order_id: OrderId,
        code: RejectionCode,
    },
    /// Could not be applied and kept as a failed sync for review.
    Failed {
        order_id: OrderId,
        code: RejectionCode,
    },
    Cancelled {
        order_id: OrderId,
    },
    /// Nothing to do: a duplicate delivery, a stale message, an order not in a state to change.
    Skipped {
        order_id: OrderId,
        reason: &'static str,
    },
}

#[derive(Debug, Default)]
pub struct Plan {
    pub effects: Vec<Effect>,
    pub writes: Writes,
}

struct Rejection {
    code: RejectionCode,
    message: String,
}

struct Accepted {
    priced: PricedOrder,
    change: Money,
    /// (product, quantity, oversold shortfall)
    takes: Vec<(ProductId, i64, i64)>,
}

pub fn plan(
    messages: &[&Message],
    orders: &[LockedOrder],
    products: &[LockedProduct],
    sold: &[SoldLine],
) -> Plan {
    let mut state = State {
        orders: orders
            .iter()
            .map(|o| ((o.tenant_id, o.client_order_id), o.clone()))
            .collect(),
        order_keys: orders
            .iter()
            .map(|o| ((o.tenant_id, o.id), (o.tenant_id, o.client_order_id)))
            .collect(),
        products: products
            .iter()
            .map(|p| ((p.tenant_id, p.id), p.clone()))
            .collect(),
        sold: HashMap::new(),
        plan: Plan::default(),
    };
    for line in sold {
        // Keyed by product: a line read twice must not count twice.
        state
            .sold
            .entry((line.tenant_id, line.order_id))
            .or_default()
            .insert(line.product_id, line.quantity);
    }
    for message in messages {
        let effect = match message {
            Message::Order(m) => state.order(m),
            Message::Cancel(m) => state.cancel(m),
        };
        state.plan.effects.push(effect);
    }
    state.plan
}

struct State {
    orders: HashMap<(TenantId, Uuid), LockedOrder>,
    order_keys: HashMap<(TenantId, OrderId), (TenantId, Uuid)>,
    products: HashMap<(TenantId, ProductId), LockedProduct>,
    sold: HashMap<(TenantId, OrderId), BTreeMap<ProductId, i64>>,
    plan: Plan,
}

impl State {
    fn order(&mut self, m: &OrderMessage) -> Effect {
        let key = (m.tenant_id, m.order.client_order_id.0);
        let Some(row) = self.orders.get(&key).cloned() else {
            return Effect::Skipped {
                order_id: m.order_id,
                reason: "order row missing",
            };
        };
        let order_id = row.id;
        if row.request_hash != m.request_hash {
            return Effect::Skipped {
                order_id,
                reason: "stale message: request differs from the stored order",
            };
        }
        let applicable = match row.status {
            OrderStatus::Pending => true,
            OrderStatus::Failed => m.replay.is_some(),
            _ => false,
        };
        if !applicable {
            return Effect::Skipped {
                order_id,
                reason: "already applied",
            };
        }
        match evaluate(&m.order, m.tenant_id, &self.products, m.replay.as_ref()) {
            Ok(accepted) => self.commit(m, row, accepted),
            Err(rejection) => self.reject(m, row, rejection),
        }
    }

    fn commit(&mut self, m: &OrderMessage, row: LockedOrder, accepted: Accepted) -> Effect {
        let (tenant_id, order_id) = (m.tenant_id, row.id);
        let w = &mut self.plan.writes;
        for &(product_id, quantity, shortfall) in &accepted.takes {
            if let Some(product) = self.products.get_mut(&(tenant_id, product_id)) {
                product.stock += shortfall - quantity;
            }
            w.move_stock(
                tenant_id,
                product_id,
                MovementKind::Sale,
                -quantity,
                order_id,
            );
            if shortfall > 0 {
                w.move_stock(
                    tenant_id,
                    product_id,
                    MovementKind::Oversold,
                    shortfall,
                    order_id,
                );
            }
        }
        for (line_no, (line, total)) in m
            .order
            .items
            .iter()
            .zip(&accepted.priced.line_totals)
            .enumerate()
        {
            w.items.push(ItemRow {
                tenant_id,
                order_id,
                line_no: i16::try_from(line_no).unwrap_or(i16::MAX),
                product_id: line.product_id,
                quantity: i32::try_from(line.quantity).unwrap_or(i32::MAX),
                price: line.price.rupiah(),
                line_total: total.rupiah(),
            });
        }
        let payment = &m.order.payment;
        w.payments.push(PaymentRow {
            tenant_id,
            order_id,
            method: payment.method.as_str(),
            amount: payment.amount.rupiah(),
            change: accepted.change.rupiah(),
            reference: payment.reference.clone(),
        });
        let priced = &accepted.priced;
        w.commits.push(CommitRow {
            tenant_id,
            order_id,
            subtotal: priced.subtotal.rupiah(),
            discount_total: priced.discount_total.rupiah(),
            total: priced.total.rupiah(),
            discounts: serde_json::to_value(&priced.discounts).unwrap_or_default(),
            change: accepted.change.rupiah(),
            message_id: m.message_id.0,
        });
        if row.status == OrderStatus::Failed {
            let by = m.replay.as_ref().map(|r| r.by.clone()).unwrap_or_default();
            w.resolved.push(ResolvedRow {
                tenant_id,
                order_id,
                by,
            });
        }
        self.set_status(m, OrderStatus::Committed);
        Effect::Committed {
            order_id,
            total: priced.total,
        }
    }

    fn reject(&mut self, m: &OrderMessage, row: LockedOrder, rejection: Rejection) -> Effect {
        let order_id = row.id;
        let keep_for_review = m.source == Source::Offline || row.status == OrderStatus::Failed;
        let status = if keep_for_review {
            OrderStatus::Failed
        } else {
            OrderStatus::Rejected
        };
        let w = &mut self.plan.writes;
        w.rejections.push(RejectRow {
            tenant_id: m.tenant_id,
            order_id,
            status,
            code: rejection.code.as_str(),
            message: rejection.message.clone(),
            message_id: m.message_id.0,
        });
        if keep_for_review {
            w.failed_syncs.push(FailedSyncRow {
                tenant_id: m.tenant_id,
                order_id,
                client_order_id: m.order.client_order_id.0,
                device_id: m.device_id.clone(),
                code: rejection.code.as_str(),
                message: rejection.message,
                request: serde_json::to_value(&m.order).unwrap_or_default(),
                by: m
                    .replay
                    .as_ref()
                    .map_or_else(|| "worker".to_owned(), |r| r.by.clone()),
            });
        }
        self.set_status(m, status);
        if keep_for_review {
            Effect::Failed {
                order_id,
                code: rejection.code,
            }
        } else {
            Effect::Rejected {
                order_id,
                code: rejection.code,
            }
        }
    }

    fn set_status(&mut self, m: &OrderMessage, status: OrderStatus) {
        if let Some(row) = self
            .orders
            .get_mut(&(m.tenant_id, m.order.client_order_id.0))
        {
            row.status = status;
        }
    }

    fn cancel(&mut self, m: &CancelMessage) -> Effect {
        let key = self.order_keys.get(&(m.tenant_id, m.order_id)).copied();
        let Some(row) = key.and_then(|k| self.orders.get_mut(&k)) else {
            return Effect::Skipped {
                order_id: m.order_id,
                reason: "no such order",
            };
        };
        if row.status != OrderStatus::Committed {
            return Effect::Skipped {
                order_id: m.order_id,
                reason: "not committed",
            };
        }
        row.status = OrderStatus::Cancelled;
        let lines = self
            .sold
            .get(&(m.tenant_id, m.order_id))
            .cloned()
            .unwrap_or_default();
        let w = &mut self.plan.writes;
        for (product_id, quantity) in lines {
            if let Some(product) = self.products.get_mut(&(m.tenant_id, product_id)) {
                product.stock += quantity;
            }
            w.move_stock(
                m.tenant_id,
                product_id,
                MovementKind::Cancel,
                quantity,
                m.order_id,
            );
        }
        w.cancels.push(CancelRow {
            tenant_id: m.tenant_id,
            order_id: m.order_id,
            reason: m.reason.clone(),
        });
        Effect::Cancelled {
            order_id: m.order_id,
        }
    }
}

fn evaluate(
    order: &ValidatedOrder,
    tenant_id: TenantId,
    products: &HashMap<(TenantId, ProductId), LockedProduct>,
    replay: Option<&Replay>,
) -> Result<Accepted, Rejection> {
    let reject = |code, message: String| Err(Rejection { code, message });
    for (i, line) in order.items.iter().enumerate() {
        match products.get(&(tenant_id, line.product_id)) {
            None => {
                return reject(
                    RejectionCode::UnknownProduct,
                    format!("items[{i}]: product {} does not exist", line.product_id),
                );
            }
            Some(p) if !p.is_active => {
                return reject(
                    RejectionCode::InactiveProduct,
                    format!("items[{i}]: product {} is not active", line.product_id),
                );
            }
            Some(_) => {}
        }
    }
    let accept_client_prices = replay.is_some_and(|r| r.accept_client_prices);
    for (i, line) in order.items.iter().enumerate() {
        let current = products
            .get(&(tenant_id, line.product_id))
            .map(|p| p.price)
            .unwrap_or_default();
        if line.price != current && !accept_client_prices {
            return reject(
                RejectionCode::PriceMismatch,
                format!(
                    "items[{i}]: price {} differs from the product's price {}",
                    line.price.rupiah(),
                    current.rupiah()
                ),
            );
        }
    }
    let priced = match price_order(&PricingInput {
        lines: &order.items,
        manual_discount: order.discount,
    }) {
        Ok(priced) => priced,
        Err(e @ PricingError::NegativeTotal { .. }) => {
            return reject(RejectionCode::NegativeTotal, e.to_string());
        }
        Err(e @ PricingError::Overflow) => return reject(RejectionCode::Malformed, e.to_string()),
    };
    let allow_oversell = replay.is_some_and(|r| r.allow_oversell);
    let mut takes = Vec::new();
    for (product_id, quantity) in order.quantities_by_product() {
        let available = products
            .get(&(tenant_id, product_id))
            .map_or(0, |p| p.stock);
        if quantity > available && !allow_oversell {
            return reject(
                RejectionCode::InsufficientStock,
                format!(
                    "product {product_id} has {available} in stock; the order needs {quantity}"
                ),
            );
        }
        takes.push((product_id, quantity, (quantity - available).max(0)));
    }
    let paid = order.payment.amount;
    let change = match order.payment.method {
        PaymentMethod::Cash if paid >= priced.total => {
            paid.checked_sub(priced.total).unwrap_or_default()
        }
        method if method != PaymentMethod::Cash && paid == priced.total => Money::ZERO,
        method => {
            let rule = if method == PaymentMethod::Cash {
                "at least"
            } else {
                "exactly"
            };
            return reject(
                RejectionCode::PaymentMismatch,
                format!(
                    "a {method} payment must be {rule} the total {}; got {}",
                    priced.total.rupiah(),
                    paid.rupiah()
                ),
            );
        }
    };
    Ok(Accepted {
        priced,
        change,
        takes,
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
