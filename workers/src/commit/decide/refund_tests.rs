//! Refunds decided in memory: once per refund, never past what was sold,
//! waiting for an order not applied yet, and a cancel after a refund in
//! the same batch giving back only the rest.

use super::*;
use crate::commit::decide::{Plan, plan};
use crate::commit::locked::{LockedProduct, LockedRefund, RefundData, Sold, SoldLine};
use crate::commit::read::pricing::PricingData;
use chrono::Utc;
use common::ids::{MessageId, UserId};
use common::ids::{OutletId, ProductId, RefundId};
use common::message::{CancelMessage, Message};
use common::money::Money;
use common::order::PaymentMethod;
use common::refund::{RefundLine, ValidatedRefund};
use std::collections::HashMap;
use uuid::Uuid;

struct Shop {
    tenant: TenantId,
    product: LockedProduct,
    order: LockedOrder,
    refunds: Vec<LockedRefund>,
}

impl Shop {
    /// A committed order of 5 at 10,000 (total 45,000 after a discount), stock 0 left.
    fn new(status: OrderStatus) -> Self {
        let tenant = TenantId::generate();
        let product = LockedProduct {
            tenant_id: tenant,
            outlet_id: OutletId::generate(),
            id: ProductId::generate(),
            price: Money::from_rupiah(10_000),
            stock: 0,
            is_active: true,
        };
        let order = LockedOrder {
            id: OrderId::generate(),
            tenant_id: tenant,
            client_order_id: Uuid::now_v7(),
            status,
            request_hash: "h".into(),
            failed_sync_open: false,
            outlet_id: product.outlet_id,
        };
        Self { tenant, product, order, refunds: Vec::new() }
    }

    fn refund(&mut self, quantity: u32) -> RefundMessage {
        let refund_id = RefundId(Uuid::now_v7());
        self.refunds.push(LockedRefund {
            tenant_id: self.tenant,
            id: refund_id,
            status: RefundStatus::Pending,
            request_hash: "r".into(),
            failed_sync_open: false,
        });
        RefundMessage {
            message_id: MessageId::generate(),
            tenant_id: self.tenant,
            order_id: self.order.id,
            refund_id,
            request_hash: "r".into(),
            requested_by: None,
            received_at: Utc::now(),
            request_id: None,
            replay: None,
            refund: ValidatedRefund {
                client_refund_id: Uuid::now_v7(),
                items: vec![RefundLine { product_id: self.product.id, quantity }],
                payments: Vec::new(),
                reason: None,
                created_at: Utc::now(),
            },
        }
    }

    fn run(&self, messages: Vec<Message>) -> Plan {
        let sold = Sold {
            subtotal: Money::from_rupiah(50_000),
            total: Money::from_rupiah(45_000),
            lines: [(self.product.id, (5, 50_000))].into_iter().collect(),
            refunded_units: Default::default(),
            refunded: Money::ZERO,
            left: [(PaymentMethod::Qris, Money::from_rupiah(45_000))].into_iter().collect(),
            cash_for_noncash: false,
            charged: Default::default(),
            charged_back: Default::default(),
        };
        let data =
            RefundData { refunds: self.refunds.clone(), sold: HashMap::from([((self.tenant, self.order.id), sold)]) };
        let sold_lines =
            [SoldLine { tenant_id: self.tenant, order_id: self.order.id, product_id: self.product.id, quantity: 5 }];
        let refs: Vec<&Message> = messages.iter().collect();
        let orders = std::slice::from_ref(&self.order);
        plan(&refs, orders, std::slice::from_ref(&self.product), &sold_lines, &PricingData::default(), &data, &[])
    }
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.effects.iter().map(Effect::kind).collect()
}

#[test]
fn a_refund_delivered_twice_in_one_batch_applies_once() {
    let mut shop = Shop::new(OrderStatus::Committed);
    let one = shop.refund(1);
    let plan = shop.run(vec![Message::Refund(one.clone()), Message::Refund(one)]);
    assert_eq!(kinds(&plan), ["refunded", "skipped"]);
    assert_eq!(plan.effects[0], Effect::Refunded { order_id: shop.order.id, amount: Money::from_rupiah(9_000) });
    assert_eq!(plan.writes.movements.len(), 1);
    assert_eq!(plan.writes.refund_payments[0].method, "qris");
}

#[test]
fn refunds_past_what_was_sold_fail_and_the_last_unit_takes_what_is_left() {
    let mut shop = Shop::new(OrderStatus::Committed);
    let (three, three_more, two) = (shop.refund(3), shop.refund(3), shop.refund(2));
    let plan = shop.run(vec![Message::Refund(three), Message::Refund(three_more), Message::Refund(two)]);
    assert_eq!(kinds(&plan), ["refunded", "refund_failed", "refunded"]);
    assert_eq!(
        plan.effects[1],
        Effect::RefundFailed { order_id: shop.order.id, code: RejectionCode::RefundExceedsSold }
    );
    // 3 of 5 pay 27,000; the last 2 pay the rest of 45,000.
    let amounts: Vec<i64> = plan.writes.refunds.iter().map(|r| r.amount).collect();
    assert_eq!(amounts, [27_000, 18_000]);
    assert_eq!(plan.writes.failed_syncs.len(), 1);
    assert!(plan.writes.failed_syncs[0].refund_id.is_some());
}

#[test]
fn a_refund_of_an_order_not_applied_yet_waits() {
    let mut shop = Shop::new(OrderStatus::Pending);
    let one = shop.refund(1);
    let plan = shop.run(vec![Message::Refund(one)]);
    assert_eq!(kinds(&plan), ["deferred"]);
    assert!(plan.writes.is_empty() && plan.writes.movements.is_empty());
}

#[test]
fn a_cancel_after_a_refund_in_one_batch_gives_back_only_the_rest() {
    let mut shop = Shop::new(OrderStatus::Committed);
    let two = shop.refund(2);
    let cancel = CancelMessage {
        message_id: MessageId::generate(),
        tenant_id: shop.tenant,
        order_id: shop.order.id,
        reason: "batal".into(),
        requested_by: UserId::generate(),
        requested_at: Utc::now(),
        request_id: None,
    };
    let late = shop.refund(1);
    let plan = shop.run(vec![Message::Refund(two), Message::Cancel(cancel), Message::Refund(late)]);
    assert_eq!(kinds(&plan), ["refunded", "cancelled", "refund_failed"]);
    let moved: Vec<(&str, i64)> = plan.writes.movements.iter().map(|m| (m.kind.as_str(), m.delta)).collect();
    assert_eq!(moved, [("return", 2), ("cancel", 3)]);
    assert_eq!(plan.writes.stock.values().sum::<i64>(), 5);
}
