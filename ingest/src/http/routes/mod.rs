//! The HTTP routes, one module per resource with its SQL, so that what a
//! resource checks, reads, writes and answers is read in one place. The
//! handlers (and `http::app`) are the only code that sees the whole
//! `AppState`; everything they call takes just what it needs.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod devices;
pub mod discounts;
pub mod failed_syncs;
pub mod health;
pub mod maintenance;
pub mod members;
pub mod ops;
pub mod orders;
pub mod outlets;
pub mod personal_data;
pub mod products;
pub mod refunds;
pub mod reports;
pub mod settings;
pub mod shifts;
pub mod stock_transfers;
pub mod sync;
pub mod users;

#[cfg(test)]
pub(crate) mod extremes;
