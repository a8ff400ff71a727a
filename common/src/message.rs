//! The message contract between ingest and workers: a versioned, serde-tagged
//! envelope. Every message a worker may meet in a queue is a variant here, and
//! every released variant has a golden JSON fixture in `common/tests/fixtures/`
//! that must keep decoding: a worker of version N+1 reads what version N wrote.
//!
//! Unknown fields are tolerated (a newer writer may add optional ones); an
//! unknown `type` is undecodable and goes to the dead-letter queue.

use crate::ids::{FailedSyncId, MessageId, OrderId, RefundId, SyncBatchId, TenantId, TransferId, UserId};
use crate::order::{Source, ValidatedOrder};
use crate::refund::ValidatedRefund;
use crate::transfer::ValidatedTransfer;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
// A cancel is smaller than an order; all are decoded once per delivery and
// never held in bulk, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Message {
    /// Apply an order (first time, redelivery, or an operator's replay).
    /// v2: `order.payments` (split tender); v1 carried one `order.payment`
    /// and still decodes into the same order.
    #[serde(rename = "order.v2", alias = "order.v1")]
    Order(OrderMessage),
    /// Cancel a committed order and give its stock back.
    #[serde(rename = "cancel.v1")]
    Cancel(CancelMessage),
    /// Refund some of a committed order's items and return them to stock.
    #[serde(rename = "refund.v1")]
    Refund(RefundMessage),
    /// Move stock from one outlet to another.
    #[serde(rename = "transfer.v1")]
    Transfer(TransferMessage),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_batch_id: Option<SyncBatchId>,
    /// Hex SHA-256 of the request as sent; a message whose hash differs from
    /// the stored order's is stale and is not applied.
    pub request_hash: String,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Set only on an operator's retry of a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
    pub order: ValidatedOrder,
}

/// An operator's retry of a failed sync, with the overrides they chose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    pub failed_sync_id: Option<FailedSyncId>,
    /// Who asked (user id or operator name), for the failed sync's history.
    pub by: String,
    #[serde(default)]
    pub accept_client_prices: bool,
    #[serde(default)]
    pub allow_oversell: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelMessage {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub reason: String,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundMessage {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub order_id: OrderId,
    pub refund_id: RefundId,
    /// Hex SHA-256 of the request as sent, as for orders.
    pub request_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<UserId>,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Set only on an operator's retry of the refund's failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
    pub refund: ValidatedRefund,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferMessage {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub transfer_id: TransferId,
    /// Hex SHA-256 of the request as sent, as for orders.
    pub request_hash: String,
    pub requested_by: UserId,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Set only on a retry of a failed transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
    pub transfer: ValidatedTransfer,
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable message: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl Message {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(body)?)
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        let mut body = serde_json::to_vec(self).unwrap_or_default();
        // An order with one payment is what `order.v1` carried (the order
        // serializes it as `payment`): tagged so, a worker of the release
        // before split tender reads it during a rolling upgrade or an
        // image-only rollback. serde writes an internal tag first.
        const V2: &[u8] = br#"{"type":"order.v2""#;
        if self.kind() == "order.v1" && body.starts_with(V2) {
            body[V2.len() - 2] = b'1';
        }
        body
    }

    /// The AMQP `type` property, mirroring the tag `encode` writes.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Order(m) if m.order.payments.len() == 1 => "order.v1",
            Message::Order(_) => "order.v2",
            Message::Cancel(_) => "cancel.v1",
            Message::Refund(_) => "refund.v1",
            Message::Transfer(_) => "transfer.v1",
        }
    }

    pub fn message_id(&self) -> MessageId {
        match self {
            Message::Order(m) => m.message_id,
            Message::Cancel(m) => m.message_id,
            Message::Refund(m) => m.message_id,
            Message::Transfer(m) => m.message_id,
        }
    }

    pub fn tenant_id(&self) -> TenantId {
        match self {
            Message::Order(m) => m.tenant_id,
            Message::Cancel(m) => m.tenant_id,
            Message::Refund(m) => m.tenant_id,
            Message::Transfer(m) => m.tenant_id,
        }
    }

    /// The order the message is about (none: a stock transfer).
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Message::Order(m) => Some(m.order_id),
            Message::Cancel(m) => Some(m.order_id),
            Message::Refund(m) => Some(m.order_id),
            Message::Transfer(_) => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            Message::Order(m) => m.request_id.as_deref(),
            Message::Cancel(m) => m.request_id.as_deref(),
            Message::Refund(m) => m.request_id.as_deref(),
            Message::Transfer(m) => m.request_id.as_deref(),
        }
    }
}
