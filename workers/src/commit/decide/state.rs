//! What the decide stage keeps while it goes through a batch: each
//! message's effect, the rows to write, and its in-memory copy of the
//! rows read (changed as the batch's messages are decided).

use crate::commit::locked::{LockedOrder, LockedProduct, LockedRefund, LockedTransfer, Sold, StockKey};
use crate::commit::read::pricing::PricingData;
use crate::commit::write::rows::{MovementKind, Writes};
use common::ids::{OrderId, ProductId, RefundId, TenantId, TransferId};
use common::money::Money;
use common::order::RejectionCode;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

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
    /// A stock transfer moved its goods.
    Transferred {
        transfer_id: TransferId,
    },
    /// A stock transfer that cannot apply (short stock), kept for review.
    TransferFailed {
        transfer_id: TransferId,
        code: RejectionCode,
    },
    /// Nothing to do for a transfer: decided already, or a stale message.
    TransferSkipped {
        transfer_id: TransferId,
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
            Effect::Transferred { .. } => "transferred",
            Effect::TransferFailed { .. } => "transfer_failed",
            Effect::TransferSkipped { .. } => "transfer_skipped",
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
            Effect::Rejected { code, .. } | Effect::Failed { code, .. } | Effect::TransferFailed { code, .. } => {
                short(code)
            }
            _ => false,
        }) || self.writes.movements.iter().any(|m| m.kind == MovementKind::Oversold)
    }
}

pub(super) struct State<'a> {
    /// Stock as read, before this batch changed it in memory.
    pub(super) read_stock: HashMap<StockKey, i64>,
    pub(super) orders: HashMap<(TenantId, Uuid), LockedOrder>,
    pub(super) order_keys: HashMap<(TenantId, OrderId), (TenantId, Uuid)>,
    /// Each product's stock at the outlets the batch sells at or gives back to.
    pub(super) products: HashMap<StockKey, LockedProduct>,
    /// What each order still has sold, per product (a cancel gives it back).
    pub(super) sold: HashMap<(TenantId, OrderId), BTreeMap<ProductId, i64>>,
    pub(super) refunds: HashMap<(TenantId, RefundId), LockedRefund>,
    pub(super) refundable: HashMap<(TenantId, OrderId), Sold>,
    pub(super) transfers: HashMap<(TenantId, TransferId), LockedTransfer>,
    pub(super) pricing: &'a PricingData,
    pub(super) plan: Plan,
}
