//! The dead-letter side: recording every dead letter where operators can
//! see it (failed syncs for orders, dead_letters for anything else), and
//! the operator CLI that lists, shows, replays and discards them.

pub mod audit;
pub mod error;
pub mod listing;
pub mod operator;
pub mod record;
mod record_refund;
