//! The HTTP routes, one module per resource with its SQL.

pub mod admin;
pub mod auth;
pub mod discounts;
pub mod failed_syncs;
pub mod health;
pub mod maintenance;
pub mod members;
pub mod ops;
pub mod orders;
pub mod products;
pub mod reports;
pub mod sync;
pub mod users;

#[cfg(test)]
pub(crate) mod extremes;
