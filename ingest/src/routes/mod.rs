//! The HTTP routes, one module per resource with its SQL.

pub mod admin;
pub mod auth;
pub mod failed_syncs;
pub mod health;
pub mod orders;
pub mod products;
pub mod sync;
pub mod users;
