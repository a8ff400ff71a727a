//! Deciding a stock transfer, in memory, with its row locked: it applies
//! once, moving each product out of the source outlet and into the other,
//! only when the source has all of it; short, it fails (kept for review and
//! retried from there after a restock). A transfer already decided, or a
//! message whose request differs from the stored one, is skipped.

use super::state::{Effect, State};
use crate::commit::locked::TransferStatus;
use crate::commit::write::rows::{MovementKind, TransferRow};
use common::ids::OutletId;
use common::message::TransferMessage;
use common::order::RejectionCode;

impl State<'_> {
    pub(super) fn transfer(&mut self, m: &TransferMessage) -> Effect {
        let (tenant_id, transfer_id) = (m.tenant_id, m.transfer_id);
        let Some(row) = self.transfers.get(&(tenant_id, transfer_id)).cloned() else {
            return Effect::TransferSkipped { transfer_id, reason: "transfer row missing" };
        };
        if row.request_hash != m.request_hash {
            return Effect::TransferSkipped { transfer_id, reason: "stale message: request differs" };
        }
        let applicable = match row.status {
            TransferStatus::Pending => true,
            TransferStatus::Failed => m.replay.is_some(),
            TransferStatus::Committed => false,
        };
        if !applicable {
            return Effect::TransferSkipped { transfer_id, reason: "transfer already decided" };
        }
        let (from, to) = (OutletId(m.transfer.from_outlet_id), OutletId(m.transfer.to_outlet_id));
        let mut checked = Vec::new();
        for line in &m.transfer.items {
            let quantity = i64::from(line.quantity);
            let stock = self.products.get(&(tenant_id, from, line.product_id)).map(|p| p.stock);
            let code = match stock {
                None => Some(RejectionCode::UnknownProduct),
                Some(available) if available < quantity => Some(RejectionCode::InsufficientStock),
                Some(_) => None,
            };
            if let Some(code) = code {
                self.need_stock(tenant_id, from, &checked);
                let message = format!(
                    "product {}: outlet {from} has {}, the transfer moves {quantity}",
                    line.product_id,
                    stock.unwrap_or(0)
                );
                return self.decide_transfer(m, TransferStatus::Failed, Some((code, message)));
            }
            checked.push((line.product_id, quantity));
        }
        self.need_stock(tenant_id, from, &checked);
        for line in &m.transfer.items {
            let quantity = i64::from(line.quantity);
            for (outlet, delta, kind) in
                [(from, -quantity, MovementKind::TransferOut), (to, quantity, MovementKind::TransferIn)]
            {
                let key = (tenant_id, outlet, line.product_id);
                if let Some(product) = self.products.get_mut(&key) {
                    product.stock += delta;
                }
                self.plan.writes.move_transferred(key, kind, delta, transfer_id);
            }
        }
        self.decide_transfer(m, TransferStatus::Committed, None)
    }

    fn decide_transfer(
        &mut self,
        m: &TransferMessage,
        status: TransferStatus,
        failure: Option<(RejectionCode, String)>,
    ) -> Effect {
        let (tenant_id, transfer_id) = (m.tenant_id, m.transfer_id);
        if let Some(row) = self.transfers.get_mut(&(tenant_id, transfer_id)) {
            row.status = status;
        }
        let code = failure.as_ref().map(|(code, _)| *code);
        // A retry later in the batch decides it again: its status is written
        // once, by the last message that decided it.
        self.plan.writes.transfers.retain(|t| (t.tenant_id, t.transfer_id) != (tenant_id, transfer_id));
        self.plan.writes.transfers.push(TransferRow {
            tenant_id,
            transfer_id,
            status: status.as_str(),
            code: code.map(RejectionCode::as_str),
            message: failure.map(|(_, message)| message),
        });
        match code {
            Some(code) => Effect::TransferFailed { transfer_id, code },
            None => Effect::Transferred { transfer_id },
        }
    }
}
