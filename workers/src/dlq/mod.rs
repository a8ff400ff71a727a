//! The dead-letter side: recording every dead letter where operators can
//! see it (failed syncs for orders, dead_letters for anything else).

pub mod record;
