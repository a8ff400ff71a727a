//! Commit: apply a batch of messages (orders, cancels, refunds) to
//! PostgreSQL in one transaction, in three stages, each with one module per
//! message kind:
//!
//! - `read`: lock the batch's orders (in id order, so concurrent batches
//!   cannot deadlock), read its products, refunds and what pricing needs;
//!   recreate rows a message names that the database lost;
//! - `decide`: every message in memory on the rows read (`locked`): pure;
//! - `write`: the rows decided, one set-based statement per table.
//!
//! `store` runs the three in one transaction and commits.

pub mod decide;
pub mod locked;
pub mod read;
pub mod store;
pub mod write;

pub use decide::{Effect, Plan};
