//! Orders and cancels decided in memory.

use super::*;
use crate::commit::write::rows::MovementKind;
use chrono::Utc;
use common::ids::{ClientOrderId, MessageId, UserId};
use common::ids::{OrderId, OutletId, ProductId, TenantId};
use common::message::Replay;
use common::message::{CancelMessage, OrderMessage};
use common::money::Money;
use common::order::{OrderLine, Payment, PaymentMethod, ValidatedOrder};
use common::order::{OrderStatus, Source};
use common::pricing::{DiscountRule, Member, Rate, RuleKind};

struct World {
    tenant: TenantId,
    product: LockedProduct,
    orders: Vec<LockedOrder>,
}

impl World {
    fn new(stock: i64) -> Self {
        let tenant = TenantId::generate();
        let product = LockedProduct {
            tenant_id: tenant,
            outlet_id: OutletId::generate(),
            id: ProductId::generate(),
            price: Money::from_rupiah(10_000),
            stock,
            is_active: true,
        };
        Self { tenant, product, orders: Vec::new() }
    }

    fn order(&mut self, quantity: u32, source: Source, status: OrderStatus) -> OrderMessage {
        let client_order_id = ClientOrderId::generate();
        let order_id = OrderId::generate();
        self.orders.push(LockedOrder {
            id: order_id,
            tenant_id: self.tenant,
            client_order_id: client_order_id.0,
            status,
            request_hash: "h".into(),
            failed_sync_open: status == OrderStatus::Failed,
            outlet_id: self.product.outlet_id,
        });
        let total = 10_000 * i64::from(quantity);
        OrderMessage {
            message_id: MessageId::generate(),
            tenant_id: self.tenant,
            order_id,
            source,
            device_id: None,
            sync_batch_id: None,
            request_hash: "h".into(),
            received_at: Utc::now(),
            request_id: None,
            replay: None,
            order: ValidatedOrder {
                client_order_id,
                outlet_id: None,
                items: vec![OrderLine { product_id: self.product.id, quantity, price: Money::from_rupiah(10_000) }],
                member_id: None,
                discount: Money::ZERO,
                payments: vec![Payment {
                    method: PaymentMethod::Qris,
                    amount: Money::from_rupiah(total),
                    reference: None,
                }],
                created_at: Utc::now(),
                notes: None,
                shift_id: None,
            },
        }
    }

    fn run(&self, messages: Vec<Message>, sold: &[SoldLine]) -> Plan {
        self.run_priced(messages, sold, &PricingData::default())
    }

    fn run_priced(&self, messages: Vec<Message>, sold: &[SoldLine], pricing: &PricingData) -> Plan {
        let refs: Vec<&Message> = messages.iter().collect();
        plan(&refs, &self.orders, std::slice::from_ref(&self.product), sold, pricing, &RefundData::default(), &[])
    }
}

fn codes(plan: &Plan) -> Vec<String> {
    plan.effects
        .iter()
        .map(|e| match e {
            Effect::Rejected { code, .. } => format!("rejected:{code}"),
            Effect::Failed { code, .. } => format!("failed:{code}"),
            Effect::RefundFailed { code, .. } => format!("refund_failed:{code}"),
            Effect::Skipped { reason, .. } => format!("skipped:{reason}"),
            other => other.kind().to_owned(),
        })
        .collect()
}

#[test]
fn orders_in_one_batch_compete_for_stock_in_delivery_order() {
    let mut w = World::new(5);
    let msgs = vec![
        Message::Order(w.order(3, Source::Online, OrderStatus::Pending)),
        Message::Order(w.order(3, Source::Online, OrderStatus::Pending)),
        Message::Order(w.order(2, Source::Offline, OrderStatus::Pending)),
    ];
    let plan = w.run(msgs, &[]);
    assert_eq!(codes(&plan), ["committed", "rejected:insufficient_stock", "committed"]);
    assert_eq!(plan.writes.stock.values().copied().collect::<Vec<_>>(), [-5]);
    assert_eq!(plan.writes.movements.len(), 2);
    assert_eq!(plan.writes.payments.len(), 2);
}

#[test]
fn an_order_takes_stock_from_its_own_outlet_only() {
    let mut w = World::new(5);
    let stall = LockedProduct { outlet_id: OutletId::generate(), stock: 1, ..w.product.clone() };
    let at_stall = |w: &mut World, quantity| {
        let m = w.order(quantity, Source::Online, OrderStatus::Pending);
        if let Some(o) = w.orders.last_mut() {
            o.outlet_id = stall.outlet_id;
        }
        Message::Order(m)
    };
    // The stall has 1 though the shop has 6: an order of 2 there is short.
    let msgs =
        [at_stall(&mut w, 2), at_stall(&mut w, 1), Message::Order(w.order(4, Source::Online, OrderStatus::Pending))];
    let refs: Vec<&Message> = msgs.iter().collect();
    let products = [w.product.clone(), stall.clone()];
    let plan = plan(&refs, &w.orders, &products, &[], &PricingData::default(), &RefundData::default(), &[]);
    assert_eq!(codes(&plan), ["rejected:insufficient_stock", "committed", "committed"]);
    let taken: Vec<_> = plan.writes.stock.iter().map(|(&(_, outlet, _), &delta)| (outlet, delta)).collect();
    let mut expected = vec![(w.product.outlet_id, -4), (stall.outlet_id, -1)];
    expected.sort();
    assert_eq!(taken, expected);
    assert!(
        plan.writes
            .movements
            .iter()
            .all(|m| m.outlet_id == if m.delta == -1 { stall.outlet_id } else { w.product.outlet_id })
    );
}

#[test]
fn offline_orders_that_cannot_be_applied_become_failed_syncs() {
    let mut w = World::new(1);
    let m = w.order(2, Source::Offline, OrderStatus::Pending);
    let plan = w.run(vec![Message::Order(m)], &[]);
    assert_eq!(codes(&plan), ["failed:insufficient_stock"]);
    assert_eq!(plan.writes.failed_syncs.len(), 1);
    assert_eq!(plan.writes.rejections[0].status, OrderStatus::Failed);
}

#[test]
fn a_duplicate_delivery_in_the_same_batch_applies_once() {
    let mut w = World::new(10);
    let m = w.order(1, Source::Online, OrderStatus::Pending);
    let plan = w.run(vec![Message::Order(m.clone()), Message::Order(m)], &[]);
    assert_eq!(codes(&plan), ["committed", "skipped:already applied"]);
    assert_eq!(plan.writes.stock.values().sum::<i64>(), -1);
}

#[test]
fn applied_failed_and_stale_orders_are_skipped() {
    let mut w = World::new(10);
    let committed = w.order(1, Source::Online, OrderStatus::Committed);
    let failed = w.order(1, Source::Offline, OrderStatus::Failed);
    let mut stale = w.order(1, Source::Online, OrderStatus::Pending);
    stale.request_hash = "other".into();
    let plan = w.run(vec![Message::Order(committed), Message::Order(failed), Message::Order(stale)], &[]);
    assert_eq!(
        codes(&plan),
        [
            "skipped:already applied",
            "skipped:already applied",
            "skipped:stale message: request differs from the stored order"
        ]
    );
    assert!(plan.writes.is_empty());
}

#[test]
fn a_replay_with_allow_oversell_takes_stock_to_zero_and_records_the_shortfall() {
    let mut w = World::new(3);
    let mut m = w.order(5, Source::Offline, OrderStatus::Failed);
    m.replay = Some(Replay { by: "ayu".into(), allow_oversell: true, ..Default::default() });
    let plan = w.run(vec![Message::Order(m)], &[]);
    assert_eq!(codes(&plan), ["committed"]);
    let deltas: Vec<_> = plan.writes.movements.iter().map(|m| (m.kind, m.delta)).collect();
    assert_eq!(deltas, [(MovementKind::Sale, -5), (MovementKind::Oversold, 2)]);
    assert_eq!(plan.writes.stock.values().sum::<i64>(), -3);
    assert_eq!(plan.writes.resolved.len(), 1);
}

#[test]
fn checks_run_in_contract_order_and_payment_comes_last() {
    let mut w = World::new(0);
    let mut wrong_price_no_stock = w.order(1, Source::Online, OrderStatus::Pending);
    wrong_price_no_stock.order.items[0].price = Money::from_rupiah(9_000);
    let mut no_stock_bad_payment = w.order(1, Source::Online, OrderStatus::Pending);
    no_stock_bad_payment.order.payments[0].amount = Money::from_rupiah(1);
    let plan = w.run(vec![Message::Order(wrong_price_no_stock), Message::Order(no_stock_bad_payment)], &[]);
    assert_eq!(codes(&plan), ["rejected:price_mismatch", "rejected:insufficient_stock"]);
}

#[test]
fn cash_may_exceed_the_total_other_methods_must_equal_it() {
    let mut w = World::new(10);
    let mut cash = w.order(1, Source::Online, OrderStatus::Pending);
    cash.order.payments =
        vec![Payment { method: PaymentMethod::Cash, amount: Money::from_rupiah(50_000), reference: None }];
    let mut card = w.order(1, Source::Online, OrderStatus::Pending);
    card.order.payments =
        vec![Payment { method: PaymentMethod::Card, amount: Money::from_rupiah(10_001), reference: None }];
    let mut short_cash = w.order(1, Source::Online, OrderStatus::Pending);
    short_cash.order.payments =
        vec![Payment { method: PaymentMethod::Cash, amount: Money::from_rupiah(9_999), reference: None }];
    let plan = w.run(vec![Message::Order(cash), Message::Order(card), Message::Order(short_cash)], &[]);
    assert_eq!(codes(&plan), ["committed", "rejected:payment_mismatch", "rejected:payment_mismatch"]);
    assert_eq!(plan.writes.payments[0].change, 40_000);
}

#[test]
fn cancel_restores_what_was_sold_once() {
    let mut w = World::new(0);
    let m = w.order(4, Source::Online, OrderStatus::Committed);
    let cancel = CancelMessage {
        message_id: MessageId::generate(),
        tenant_id: w.tenant,
        order_id: m.order_id,
        reason: "returned".into(),
        requested_by: UserId::generate(),
        requested_at: Utc::now(),
        request_id: None,
    };
    // The same line read twice (two cancels of one order in a batch) counts once.
    let line = SoldLine { tenant_id: w.tenant, order_id: m.order_id, product_id: w.product.id, quantity: 4 };
    let sold = [line.clone(), line];
    let plan = w.run(vec![Message::Cancel(cancel.clone()), Message::Cancel(cancel)], &sold);
    assert_eq!(codes(&plan), ["cancelled", "skipped:not committed"]);
    assert_eq!(plan.writes.stock.values().sum::<i64>(), 4);
}

#[test]
fn another_tenants_product_is_unknown() {
    let mut w = World::new(10);
    let m = w.order(1, Source::Online, OrderStatus::Pending);
    w.product.tenant_id = TenantId::generate();
    let plan = w.run(vec![Message::Order(m)], &[]);
    assert_eq!(codes(&plan), ["rejected:unknown_product"]);
}

#[test]
fn an_offline_line_may_carry_the_price_at_its_sale_time_an_online_one_may_not() {
    let mut w = World::new(10);
    w.product.price = Money::from_rupiah(12_000);
    let offline = w.order(1, Source::Offline, OrderStatus::Pending);
    let online = w.order(1, Source::Online, OrderStatus::Pending);
    let mut pricing = PricingData::default();
    pricing.prices_at.insert((w.tenant, w.product.id, offline.order.created_at), Money::from_rupiah(10_000));
    let plan = w.run_priced(vec![Message::Order(offline), Message::Order(online)], &[], &pricing);
    assert_eq!(codes(&plan), ["committed", "rejected:price_mismatch"]);
}

#[test]
fn the_tenants_rules_and_the_member_are_priced_in_before_payment_is_checked() {
    let mut w = World::new(10);
    let mut m = w.order(2, Source::Online, OrderStatus::Pending);
    let member = uuid::Uuid::now_v7();
    m.order.member_id = Some(member);
    // 20,000 − 10 % rule = 18,000 − Rp 1,000 member = 17,000 to pay.
    m.order.payments[0].amount = Money::from_rupiah(17_000);
    let mut pricing = PricingData::default();
    let rule = DiscountRule {
        id: uuid::Uuid::now_v7(),
        name: "Sepuluh persen".into(),
        kind: RuleKind::AmountBased { min_amount: Money::ZERO },
        rate: Rate::Percentage(1000),
        starts_at: None,
        ends_at: None,
        is_active: true,
    };
    pricing.rules.insert(w.tenant, vec![rule]);
    pricing.members.insert(
        (w.tenant, member),
        Member::Active { name: "Budi".into(), rate: Some(Rate::Fixed(Money::from_rupiah(1_000))) },
    );
    let plan = w.run_priced(vec![Message::Order(m)], &[], &pricing);
    assert_eq!(codes(&plan), ["committed"]);
    assert_eq!(plan.writes.commits[0].total, 17_000);
    assert_eq!(plan.writes.commits[0].discount_total, 3_000);
}

#[test]
fn a_replay_of_a_discarded_failed_sync_is_not_applied() {
    let mut w = World::new(10);
    let mut m = w.order(1, Source::Offline, OrderStatus::Failed);
    w.orders[0].failed_sync_open = false;
    m.replay = Some(Replay { by: "ayu".into(), ..Default::default() });
    let plan = w.run(vec![Message::Order(m)], &[]);
    assert_eq!(codes(&plan), ["skipped:already applied"]);
}
