//! Deciding an order: the checks it goes through (`checks`), in the
//! contract's order (the first failure decides): products exist and are
//! active, prices, pricing (`negative_total`; then the tenant's service
//! charge and tax), stock, payment. Applied, it takes its outlet's stock and writes
//! its lines, payments and figures; refused, an online order is rejected
//! (the cashier is told) and an offline one fails into review.

mod checks;

pub(super) use checks::Accepted;

use super::state::{Effect, State};
use crate::commit::locked::{LockedOrder, Sold};
use crate::commit::write::rows::{CommitRow, FailedSyncRow, ItemRow, MovementKind, PaymentRow, RejectRow, ResolvedRow};
use checks::{Rejection, evaluate};
use common::ids::{OutletId, ProductId, TenantId};
use common::message::OrderMessage;
use common::money::Money;
use common::order::{OrderStatus, Source};
use common::pricing::refund::Left;
use common::pricing::refund_charges::Charged;
use std::collections::BTreeMap;

impl State<'_> {
    pub(super) fn order(&mut self, m: &OrderMessage) -> Effect {
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
        match evaluate(m, row.outlet_id, &self.products, self.pricing) {
            Ok(accepted) => {
                let checked: Vec<_> = accepted.takes.iter().map(|&(p, q, _)| (p, q)).collect();
                self.need_stock(m.tenant_id, row.outlet_id, &checked);
                self.commit(m, row, accepted)
            }
            Err(rejection) => {
                self.need_stock(m.tenant_id, row.outlet_id, &rejection.stock_checked);
                self.reject(m, row, rejection)
            }
        }
    }

    /// A stock check passed on the in-memory figure: the batch is right only
    /// if the product really had at least what was read minus what this
    /// batch already took (or plus what it gave back) — the guarded UPDATE verifies it.
    pub(in crate::commit::decide) fn need_stock(
        &mut self,
        tenant_id: TenantId,
        outlet_id: OutletId,
        checked: &[(ProductId, i64)],
    ) {
        for &(product_id, quantity) in checked {
            let key = (tenant_id, outlet_id, product_id);
            let (Some(read), Some(now)) = (self.read_stock.get(&key), self.products.get(&key)) else { continue };
            // An oversold line (a retry with allowOversell) needed only what was there.
            let needed = quantity.min(now.stock) - now.stock + read;
            let entry = self.plan.writes.stock_needed.entry(key).or_insert(needed);
            *entry = (*entry).max(needed);
        }
    }

    fn commit(&mut self, m: &OrderMessage, row: LockedOrder, accepted: Accepted) -> Effect {
        let (tenant_id, order_id, outlet_id) = (m.tenant_id, row.id, row.outlet_id);
        let w = &mut self.plan.writes;
        // An earlier retry of this order in the batch failed; this one decides it.
        w.forget_rejection(tenant_id, order_id);
        let sold = self.sold.entry((tenant_id, order_id)).or_default();
        for &(product_id, quantity, _) in &accepted.takes {
            sold.insert(product_id, quantity);
        }
        for &(product_id, quantity, shortfall) in &accepted.takes {
            let key = (tenant_id, outlet_id, product_id);
            if let Some(product) = self.products.get_mut(&key) {
                product.stock += shortfall - quantity;
            }
            w.move_stock(key, MovementKind::Sale, -quantity, order_id);
            if shortfall > 0 {
                w.move_stock(key, MovementKind::Oversold, shortfall, order_id);
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
        });
        self.refundable.insert((tenant_id, order_id), sold_for_refunds(m, &accepted));
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
}

/// What an order this batch committed sold, for refunds in the same batch.
fn sold_for_refunds(m: &OrderMessage, accepted: &Accepted) -> Sold {
    let mut lines = BTreeMap::<ProductId, (i64, i64)>::new();
    for (line, total) in m.order.items.iter().zip(&accepted.priced.line_totals) {
        let entry = lines.entry(line.product_id).or_default();
        *entry = (entry.0 + i64::from(line.quantity), entry.1 + total.rupiah());
    }
    let mut left = Left::new();
    for (payment, change) in m.order.payments.iter().zip(&accepted.tender.line_change) {
        let net = payment.amount.rupiah().saturating_sub(change.rupiah());
        let sum = left.entry(payment.method).or_insert(Money::ZERO);
        *sum = Money::from_rupiah(sum.rupiah().saturating_add(net));
    }
    Sold {
        subtotal: accepted.priced.subtotal,
        // What was paid: the total with its cash rounding.
        total: accepted.charges.total.checked_add(accepted.tender.rounding).unwrap_or(accepted.charges.total),
        lines,
        refunded_units: BTreeMap::new(),
        refunded: Money::ZERO,
        left,
        // A refund in the same batch as its sale goes back the way the
        // money came (the setting is read with committed orders).
        cash_for_noncash: false,
        charged: Charged {
            discounts: accepted.priced.discount_total,
            service_charge: accepted.charges.service_charge,
            tax_base: accepted.charges.tax_base,
            tax: accepted.charges.tax,
        },
        charged_back: Charged::default(),
    }
}
