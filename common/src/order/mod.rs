//! Orders at the door: the wire format, its validation, and the validated
//! order that travels through the queue.

pub mod model;
pub mod request;
pub mod sync_body;
pub mod validate;

pub use model::{OrderLine, OrderStatus, Payment, PaymentMethod, RejectionCode, Source, ValidatedOrder, limits};
pub use request::{FieldError, RequestError, canonical_hash, from_value, hex, parse_json};
pub use sync_body::{SyncEnvelope, read_sync_body};
pub use validate::validate_order;
