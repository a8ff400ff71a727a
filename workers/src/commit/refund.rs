//! Deciding a refund, in memory, with its order locked: it applies once,
//! to a committed order, for no more than the order sold less what its
//! earlier refunds took, and pays back the goods' share of the total the
//! way the money came, never more to a method than it has left
//! (`common::pricing::refund`). A refund of an order not applied yet waits
//! (retried later); one that can never apply becomes a failed sync.

use super::evaluate::Accepted;
use super::plan::{Effect, LockedOrder, State};
use super::writes::{FailedSyncRow, MovementKind, RefundFailRow, RefundPaymentRow, RefundRow, ResolvedRow};
use common::ids::{OrderId, ProductId, RefundId, TenantId};
use common::message::{OrderMessage, RefundMessage};
use common::money::Money;
use common::order::{OrderStatus, PaymentMethod, RejectionCode};
use common::pricing::refund::{AllocationError, Left, Refundable, allocate, left_after, refund_amount};
use common::pricing::refund_charges::{Charged, refund_charges};
use std::collections::BTreeMap;

/// What a committed order sold and what its refunds took so far.
#[derive(Clone, Debug)]
pub struct Sold {
    pub subtotal: Money,
    /// What the customer paid (total + cash rounding): all refunds can give back.
    pub total: Money,
    /// Per product: units sold and their list price (price × quantity).
    pub lines: BTreeMap<ProductId, (i64, i64)>,
    /// Per product: units refunded so far.
    pub refunded_units: BTreeMap<ProductId, i64>,
    pub refunded: Money,
    /// What each payment method can still give back (paid net of change,
    /// less earlier refunds by it).
    pub left: Left,
    /// The tenant lets cash stand in for non-cash methods.
    pub cash_for_noncash: bool,
    /// The order's discounts, service charge, tax base and tax, and what
    /// its refunds gave back of them so far.
    pub charged: Charged,
    pub charged_back: Charged,
}

impl Sold {
    /// An order this batch committed.
    pub fn of(m: &OrderMessage, accepted: &Accepted) -> Self {
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

    /// List price of `units` (per product, pro rata to its lines).
    fn gross_of(&self, units: &BTreeMap<ProductId, i64>) -> i64 {
        let share = |(product, &n): (&ProductId, &i64)| match self.lines.get(product) {
            Some(&(sold, gross)) if sold > 0 => i64::try_from(i128::from(gross) * i128::from(n) / i128::from(sold)),
            _ => Ok(0),
        };
        units.iter().map(share).map(|g| g.unwrap_or(i64::MAX)).fold(0, i64::saturating_add)
    }
}

/// A refund row as read by this batch (its order is locked).
#[derive(Clone, Debug)]
pub struct LockedRefund {
    pub tenant_id: TenantId,
    pub id: RefundId,
    pub status: RefundStatus,
    pub request_hash: String,
    pub failed_sync_open: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    Pending,
    Committed,
    Failed,
}

impl RefundStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "committed" => Some(Self::Committed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

struct Refused(RejectionCode, String);

/// What a refund gives back: its amount, by method, and its part of the order's charges.
struct Decided {
    amount: Money,
    back: Vec<(PaymentMethod, Money)>,
    charged: Charged,
}

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

    /// The refund's amount and how it goes back, or why it cannot apply.
    fn check_refund(&self, m: &RefundMessage) -> Result<Decided, Refused> {
        let Some(sold) = self.refundable.get(&(m.tenant_id, m.order_id)) else {
            return Err(Refused(RejectionCode::NotRefundable, "the order's sold lines are missing".into()));
        };
        let mut after = sold.refunded_units.clone();
        for line in &m.refund.items {
            let sold_units = sold.lines.get(&line.product_id).map_or(0, |l| l.0);
            let units = after.entry(line.product_id).or_default();
            if *units + i64::from(line.quantity) > sold_units {
                let message = format!(
                    "product {}: the order sold {sold_units}, {} already refunded; this refund asks for {}",
                    line.product_id, units, line.quantity
                );
                return Err(Refused(RejectionCode::RefundExceedsSold, message));
            }
            *units += i64::from(line.quantity);
        }
        let before = sold.gross_of(&sold.refunded_units);
        let order = Refundable {
            subtotal: sold.subtotal,
            total: sold.total,
            refunded_gross: Money::from_rupiah(before),
            refunded: sold.refunded,
        };
        let gross_after = sold.gross_of(&after);
        let amount = refund_amount(&order, Money::from_rupiah(gross_after - before));
        let charged = refund_charges(&sold.charged, sold.subtotal, Money::from_rupiah(gross_after), &sold.charged_back);
        let back = allocate(amount, &m.refund.payments, &sold.left, sold.cash_for_noncash).map_err(|e| match e {
            AllocationError::Mismatch { .. } => Refused(RejectionCode::PaymentMismatch, e.to_string()),
            AllocationError::ExceedsPaid { .. } => Refused(RejectionCode::RefundExceedsPaid, e.to_string()),
        })?;
        Ok(Decided { amount, back, charged })
    }

    fn commit_refund(&mut self, m: &RefundMessage, was: RefundStatus, decided: Decided) -> Effect {
        let Decided { amount, back, charged } = decided;
        let (tenant_id, order_id, refund_id) = (m.tenant_id, m.order_id, m.refund_id);
        if let Some(sold) = self.refundable.get_mut(&(tenant_id, order_id)) {
            for line in &m.refund.items {
                *sold.refunded_units.entry(line.product_id).or_default() += i64::from(line.quantity);
            }
            sold.refunded = sold.refunded.checked_add(amount).unwrap_or(sold.total);
            let mut given = Left::new();
            for (method, paid) in &back {
                let sum = given.entry(*method).or_insert(Money::ZERO);
                *sum = Money::from_rupiah(sum.rupiah().saturating_add(paid.rupiah()));
            }
            sold.left = left_after(&sold.left, &given);
            sold.charged_back = sold.charged_back.plus(&charged);
        }
        let w = &mut self.plan.writes;
        w.refund_failures.retain(|f| (f.tenant_id, f.refund_id) != (tenant_id, refund_id));
        for line in &m.refund.items {
            let quantity = i64::from(line.quantity);
            if let Some(product) = self.products.get_mut(&(tenant_id, line.product_id)) {
                product.stock += quantity;
            }
            // A later cancel in this batch gives back only what is still sold.
            if let Some(units) = self.sold.get_mut(&(tenant_id, order_id)).and_then(|s| s.get_mut(&line.product_id)) {
                *units -= quantity;
            }
            w.move_stock(tenant_id, line.product_id, MovementKind::Return, quantity, order_id);
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
