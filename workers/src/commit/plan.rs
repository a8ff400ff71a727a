//! Deciding a batch, in memory, with the rows already locked: for each
//! message in delivery order, is the order applied, rejected, failed,
//! cancelled, refunded (`refund.rs`) or skipped, and what rows does that
//! write. Pure: no I/O.
//!
//! Checks run in the contract's order (the first failure decides): products
//! exist and are active, prices, pricing (`negative_total`), stock, payment.
//! Stock is taken from the in-memory copy of the locked rows, so orders in
//! one batch compete for stock exactly as they would one transaction each.

use super::evaluate::{Accepted, Rejection, evaluate};
use super::pricing_data::PricingData;
use super::refund::{LockedRefund, Sold};
use super::writes::{
    CancelRow, CommitRow, FailedSyncRow, ItemRow, MovementKind, PaymentRow, RejectRow, ResolvedRow, Writes,
};
use common::ids::{OrderId, ProductId, RefundId, TenantId};
use common::message::{CancelMessage, Message, OrderMessage};
use common::money::Money;
use common::order::{OrderStatus, RejectionCode, Source};
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
    /// The order has an open failed sync (a replay may apply it).
    pub failed_sync_open: bool,
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
    Refunded {
        order_id: OrderId,
        amount: Money,
    },
    /// A refund that cannot apply, kept as a failed sync for review.
    RefundFailed {
        order_id: OrderId,
        code: RejectionCode,
    },
    /// Not yet: the message waits for something not applied yet and is
    /// retried later: with no attempt limit while its order exists but is
    /// not decided (`until_decided`), within the retry schedule while its
    /// order row is missing (its message may still be queued).
    Deferred {
        order_id: OrderId,
        reason: &'static str,
        until_decided: bool,
    },
    /// Nothing to do: a duplicate delivery, a stale message, an order not in a state to change.
    Skipped {
        order_id: OrderId,
        reason: &'static str,
    },
}

impl Effect {
    /// The effect's name, as metrics and logs label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Committed { .. } => "committed",
            Effect::Rejected { .. } => "rejected",
            Effect::Failed { .. } => "failed",
            Effect::Cancelled { .. } => "cancelled",
            Effect::Refunded { .. } => "refunded",
            Effect::RefundFailed { .. } => "refund_failed",
            Effect::Deferred { .. } => "deferred",
            Effect::Skipped { .. } => "skipped",
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub effects: Vec<Effect>,
    pub writes: Writes,
    /// How long the round trip that takes the product row locks took (set by the store).
    pub lock_wait: std::time::Duration,
}

impl Plan {
    /// Whether a decision depends on exactly how much stock there is (an
    /// order refused for short stock, an oversell), which must then be
    /// made on locked rows.
    pub fn decided_on_stock_levels(&self) -> bool {
        let short = |code: &RejectionCode| *code == RejectionCode::InsufficientStock;
        self.effects.iter().any(|e| match e {
            Effect::Rejected { code, .. } | Effect::Failed { code, .. } => short(code),
            _ => false,
        }) || self.writes.movements.iter().any(|m| m.kind == MovementKind::Oversold)
    }
}

/// The refunds a batch carries, and the orders they refund.
#[derive(Debug, Default)]
pub struct RefundData {
    pub refunds: Vec<LockedRefund>,
    /// Committed orders the batch's refunds name.
    pub sold: HashMap<(TenantId, OrderId), Sold>,
}

pub fn plan(
    messages: &[&Message],
    orders: &[LockedOrder],
    products: &[LockedProduct],
    sold: &[SoldLine],
    pricing: &PricingData,
    refunds: &RefundData,
) -> Plan {
    let mut state = State {
        refunds: refunds.refunds.iter().map(|r| ((r.tenant_id, r.id), r.clone())).collect(),
        refundable: refunds.sold.clone(),
        read_stock: products.iter().map(|p| ((p.tenant_id, p.id), p.stock)).collect(),
        orders: orders.iter().map(|o| ((o.tenant_id, o.client_order_id), o.clone())).collect(),
        order_keys: orders.iter().map(|o| ((o.tenant_id, o.id), (o.tenant_id, o.client_order_id))).collect(),
        products: products.iter().map(|p| ((p.tenant_id, p.id), p.clone())).collect(),
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
        };
        state.plan.effects.push(effect);
    }
    state.plan
}

pub(super) struct State<'a> {
    /// Stock as read, before this batch changed it in memory.
    read_stock: HashMap<(TenantId, ProductId), i64>,
    pub(super) orders: HashMap<(TenantId, Uuid), LockedOrder>,
    pub(super) order_keys: HashMap<(TenantId, OrderId), (TenantId, Uuid)>,
    pub(super) products: HashMap<(TenantId, ProductId), LockedProduct>,
    /// What each order still has sold, per product (a cancel gives it back).
    pub(super) sold: HashMap<(TenantId, OrderId), BTreeMap<ProductId, i64>>,
    pub(super) refunds: HashMap<(TenantId, RefundId), LockedRefund>,
    pub(super) refundable: HashMap<(TenantId, OrderId), Sold>,
    pricing: &'a PricingData,
    pub(super) plan: Plan,
}

impl State<'_> {
    fn order(&mut self, m: &OrderMessage) -> Effect {
        let key = (m.tenant_id, m.order.client_order_id.0);
        let Some(row) = self.orders.get(&key).cloned() else {
            return Effect::Skipped { order_id: m.order_id, reason: "order row missing" };
        };
        let order_id = row.id;
        if row.request_hash != m.request_hash {
            return Effect::Skipped { order_id, reason: "stale message: request differs from the stored order" };
        }
        let applicable = match row.status {
            OrderStatus::Pending => true,
            // A replay applies while its failed sync is open (not discarded).
            OrderStatus::Failed => m.replay.is_some() && row.failed_sync_open,
            _ => false,
        };
        if !applicable {
            return Effect::Skipped { order_id, reason: "already applied" };
        }
        match evaluate(m, &self.products, self.pricing) {
            Ok(accepted) => {
                let checked: Vec<_> = accepted.takes.iter().map(|&(p, q, _)| (p, q)).collect();
                self.need_stock(m.tenant_id, &checked);
                self.commit(m, row, accepted)
            }
            Err(rejection) => {
                self.need_stock(m.tenant_id, &rejection.stock_checked);
                self.reject(m, row, rejection)
            }
        }
    }

    /// A stock check passed on the in-memory figure: the batch is right only
    /// if the product really had at least what was read minus what this
    /// batch already took (or plus what it gave back) — the guarded UPDATE verifies it.
    fn need_stock(&mut self, tenant_id: TenantId, checked: &[(ProductId, i64)]) {
        for &(product_id, quantity) in checked {
            let key = (tenant_id, product_id);
            let (Some(read), Some(now)) = (self.read_stock.get(&key), self.products.get(&key)) else { continue };
            // An oversold line (a retry with allowOversell) needed only what was there.
            let needed = quantity.min(now.stock) - now.stock + read;
            let entry = self.plan.writes.stock_needed.entry(key).or_insert(needed);
            *entry = (*entry).max(needed);
        }
    }

    fn commit(&mut self, m: &OrderMessage, row: LockedOrder, accepted: Accepted) -> Effect {
        let (tenant_id, order_id) = (m.tenant_id, row.id);
        let w = &mut self.plan.writes;
        // An earlier retry of this order in the batch failed; this one decides it.
        w.forget_rejection(tenant_id, order_id);
        let sold = self.sold.entry((tenant_id, order_id)).or_default();
        for &(product_id, quantity, _) in &accepted.takes {
            sold.insert(product_id, quantity);
        }
        for &(product_id, quantity, shortfall) in &accepted.takes {
            if let Some(product) = self.products.get_mut(&(tenant_id, product_id)) {
                product.stock += shortfall - quantity;
            }
            w.move_stock(tenant_id, product_id, MovementKind::Sale, -quantity, order_id);
            if shortfall > 0 {
                w.move_stock(tenant_id, product_id, MovementKind::Oversold, shortfall, order_id);
            }
        }
        for (line_no, (line, total)) in m.order.items.iter().zip(&accepted.priced.line_totals).enumerate() {
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
        for (line_no, (payment, change)) in m.order.payments.iter().zip(&accepted.tender.line_change).enumerate() {
            w.payments.push(PaymentRow {
                tenant_id,
                order_id,
                line_no: i16::try_from(line_no).unwrap_or(i16::MAX),
                method: payment.method.as_str(),
                amount: payment.amount.rupiah(),
                change: change.rupiah(),
                reference: payment.reference.clone(),
            });
        }
        let (priced, charges) = (&accepted.priced, &accepted.charges);
        w.commits.push(CommitRow {
            tenant_id,
            order_id,
            subtotal: priced.subtotal.rupiah(),
            discount_total: priced.discount_total.rupiah(),
            service_charge: charges.service_charge.rupiah(),
            tax_base: charges.tax_base.rupiah(),
            tax: charges.tax.rupiah(),
            total: charges.total.rupiah(),
            rounding: accepted.tender.rounding.rupiah(),
            discounts: serde_json::to_value(&priced.discounts).unwrap_or_default(),
            change: accepted.tender.change.rupiah(),
            message_id: m.message_id.0,
            outlet_id: m.order.outlet_id,
        });
        self.refundable.insert((tenant_id, order_id), Sold::of(m, &accepted));
        if row.status == OrderStatus::Failed {
            w.resolved.push(ResolvedRow { tenant_id, order_id, refund_id: None });
        }
        self.set_status(m, OrderStatus::Committed);
        Effect::Committed { order_id, total: accepted.charges.total }
    }

    fn reject(&mut self, m: &OrderMessage, row: LockedOrder, rejection: Rejection) -> Effect {
        let order_id = row.id;
        let keep_for_review = m.source == Source::Offline || row.status == OrderStatus::Failed;
        let status = if keep_for_review { OrderStatus::Failed } else { OrderStatus::Rejected };
        let w = &mut self.plan.writes;
        w.forget_rejection(m.tenant_id, order_id);
        w.rejections.push(RejectRow {
            tenant_id: m.tenant_id,
            order_id,
            status,
            code: rejection.code.as_str(),
            message: rejection.message.clone(),
            message_id: m.message_id.0,
        });
        if keep_for_review {
            w.fail_sync(FailedSyncRow {
                tenant_id: m.tenant_id,
                order_id,
                client_order_id: m.order.client_order_id.0,
                refund_id: None,
                device_id: m.device_id.clone(),
                code: rejection.code.as_str(),
                message: rejection.message,
                request: serde_json::to_value(&m.order).unwrap_or_default(),
                failures: 1,
            });
        }
        self.set_status(m, status);
        if let Some(row) = self.orders.get_mut(&(m.tenant_id, m.order.client_order_id.0)) {
            // Failed again, the failed sync stays open: a later retry in the batch may apply.
            row.failed_sync_open |= keep_for_review;
        }
        if keep_for_review {
            Effect::Failed { order_id, code: rejection.code }
        } else {
            Effect::Rejected { order_id, code: rejection.code }
        }
    }

    fn set_status(&mut self, m: &OrderMessage, status: OrderStatus) {
        if let Some(row) = self.orders.get_mut(&(m.tenant_id, m.order.client_order_id.0)) {
            row.status = status;
        }
    }

    fn cancel(&mut self, m: &CancelMessage) -> Effect {
        let key = self.order_keys.get(&(m.tenant_id, m.order_id)).copied();
        let Some(row) = key.and_then(|k| self.orders.get_mut(&k)) else {
            return Effect::Skipped { order_id: m.order_id, reason: "no such order" };
        };
        if row.status != OrderStatus::Committed {
            return Effect::Skipped { order_id: m.order_id, reason: "not committed" };
        }
        row.status = OrderStatus::Cancelled;
        let lines = self.sold.get(&(m.tenant_id, m.order_id)).cloned().unwrap_or_default();
        let w = &mut self.plan.writes;
        // What refunds already brought back is not given back again.
        for (product_id, quantity) in lines.into_iter().filter(|&(_, q)| q > 0) {
            if let Some(product) = self.products.get_mut(&(m.tenant_id, product_id)) {
                product.stock += quantity;
            }
            w.move_stock(m.tenant_id, product_id, MovementKind::Cancel, quantity, m.order_id);
        }
        w.cancels.push(CancelRow { tenant_id: m.tenant_id, order_id: m.order_id, reason: m.reason.clone() });
        Effect::Cancelled { order_id: m.order_id }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
