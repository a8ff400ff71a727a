//! Deciding stock transfers in memory: all or nothing, once per transfer.

use super::*;
use crate::commit::locked::TransferStatus;
use crate::commit::write::rows::MovementKind;
use chrono::Utc;
use common::ids::{MessageId, OutletId, ProductId, TenantId, TransferId, UserId};
use common::message::{Replay, TransferMessage};
use common::money::Money;
use common::order::RejectionCode;
use common::transfer::{TransferLine, ValidatedTransfer};
use uuid::Uuid;

struct Shop {
    tenant: TenantId,
    main: LockedProduct,
    stall: LockedProduct,
}

impl Shop {
    fn new(at_main: i64) -> Self {
        let tenant = TenantId::generate();
        let main = LockedProduct {
            tenant_id: tenant,
            outlet_id: OutletId::generate(),
            id: ProductId::generate(),
            price: Money::from_rupiah(1_000),
            stock: at_main,
            is_active: true,
        };
        let stall = LockedProduct { outlet_id: OutletId::generate(), stock: 0, ..main.clone() };
        Self { tenant, main, stall }
    }

    fn transfer(&self, quantity: u32, replay: bool) -> (TransferMessage, LockedTransfer) {
        let id = TransferId::generate();
        let message = TransferMessage {
            message_id: MessageId::generate(),
            tenant_id: self.tenant,
            transfer_id: id,
            request_hash: "h".into(),
            requested_by: UserId::generate(),
            received_at: Utc::now(),
            request_id: None,
            replay: replay.then(Replay::default),
            transfer: ValidatedTransfer {
                client_transfer_id: Uuid::now_v7(),
                from_outlet_id: self.main.outlet_id.0,
                to_outlet_id: self.stall.outlet_id.0,
                items: vec![TransferLine { product_id: self.main.id, quantity }],
                note: None,
            },
        };
        let row =
            LockedTransfer { tenant_id: self.tenant, id, status: TransferStatus::Pending, request_hash: "h".into() };
        (message, row)
    }

    fn run(&self, messages: &[TransferMessage], rows: &[LockedTransfer]) -> Plan {
        let messages: Vec<Message> = messages.iter().cloned().map(Message::Transfer).collect();
        let refs: Vec<&Message> = messages.iter().collect();
        let products = [self.main.clone(), self.stall.clone()];
        plan(&refs, &[], &products, &[], &Default::default(), &RefundData::default(), rows)
    }
}

#[test]
fn a_transfer_that_fits_moves_out_of_one_outlet_into_the_other_once() {
    let shop = Shop::new(5);
    let (m, row) = shop.transfer(3, false);
    let plan = shop.run(&[m.clone(), m], &[row]);
    assert_eq!(plan.effects[0], Effect::Transferred { transfer_id: plan.writes.transfers[0].transfer_id });
    assert!(matches!(plan.effects[1], Effect::TransferSkipped { .. }), "the duplicate delivery");
    let moves: Vec<_> = plan.writes.movements.iter().map(|m| (m.outlet_id, m.kind, m.delta)).collect();
    assert_eq!(
        moves,
        [(shop.main.outlet_id, MovementKind::TransferOut, -3), (shop.stall.outlet_id, MovementKind::TransferIn, 3)]
    );
    assert_eq!(plan.writes.stock_needed.values().copied().collect::<Vec<_>>(), [3], "the guard checks the source");
}

#[test]
fn a_transfer_beyond_the_source_fails_whole_and_only_a_retry_applies_a_failed_one() {
    let shop = Shop::new(2);
    let (m, row) = shop.transfer(3, false);
    let plan = shop.run(std::slice::from_ref(&m), std::slice::from_ref(&row));
    assert!(matches!(plan.effects[0], Effect::TransferFailed { code: RejectionCode::InsufficientStock, .. }));
    assert!(plan.writes.movements.is_empty() && plan.decided_on_stock_levels());
    let failed = LockedTransfer { status: TransferStatus::Failed, ..row };
    let plan = shop.run(std::slice::from_ref(&m), std::slice::from_ref(&failed));
    assert!(matches!(plan.effects[0], Effect::TransferSkipped { .. }), "a redelivery does not retry it");
    let (mut retry, _) = shop.transfer(2, true);
    retry.transfer_id = failed.id;
    let plan = Shop { main: LockedProduct { stock: 2, ..shop.main.clone() }, ..shop }.run(&[retry], &[failed]);
    assert!(matches!(plan.effects[0], Effect::Transferred { .. }));
}
