//! Typed identifiers. They are UUIDs on the wire and in the database; the
//! newtypes keep a product id from being passed where an order id belongs.
//! New ids are UUIDv7 (time-ordered), which keeps B-tree inserts local.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(/// A shop: the unit of isolation.
    TenantId);
id_type!(/// A person who signs in to a shop.
    UserId);
id_type!(/// A product of a shop.
    ProductId);
id_type!(/// An outlet of a shop (a stall, a branch): it has its own stock.
    OutletId);
id_type!(/// An order, as the server knows it.
    OrderId);
id_type!(/// The terminal-made idempotency key of an order.
    ClientOrderId);
id_type!(/// A refund of some of an order's items, as the server knows it.
    RefundId);
id_type!(/// A move of stock from one outlet of a shop to another.
    TransferId);
id_type!(/// An offline sync batch.
    SyncBatchId);
id_type!(/// A failed sync under review.
    FailedSyncId);
id_type!(/// One message on the broker (a redelivery keeps it; a retry copy keeps it too).
    MessageId);
