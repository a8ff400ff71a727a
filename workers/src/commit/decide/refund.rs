//! Deciding a refund, in memory, with its order locked: it applies once,
//! to a committed order, for no more than the order sold less what its
//! earlier refunds took, and pays back the goods' share of the total the
//! way the money came, never more to a method than it has left
//! (`common::pricing::refund`). A refund of an order not applied yet waits
//! (retried later); one that can never apply becomes a failed sync.

use super::state::{Effect, State};
use crate::commit::locked::{LockedOrder, RefundStatus};
use crate::commit::write::rows::{
    FailedSyncRow, MovementKind, RefundFailRow, RefundPaymentRow, RefundRow, ResolvedRow,
};
use common::ids::{OrderId, TenantId};
use common::message::RefundMessage;
use common::order::{OrderStatus, RejectionCode};
use common::pricing::refund::AllocationError;
use common::pricing::refund_quote::{Quote, QuoteError};

struct Refused(RejectionCode, String);

impl State<'_> {
    pub(super) fn refund(&mut self, m: &RefundMessage) -> Effect {
        let (tenant_id, order_id) = (m.tenant_id, m.order_id);
        // The store recreates a missing refund row from its message when
        // the order is there; it is missing only while its order is too.
        let Some(refund) = self.refunds.get(&(tenant_id, m.refund_id)).cloned() else {
            return Effect::Deferred { order_id, reason: "the refund's order row is missing", until_decided: false };
        };
        if refund.request_hash != m.request_hash {
            return Effect::Skipped { order_id, reason: "stale message: request differs from the stored refund" };
        }
        let applicable = match refund.status {
            RefundStatus::Pending => true,
            RefundStatus::Failed => m.replay.is_some() && refund.failed_sync_open,
            RefundStatus::Committed => false,
        };
        if !applicable {
            return Effect::Skipped { order_id, reason: "refund already applied" };
        }
        let Some(order) = self.order_by_id(tenant_id, order_id) else {
            return Effect::Deferred { order_id, reason: "the refund's order row is missing", until_decided: false };
        };
        let waiting =
            order.status == OrderStatus::Pending || (order.status == OrderStatus::Failed && order.failed_sync_open);
        if waiting {
            return Effect::Deferred { order_id, reason: "the refund's order is not applied yet", until_decided: true };
        }
        let decided = if order.status == OrderStatus::Committed {
            self.check_refund(m)
        } else {
            Err(Refused(RejectionCode::NotRefundable, format!("the order is {}, not committed", order.status)))
        };
        match decided {
            Ok(decided) => self.commit_refund(m, refund.status, decided),
            Err(Refused(code, message)) => self.fail_refund(m, &order, code, message),
        }
    }

    fn order_by_id(&self, tenant_id: TenantId, order_id: OrderId) -> Option<LockedOrder> {
        let key = self.order_keys.get(&(tenant_id, order_id))?;
        self.orders.get(key).cloned()
    }

    /// The refund's amount and how it goes back, or why it cannot apply
    /// (the same decision as ingest's quote: `common::pricing::refund_quote`).
    fn check_refund(&self, m: &RefundMessage) -> Result<Quote, Refused> {
        let Some(sold) = self.refundable.get(&(m.tenant_id, m.order_id)) else {
            return Err(Refused(RejectionCode::NotRefundable, "the order's sold lines are missing".into()));
        };
        sold.quote(&m.refund.items, &m.refund.payments).map_err(|e| {
            let code = match e {
                QuoteError::ExceedsSold { .. } => RejectionCode::RefundExceedsSold,
                QuoteError::Payments(AllocationError::Mismatch { .. }) => RejectionCode::PaymentMismatch,
                QuoteError::Payments(AllocationError::ExceedsPaid { .. }) => RejectionCode::RefundExceedsPaid,
            };
            Refused(code, e.to_string())
        })
    }

    fn commit_refund(&mut self, m: &RefundMessage, was: RefundStatus, decided: Quote) -> Effect {
        let (tenant_id, order_id, refund_id) = (m.tenant_id, m.order_id, m.refund_id);
        if let Some(sold) = self.refundable.get_mut(&(tenant_id, order_id)) {
            sold.apply(&m.refund.items, &decided);
        }
        let Quote { amount, back, charged } = decided;
        // Returned goods go back to the outlet that sold them.
        let outlet_id = self.order_by_id(tenant_id, order_id).map(|o| o.outlet_id);
        let w = &mut self.plan.writes;
        w.refund_failures.retain(|f| (f.tenant_id, f.refund_id) != (tenant_id, refund_id));
        for line in &m.refund.items {
            let quantity = i64::from(line.quantity);
            let Some(outlet_id) = outlet_id else { break };
            let key = (tenant_id, outlet_id, line.product_id);
            if let Some(product) = self.products.get_mut(&key) {
                product.stock += quantity;
            }
            // A later cancel in this batch gives back only what is still sold.
            if let Some(units) = self.sold.get_mut(&(tenant_id, order_id)).and_then(|s| s.get_mut(&line.product_id)) {
                *units -= quantity;
            }
            w.move_stock(key, MovementKind::Return, quantity, order_id);
            if let Some(movement) = w.movements.last_mut() {
                movement.refund_id = Some(refund_id);
            }
        }
        for (line_no, (method, paid)) in back.into_iter().enumerate() {
            let line_no = i16::try_from(line_no).unwrap_or(i16::MAX);
            let row =
                RefundPaymentRow { tenant_id, refund_id, line_no, method: method.as_str(), amount: paid.rupiah() };
            w.refund_payments.push(row);
        }
        w.refunds.push(RefundRow { tenant_id, refund_id, amount: amount.rupiah(), charged });
        if was == RefundStatus::Failed {
            w.resolved.push(ResolvedRow { tenant_id, order_id, refund_id: Some(refund_id) });
        }
        if let Some(refund) = self.refunds.get_mut(&(tenant_id, refund_id)) {
            refund.status = RefundStatus::Committed;
        }
        Effect::Refunded { order_id, amount }
    }

    fn fail_refund(&mut self, m: &RefundMessage, order: &LockedOrder, code: RejectionCode, message: String) -> Effect {
        let (tenant_id, refund_id) = (m.tenant_id, m.refund_id);
        let w = &mut self.plan.writes;
        w.refund_failures.retain(|f| (f.tenant_id, f.refund_id) != (tenant_id, refund_id));
        w.refund_failures.push(RefundFailRow { tenant_id, refund_id, code: code.as_str(), message: message.clone() });
        w.fail_sync(FailedSyncRow {
            tenant_id,
            order_id: m.order_id,
            client_order_id: order.client_order_id,
            refund_id: Some(refund_id),
            device_id: None,
            code: code.as_str(),
            message,
            request: serde_json::to_value(&m.refund).unwrap_or_default(),
            failures: 1,
        });
        if let Some(refund) = self.refunds.get_mut(&(tenant_id, refund_id)) {
            refund.status = RefundStatus::Failed;
            refund.failed_sync_open = true;
        }
        Effect::RefundFailed { order_id: m.order_id, code }
    }
}

#[cfg(test)]
#[path = "refund_tests.rs"]
mod tests;
