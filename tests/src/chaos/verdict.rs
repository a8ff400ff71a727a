//! The checking phase: every check runs whatever the others did, and a
//! check that fails or times out (the database unreachable, the report
//! endpoint hanging) is a finding of its own (`failed_checks`, named in the
//! examples), never a crash: the run always ends with a verdict.

use super::checker::{self, History, Verdict};
use super::closed_day::{self, ClosedDay};
use super::refund_checks;
use crate::broker::TestBroker;
use crate::loadgen::Target;
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

/// The longest any one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// What the checks read.
pub struct Books<'a> {
    pub db: &'a PgPool,
    pub broker: &'a TestBroker,
    pub tenant: Uuid,
    pub initial: &'a HashMap<Uuid, i64>,
    /// The workers' logs (acknowledged orders recreated after a failover).
    pub logs: &'a Path,
}

/// Check the books against the history, the reports against the books, and
/// the workers' logs; each failure to check is a finding.
pub async fn check(
    history: &History,
    books: &Books<'_>,
    reports: &Target,
    closed_day: Result<&ClosedDay, &String>,
) -> Verdict {
    let checked =
        within(checker::check(history, books.db, books.broker, books.tenant, books.initial), "the books").await;
    let mut verdict = checked.unwrap_or_else(|why| {
        let mut v = Verdict::of_history(history);
        v.failed(why);
        v
    });
    match within(refund_checks::report_net(reports, books.db, books.tenant), "the daily reports").await {
        Ok((reported, net)) if reported != net => {
            verdict.report_mismatches += 1;
            verdict.note(format!("report: netCollected over the run's days {reported}, books {net}"));
        }
        Ok(_) => {}
        Err(why) => verdict.failed(why),
    }
    match closed_day {
        Ok(day) => match within(closed_day::changed(reports, day), "the closed day's report").await {
            Ok(None) => {}
            Ok(Some(now)) => {
                verdict.closed_day_changes += 1;
                verdict.note(format!("closed day {} changed: kept {}, now {now}", day.date, day.kept));
            }
            Err(why) => verdict.failed(why),
        },
        Err(why) => verdict.failed(why.clone()),
    }
    match within(super::outlets::misplaced(books.db, books.tenant), "the orders' outlets").await {
        Ok((misplaced, elsewhere)) => {
            (verdict.misplaced_orders, verdict.orders_at_other_outlets) = (misplaced, elsewhere)
        }
        Err(why) => verdict.failed(why),
    }
    match within(super::outlets::transfers(books.db, books.tenant), "the stock transfers").await {
        Ok((mismatches, committed, failed)) => {
            (verdict.transfer_mismatches, verdict.transfers_committed, verdict.transfers_failed) =
                (mismatches, committed, failed)
        }
        Err(why) => verdict.failed(why),
    }
    match within(super::shifts::check(reports, books.db, books.tenant), "the cash shifts").await {
        Ok(found) => {
            verdict.shifts_closed = found.closed;
            verdict.shifts_with_late_additions = found.with_late_additions;
            verdict.shift_mismatches = found.mismatches.len();
            for example in found.mismatches.into_iter().take(5) {
                verdict.note(example);
            }
        }
        Err(why) => verdict.failed(why),
    }
    if let Ok((refunds, cancels)) = within(closed_day_activity(books), "the closed day's activity").await {
        (verdict.closed_day_refunds, verdict.closed_day_cancels) = (refunds, cancels);
    }
    match checker::acknowledged_and_recreated(history, books.logs) {
        Ok(missing) => {
            verdict.acknowledged_missing_after_failover = missing.len();
            for id in missing.iter().take(5) {
                verdict.note(format!(
                    "acknowledged but missing after a failover (recreated from its message): client order {id}"
                ));
            }
        }
        Err(error) => verdict.failed(format!("the workers' logs could not be read: {error:#}")),
    }
    verdict
}

/// `check` bounded by `CHECK_TIMEOUT`; a failure says which check and why.
async fn within<T>(check: impl Future<Output = anyhow::Result<T>>, what: &str) -> Result<T, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("checking {what} failed: {error:#}")),
        Err(_) => Err(format!("checking {what} took over {} s", CHECK_TIMEOUT.as_secs())),
    }
}

/// The closed day's sales refunded, and cancelled, after it closed.
async fn closed_day_activity(books: &Books<'_>) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT count(*) FILTER (WHERE r.kind = 'refund'), count(*) FILTER (WHERE r.kind = 'cancel')
         FROM refunds r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
         WHERE r.tenant_id = $1 AND r.status = 'committed' AND o.device_id = 'chaos-closed-day'",
    )
    .bind(books.tenant)
    .fetch_one(books.db)
    .await?)
}
