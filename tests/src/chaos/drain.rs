//! Draining after the load, until no order or refund of the shop is
//! pending and no queue holds a ready message. The wait follows the
//! backlog: at least `--drain`, and while the backlog shrinks as long as
//! the measured drain rate says it needs (twice its estimate, at most
//! `LONGEST`); a backlog that stops shrinking for `STALL` is stuck. The
//! backlog is printed when the load stops and every 10 s while draining
//! (pending rows, each queue's ready messages, the rate), so a run that
//! does not drain says where its orders are.

use super::system::System;
use std::time::{Duration, Instant};

/// The longest a drain may take, however fast it goes.
const LONGEST: Duration = Duration::from_secs(1800);
/// No progress for this long: stuck, not slow.
const STALL: Duration = Duration::from_secs(120);

/// What is left to apply.
struct Backlog {
    pending_orders: i64,
    pending_refunds: i64,
    /// Ready messages per queue (only queues that hold some).
    queues: Vec<(String, u32)>,
}

impl Backlog {
    fn total(&self) -> i64 {
        self.pending_orders + self.pending_refunds + self.queues.iter().map(|(_, n)| i64::from(*n)).sum::<i64>()
    }

    fn line(&self) -> String {
        let queues: Vec<String> = self.queues.iter().map(|(q, n)| format!("{q} {n}")).collect();
        let queues = if queues.is_empty() { "none".to_owned() } else { queues.join(", ") };
        format!("{} orders and {} refunds pending; ready messages: {queues}", self.pending_orders, self.pending_refunds)
    }
}

async fn backlog(system: &System, tenant: uuid::Uuid) -> Backlog {
    let (pending_orders, pending_refunds): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders WHERE tenant_id = $1 AND status = 'pending'),
                (SELECT count(*) FROM refunds WHERE tenant_id = $1 AND status = 'pending')",
    )
    .bind(tenant)
    .fetch_one(&system.pipeline.db)
    .await
    .unwrap_or((-1, -1));
    let broker = &system.pipeline.broker;
    let mut queues = Vec::new();
    for queue in broker.topology.all_queues() {
        match broker.depth(&queue).await {
            Ok((0, _)) => {}
            Ok((ready, _)) => queues.push((queue, ready)),
            // Unreadable (its node down): counted as not drained.
            Err(_) => queues.push((format!("{queue} (unreadable)"), 1)),
        }
    }
    Backlog { pending_orders, pending_refunds, queues }
}

/// Wait until the pipeline drained; false when it did not within the bound.
pub async fn drain(system: &System, tenant: uuid::Uuid, minimum: Duration) -> bool {
    let started = Instant::now();
    let first = backlog(system, tenant).await;
    eprintln!("chaos: backlog when the load stopped: {}", first.line());
    let (mut least, mut progressed) = (first.total(), Instant::now());
    let (mut bound, mut printed) = (minimum, Instant::now());
    loop {
        let now = backlog(system, tenant).await;
        if now.total() == 0 {
            return true;
        }
        let elapsed = started.elapsed();
        if now.total() < least {
            (least, progressed) = (now.total(), Instant::now());
        }
        let rate = (first.total() - now.total()) as f64 / elapsed.as_secs_f64().max(1.0);
        if rate > 0.0 && elapsed > Duration::from_secs(10) {
            let needed = elapsed + Duration::from_secs_f64(2.0 * now.total() as f64 / rate);
            bound = bound.max(needed.min(LONGEST));
        }
        if printed.elapsed() >= Duration::from_secs(10) {
            printed = Instant::now();
            eprintln!(
                "chaos: draining {:.0} s: {}; {rate:.0}/s drained, bound {:.0} s",
                elapsed.as_secs_f64(),
                now.line(),
                bound.as_secs_f64()
            );
        }
        if progressed.elapsed() > STALL {
            eprintln!("chaos: stuck: nothing drained for {} s: {}", STALL.as_secs(), now.line());
            return false;
        }
        if elapsed > bound {
            eprintln!("chaos: not drained within {:.0} s: {}", bound.as_secs_f64(), now.line());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
