//! Every metric a worker exports, declared here with bounded labels and
//! served at `/metrics` on the worker's own port: what happened to orders,
//! how long they took from acceptance to commit, how long batches waited
//! for product locks, what each delivery's outcome was, and the pool.

use crate::commit::Effect;
use crate::outcome::Outcome;
use metrics::{counter, gauge, histogram};
use std::time::Duration;

pub const ORDERS_TOTAL: &str = "warungin_orders_total";
pub const ORDER_DURATION: &str = "warungin_order_duration_seconds";
pub const STOCK_LOCK_WAIT: &str = "warungin_stock_lock_wait_seconds";
pub const BATCH_SIZE: &str = "warungin_worker_batch_size";
pub const BATCH_COMMIT: &str = "warungin_batch_commit_seconds";
pub const MESSAGES_TOTAL: &str = "warungin_messages_total";
pub const DEAD_LETTERS_TOTAL: &str = "warungin_dead_letters_total";
pub const STOCK_UPDATES_TOTAL: &str = "warungin_stock_updates_total";
/// Orders not applied, by rejection code (rejected online, or failed into review).
pub const REJECTIONS_TOTAL: &str = "warungin_order_rejections_total";
pub const ERRORS_TOTAL: &str = "warungin_errors_total";
pub const DB_POOL: &str = "warungin_db_pool_connections";
pub const DB_POOL_MAX: &str = "warungin_db_pool_max_connections";
/// Orders whose row was missing when their message arrived, recreated from
/// it: a restore from an older backup, or commits lost in a failover to an
/// asynchronous standby. Should stay at 0 with synchronous replication.
pub const ORDERS_RECREATED: &str = "warungin_orders_recreated_total";
/// Stock transfers decided, by outcome (transferred, transfer_failed, transfer_skipped).
pub const TRANSFERS_TOTAL: &str = "warungin_stock_transfers_total";
/// Refunds recreated from their message likewise (their row was missing).
pub const REFUNDS_RECREATED: &str = "warungin_refunds_recreated_total";

const STATUSES: &[&str] = &["committed", "rejected", "failed", "cancelled", "skipped"];
const OUTCOMES: &[&str] = &["ack", "retry", "dead_letter"];
const ERROR_KINDS: &[&str] = &[
    "commit_transient",
    "commit_permanent",
    "lock_timeout",
    "batch_split",
    "undecodable",
    "settle",
    "dead_letter_record",
];
const STOCK_KINDS: &[&str] = &["sale", "cancel", "oversold", "return", "transfer_out", "transfer_in"];
const TRANSFER_OUTCOMES: &[&str] = &["transferred", "transfer_failed", "transfer_skipped"];

/// Register every bounded series at zero, so dashboards and alerts see them from the start.
pub fn register() {
    common::metrics::install();
    for status in STATUSES {
        counter!(ORDERS_TOTAL, "status" => *status).absolute(0);
    }
    for outcome in OUTCOMES {
        counter!(MESSAGES_TOTAL, "outcome" => *outcome).absolute(0);
    }
    for kind in ERROR_KINDS {
        counter!(ERRORS_TOTAL, "kind" => *kind).absolute(0);
    }
    for kind in STOCK_KINDS {
        counter!(STOCK_UPDATES_TOTAL, "kind" => *kind).absolute(0);
    }
    for outcome in TRANSFER_OUTCOMES {
        counter!(TRANSFERS_TOTAL, "outcome" => *outcome).absolute(0);
    }
    counter!(ORDERS_RECREATED).absolute(0);
    counter!(REFUNDS_RECREATED).absolute(0);
    for kind in ["order", "raw"] {
        counter!(DEAD_LETTERS_TOTAL, "kind" => kind).absolute(0);
    }
    for code in common::order::RejectionCode::ALL {
        counter!(REJECTIONS_TOTAL, "code" => code.as_str()).absolute(0);
    }
}

/// What one committed batch did.
pub fn batch_committed(size: usize, took: Duration, lock_wait: Duration) {
    histogram!(BATCH_SIZE).record(size as f64);
    histogram!(BATCH_COMMIT).record(took.as_secs_f64());
    histogram!(STOCK_LOCK_WAIT).record(lock_wait.as_secs_f64());
}

pub fn effect(effect: &Effect, accepted_at: Option<chrono::DateTime<chrono::Utc>>) {
    let status = effect.kind();
    if let Effect::Transferred { .. } | Effect::TransferFailed { .. } | Effect::TransferSkipped { .. } = effect {
        counter!(TRANSFERS_TOTAL, "outcome" => status).increment(1);
        return;
    }
    counter!(ORDERS_TOTAL, "status" => status).increment(1);
    if let Effect::Rejected { code, .. } | Effect::Failed { code, .. } | Effect::RefundFailed { code, .. } = effect {
        counter!(REJECTIONS_TOTAL, "code" => code.as_str()).increment(1);
    }
    if let (Effect::Committed { .. }, Some(at)) = (effect, accepted_at) {
        let seconds = (chrono::Utc::now() - at).num_microseconds().unwrap_or(0) as f64 / 1e6;
        histogram!(ORDER_DURATION).record(seconds.max(0.0));
    }
}

pub fn recreated(orders: usize, refunds: usize) {
    counter!(ORDERS_RECREATED).increment(orders as u64);
    counter!(REFUNDS_RECREATED).increment(refunds as u64);
}

pub fn stock_moved(kind: &'static str, rows: usize) {
    counter!(STOCK_UPDATES_TOTAL, "kind" => kind).increment(rows as u64);
}

pub fn outcome(outcome: &Outcome) {
    let label = match outcome {
        Outcome::Ack => "ack",
        Outcome::Retry { .. } => "retry",
        Outcome::DeadLetter { .. } => "dead_letter",
    };
    counter!(MESSAGES_TOTAL, "outcome" => label).increment(1);
}

pub fn dead_letter_recorded(kind: &'static str) {
    counter!(DEAD_LETTERS_TOTAL, "kind" => kind).increment(1);
}

pub fn error(kind: &'static str) {
    counter!(ERRORS_TOTAL, "kind" => kind).increment(1);
}

/// Keep the pool gauges current (every few seconds until the process ends).
pub async fn watch_pool(pool: deadpool_postgres::Pool) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let status = pool.status();
        let in_use = status.size.saturating_sub(status.available);
        gauge!(DB_POOL, "state" => "in_use").set(in_use as f64);
        gauge!(DB_POOL, "state" => "idle").set(status.available as f64);
        gauge!(DB_POOL, "state" => "waiting").set(status.waiting as f64);
        gauge!(DB_POOL_MAX).set(status.max_size as f64);
    }
}
