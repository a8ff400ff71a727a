//! The rows a batch has read, its orders locked, as the decide stage sees
//! them: the read stage fills them, the decide stage changes its copy in
//! memory. Types only, shared by both stages.

use common::ids::{OrderId, OutletId, ProductId, RefundId, TenantId, TransferId};
use common::money::Money;
use common::order::OrderStatus;
use std::collections::HashMap;
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
    /// Where it is sold: its stock is taken from, and given back to, this outlet.
    pub outlet_id: OutletId,
}

/// A product and its stock at one outlet, as read or locked by this batch
/// (the lock is on the outlet's stock row).
#[derive(Clone, Debug)]
pub struct LockedProduct {
    pub tenant_id: TenantId,
    pub outlet_id: OutletId,
    pub id: ProductId,
    pub price: Money,
    /// The outlet's stock of it.
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

/// The refunds a batch carries, and the orders they refund.
#[derive(Debug, Default)]
pub struct RefundData {
    pub refunds: Vec<LockedRefund>,
    /// Committed orders the batch's refunds name.
    pub sold: HashMap<(TenantId, OrderId), Sold>,
}

/// What a committed order sold and what its refunds took so far (shared
/// with ingest's refund quote, so both decide a refund alike).
pub use common::pricing::refund_quote::Sold;

/// Where a product's stock is kept: (shop, outlet, product).
pub type StockKey = (TenantId, OutletId, ProductId);

impl LockedProduct {
    pub fn key(&self) -> StockKey {
        (self.tenant_id, self.outlet_id, self.id)
    }
}

/// A stock transfer row as locked by this batch.
#[derive(Clone, Debug)]
pub struct LockedTransfer {
    pub tenant_id: TenantId,
    pub id: TransferId,
    pub status: TransferStatus,
    pub request_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferStatus {
    Pending,
    Committed,
    Failed,
}

impl TransferStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "committed" => Some(Self::Committed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Committed => "committed",
            Self::Failed => "failed",
        }
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
