//! Commit: apply a batch of order and cancel messages to PostgreSQL in one
//! transaction. The store locks the rows (orders, then products, each in id
//! order so concurrent batches cannot deadlock), the plan decides every
//! message in memory, and the store writes the result set-based and commits.

pub mod evaluate;
pub mod plan;
pub mod pricing_data;
pub mod read;
pub mod read_refunds;
pub mod recreate;
pub mod refund;
pub mod sql;
pub mod sql_refunds;
pub mod store;
pub mod writes;

pub use plan::Effect;
