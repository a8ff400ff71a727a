//! The validated order: what has passed the door checks and travels through
//! the queue. Its JSON form is the contract's `OrderRequest` with `createdAt`
//! resolved, so a failed sync can hand the full request back to an operator.

use crate::ids::{ClientOrderId, ProductId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Limits of the contract (Orders section).
pub mod limits {
    pub const MAX_ITEMS: usize = 200;
    pub const MAX_QUANTITY: i64 = 10_000;
    pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
    pub const MAX_NOTES_CHARS: usize = 500;
    pub const MAX_REFERENCE_CHARS: usize = 200;
    /// Payment lines of one order or refund (split tender).
    pub const MAX_PAYMENTS: usize = 10;
    /// The longest a terminal may stay offline.
    pub const MAX_SALE_AGE_HOURS: i64 = 72;
    /// Clock skew tolerated on a terminal.
    pub const MAX_SALE_AHEAD_MINUTES: i64 = 5;
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(/// Where an order came from: a till online, or an offline sync batch.
    Source { Online = "online", Offline = "offline" });

string_enum!(/// The contract's order statuses.
OrderStatus {
    Pending = "pending",
    Committed = "committed",
    Rejected = "rejected",
    Failed = "failed",
    Cancelled = "cancelled",
});

string_enum!(/// Accepted payment methods.
PaymentMethod {
    Cash = "cash",
    Qris = "qris",
    Card = "card",
    BankTransfer = "bank_transfer",
    Ewallet = "ewallet",
});

string_enum!(/// Why an order was not applied (the contract's rejection codes).
RejectionCode {
    InsufficientStock = "insufficient_stock",
    UnknownProduct = "unknown_product",
    InactiveProduct = "inactive_product",
    PriceMismatch = "price_mismatch",
    PaymentMismatch = "payment_mismatch",
    RefundExceedsSold = "refund_exceeds_sold",
    RefundExceedsPaid = "refund_exceeds_paid",
    NotRefundable = "not_refundable",
    NegativeTotal = "negative_total",
    Malformed = "malformed",
    RetriesExhausted = "retries_exhausted",
});

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: u32,
    pub price: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// An order request that passed validation at the door. Its JSON is the
/// request's shape: one payment as `payment`, split tender as `payments`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "OrderWire")]
pub struct ValidatedOrder {
    pub client_order_id: ClientOrderId,
    pub outlet_id: Option<Uuid>,
    pub items: Vec<OrderLine>,
    pub member_id: Option<Uuid>,
    /// Manual discount in rupiah.
    pub discount: Money,
    /// One or more payments (split tender), in the order the till took them.
    pub payments: Vec<Payment>,
    /// Time of sale; the server's receipt time when the terminal sent none.
    pub created_at: DateTime<Utc>,
    pub notes: Option<String>,
    /// The cash shift the till had open (offline sales carry it).
    pub shift_id: Option<Uuid>,
}

impl Serialize for ValidatedOrder {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("clientOrderId", &self.client_order_id)?;
        if let Some(outlet) = &self.outlet_id {
            map.serialize_entry("outletId", outlet)?;
        }
        map.serialize_entry("items", &self.items)?;
        if let Some(member) = &self.member_id {
            map.serialize_entry("memberId", member)?;
        }
        map.serialize_entry("discount", &self.discount)?;
        match self.payments.as_slice() {
            [one] => map.serialize_entry("payment", one)?,
            split => map.serialize_entry("payments", split)?,
        }
        map.serialize_entry("createdAt", &self.created_at)?;
        if let Some(notes) = &self.notes {
            map.serialize_entry("notes", notes)?;
        }
        if let Some(shift) = &self.shift_id {
            map.serialize_entry("shiftId", shift)?;
        }
        map.end()
    }
}

/// A stored or queued order in either form: `payments` (since split
/// tender) or the single `payment` of `order.v1` messages and of orders
/// accepted before it, so neither needs migrating.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderWire {
    client_order_id: ClientOrderId,
    #[serde(default)]
    outlet_id: Option<Uuid>,
    items: Vec<OrderLine>,
    #[serde(default)]
    member_id: Option<Uuid>,
    #[serde(default)]
    discount: Money,
    #[serde(default)]
    payment: Option<Payment>,
    #[serde(default)]
    payments: Vec<Payment>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    shift_id: Option<Uuid>,
}

impl From<OrderWire> for ValidatedOrder {
    fn from(w: OrderWire) -> Self {
        let mut payments = w.payments;
        payments.extend(w.payment);
        ValidatedOrder {
            client_order_id: w.client_order_id,
            outlet_id: w.outlet_id,
            items: w.items,
            member_id: w.member_id,
            discount: w.discount,
            payments,
            created_at: w.created_at,
            notes: w.notes,
            shift_id: w.shift_id,
        }
    }
}

impl ValidatedOrder {
    /// Total quantity per product, in product-id order: what the order takes
    /// from stock (one product may appear on several lines).
    pub fn quantities_by_product(&self) -> Vec<(ProductId, i64)> {
        let mut totals = std::collections::BTreeMap::<ProductId, i64>::new();
        for line in &self.items {
            *totals.entry(line.product_id).or_default() += i64::from(line.quantity);
        }
        totals.into_iter().collect()
    }
}
