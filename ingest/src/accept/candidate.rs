//! What acceptance works on and answers with, shared by its steps and by
//! the routes that call it: an order as it arrived (validated and hashed),
//! the call it came with, the origin its pending row keeps, and the outcome.

use chrono::{DateTime, Utc};
use common::ids::{OrderId, SyncBatchId, TenantId, UserId};
use common::order::{OrderStatus, Source, ValidatedOrder};

/// An order as it arrives, validated and hashed.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub order: ValidatedOrder,
    pub request_hash: [u8; 32],
}

/// Where a call's candidates came from (shared by all of them).
#[derive(Clone, Debug)]
pub struct Origin {
    pub tenant_id: TenantId,
    pub source: Source,
    pub device_id: Option<String>,
    pub sync_batch_id: Option<SyncBatchId>,
    pub received_at: DateTime<Utc>,
    pub request_id: String,
    /// The signed-in cashier: an order is counted in their open cash shift.
    pub sold_by: Option<UserId>,
}

/// Where an admitted order came from, as stored with its pending row. A
/// resend republishes this, never its own origin: an online order resent by
/// the offline sync (or the reverse) is still judged as first sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrigin {
    pub source: Source,
    pub device_id: Option<String>,
    pub sync_batch_id: Option<SyncBatchId>,
    pub received_at: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Origin {
    /// What a new pending row stores of this call.
    pub fn stored(&self) -> StoredOrigin {
        StoredOrigin {
            source: self.source,
            device_id: self.device_id.clone(),
            sync_batch_id: self.sync_batch_id,
            received_at: self.received_at,
            request_id: Some(self.request_id.clone()),
        }
    }
}

/// An order durably queued (or known from before).
#[derive(Clone, Debug)]
pub struct Accepted {
    pub order_id: OrderId,
    /// The clientOrderId was already known (same body).
    pub duplicate: bool,
    /// Its status when admitted, when the admission knew it (not when Redis answered).
    pub status: Option<OrderStatus>,
}

/// The 409 for a clientOrderId already used by `order_id` with another body.
pub fn conflict(order_id: OrderId) -> crate::http::error::ApiError {
    crate::http::error::ApiError::conflict(
        "idempotency_conflict",
        format!("clientOrderId is already used by order {order_id} with a different body"),
    )
}
