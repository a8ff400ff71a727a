//! Refunds at the door: the `RefundRequest` wire format, its validation,
//! and the validated refund that travels through the queue. What a refund
//! pays back is decided at commit (`common::pricing::refund`).

pub(crate) mod validate;

pub use validate::validate_refund;

use crate::ids::ProductId;
use crate::money::Money;
use crate::order::PaymentMethod;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Goods coming back: a product and how many of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

/// How money goes back. Without an amount, the line takes what the other
/// lines leave of the refund's amount (at most one line may omit it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayment {
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A refund request that passed validation at the door. Its lines are one
/// per product (a product named twice is summed), in product order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedRefund {
    pub client_refund_id: Uuid,
    pub items: Vec<RefundLine>,
    /// Empty: everything back by the order's first payment method (cash
    /// when it took cash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<RefundPayment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the refund was made at the till; the server's time when absent.
    pub created_at: DateTime<Utc>,
}
