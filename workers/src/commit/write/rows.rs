//! The rows one batch writes, gathered by the decide stage and written
//! set-based by this one: one statement per table per batch, whatever the
//! batch size.

use crate::commit::locked::StockKey;
use common::ids::{OrderId, OutletId, ProductId, RefundId, TenantId, TransferId};
use common::order::OrderStatus;
use common::pricing::refund_charges::Charged;
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementKind {
    Sale,
    Cancel,
    Oversold,
    /// Goods a refund brought back.
    Return,
    /// A transfer's goods leaving their outlet, and arriving at the other.
    TransferOut,
    TransferIn,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Sale => "sale",
            MovementKind::Cancel => "cancel",
            MovementKind::Oversold => "oversold",
            MovementKind::Return => "return",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Movement {
    pub tenant_id: TenantId,
    /// The outlet whose stock it moves.
    pub outlet_id: OutletId,
    pub product_id: ProductId,
    pub kind: MovementKind,
    pub delta: i64,
    /// What moved it: an order (its sale, cancel, refund) or a transfer.
    pub order_id: Option<OrderId>,
    pub refund_id: Option<RefundId>,
    pub transfer_id: Option<TransferId>,
}

/// A transfer decided: committed, or failed with a reason (kept for review).
#[derive(Clone, Debug)]
pub struct TransferRow {
    pub tenant_id: TenantId,
    pub transfer_id: TransferId,
    pub status: &'static str,
    pub code: Option<&'static str>,
    pub message: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ItemRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub line_no: i16,
    pub product_id: ProductId,
    pub quantity: i32,
    pub price: i64,
    pub line_total: i64,
}

#[derive(Clone, Debug)]
pub struct PaymentRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub line_no: i16,
    pub method: &'static str,
    pub amount: i64,
    pub change: i64,
    pub reference: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CommitRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub subtotal: i64,
    pub discount_total: i64,
    pub service_charge: i64,
    pub tax_base: i64,
    pub tax: i64,
    pub total: i64,
    pub rounding: i64,
    pub discounts: serde_json::Value,
    pub change: i64,
    pub message_id: Uuid,
}

/// A refund applied: its amount, and its payments in `refund_payments`.
#[derive(Clone, Debug)]
pub struct RefundRow {
    pub tenant_id: TenantId,
    pub refund_id: RefundId,
    pub amount: i64,
    /// Its part of the order's discounts, service charge, tax base and tax.
    pub charged: Charged,
}

#[derive(Clone, Debug)]
pub struct RefundPaymentRow {
    pub tenant_id: TenantId,
    pub refund_id: RefundId,
    pub line_no: i16,
    pub method: &'static str,
    pub amount: i64,
}

/// A refund that could not be applied (kept as a failed sync).
#[derive(Clone, Debug)]
pub struct RefundFailRow {
    pub tenant_id: TenantId,
    pub refund_id: RefundId,
    pub code: &'static str,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct RejectRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    /// `rejected` (online) or `failed` (offline, kept as a failed sync).
    pub status: OrderStatus,
    pub code: &'static str,
    pub message: String,
    pub message_id: Uuid,
}

#[derive(Clone, Debug)]
pub struct CancelRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub reason: String,
}

/// A failed sync opened, or failed again after a retry.
#[derive(Clone, Debug)]
pub struct FailedSyncRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub client_order_id: Uuid,
    /// Set for a refund's failed sync (one per refund, not per order).
    pub refund_id: Option<RefundId>,
    pub device_id: Option<String>,
    pub code: &'static str,
    pub message: String,
    pub request: serde_json::Value,
    /// Failures this batch adds (two failing retries of one order in a batch: 2).
    pub failures: i32,
}

/// A failed sync whose retry committed.
#[derive(Clone, Debug)]
pub struct ResolvedRow {
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub refund_id: Option<RefundId>,
}

#[derive(Debug, Default)]
pub struct Writes {
    /// Net stock change per product and outlet; one guarded UPDATE row each.
    pub stock: BTreeMap<StockKey, i64>,
    /// Per product and outlet, the least stock the batch's stock checks
    /// assumed it has; read without a lock, it is verified by the guarded
    /// UPDATE (also for a stock row whose net change is 0).
    pub stock_needed: BTreeMap<StockKey, i64>,
    pub movements: Vec<Movement>,
    pub items: Vec<ItemRow>,
    pub payments: Vec<PaymentRow>,
    pub commits: Vec<CommitRow>,
    pub rejections: Vec<RejectRow>,
    pub cancels: Vec<CancelRow>,
    pub failed_syncs: Vec<FailedSyncRow>,
    pub resolved: Vec<ResolvedRow>,
    pub refunds: Vec<RefundRow>,
    pub refund_payments: Vec<RefundPaymentRow>,
    pub refund_failures: Vec<RefundFailRow>,
    pub transfers: Vec<TransferRow>,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
            && self.rejections.is_empty()
            && self.cancels.is_empty()
            && self.refunds.is_empty()
            && self.refund_failures.is_empty()
            && self.transfers.is_empty()
    }

    pub fn move_stock(&mut self, key: StockKey, kind: MovementKind, delta: i64, order_id: OrderId) {
        self.record(key, kind, delta, Some(order_id), None);
    }

    /// A transfer's move of stock at one outlet.
    pub fn move_transferred(&mut self, key: StockKey, kind: MovementKind, delta: i64, transfer_id: TransferId) {
        self.record(key, kind, delta, None, Some(transfer_id));
    }

    fn record(
        &mut self,
        key: StockKey,
        kind: MovementKind,
        delta: i64,
        order_id: Option<OrderId>,
        transfer_id: Option<TransferId>,
    ) {
        *self.stock.entry(key).or_default() += delta;
        let (tenant_id, outlet_id, product_id) = key;
        self.movements.push(Movement {
            tenant_id,
            outlet_id,
            product_id,
            kind,
            delta,
            order_id,
            refund_id: None,
            transfer_id,
        });
    }

    /// The order's decision replaces any earlier one in this batch: its
    /// status is written once, by the last message that decided it.
    pub fn forget_rejection(&mut self, tenant_id: TenantId, order_id: OrderId) {
        self.rejections.retain(|r| (r.tenant_id, r.order_id) != (tenant_id, order_id));
    }

    /// Open a failed sync, or count one more failure on the one this batch already opens.
    pub fn fail_sync(&mut self, row: FailedSyncRow) {
        let key = |f: &FailedSyncRow| (f.tenant_id, f.order_id, f.refund_id);
        let same = |f: &&mut FailedSyncRow| key(f) == key(&row);
        match self.failed_syncs.iter_mut().find(|f| same(f)) {
            Some(existing) => *existing = FailedSyncRow { failures: existing.failures + row.failures, ..row },
            None => self.failed_syncs.push(row),
        }
    }
}
