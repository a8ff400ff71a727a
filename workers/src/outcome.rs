//! What becomes of a delivery, decided in one place: acknowledge it, retry
//! it after a delay, or dead-letter it with a reason. Nothing is dropped
//! silently and nothing loops forever: transient failures get a bounded
//! number of attempts through the delay queues, then the dead-letter queue.
//! The one exception waits on purpose: a refund of an order not applied yet
//! goes round the longest delay until its order is decided (the order is
//! republished by the pending sweep, or waits for review), so it can never
//! run out of attempts before its order exists.

use common::order::RejectionCode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is committed (or there was nothing to do).
    Ack,
    /// Republish through delay queue `step`, then acknowledge.
    Retry { step: usize },
    /// Publish to the dead-letter exchange with a reason, then acknowledge.
    DeadLetter { code: &'static str, reason: String },
}

/// Why a delivery could not be handled.
#[derive(Clone, Copy, Debug)]
pub enum Failure<'a> {
    /// Not a message we can read: poison, straight to the dead-letter queue.
    Undecodable(&'a str),
    /// The database or broker is unavailable, a deadlock, a timeout.
    Transient(&'a str),
    /// The commit fails for this message alone and would fail again.
    Permanent(&'a str),
    /// The message waits for another one to be applied first (a refund for
    /// its order): retried with no attempt limit.
    Waiting(&'a str),
}

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all (first delivery included) before dead-lettering.
    pub max_attempts: u32,
    /// Delay queues available; later attempts reuse the last one.
    pub steps: usize,
}

/// `attempt` is the attempt that failed (1 for the first delivery).
pub fn decide(failure: Failure<'_>, attempt: u32, policy: RetryPolicy) -> Outcome {
    match failure {
        Failure::Undecodable(error) => Outcome::DeadLetter {
            code: RejectionCode::Malformed.as_str(),
            reason: format!("undecodable message: {error}"),
        },
        Failure::Permanent(error) => Outcome::DeadLetter {
            code: RejectionCode::Malformed.as_str(),
            reason: format!("could not be applied: {error}"),
        },
        Failure::Transient(error) if attempt >= policy.max_attempts => Outcome::DeadLetter {
            code: RejectionCode::RetriesExhausted.as_str(),
            reason: format!("gave up after {attempt} attempts; last error: {error}"),
        },
        Failure::Transient(_) | Failure::Waiting(_) => {
            let step = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
            Outcome::Retry { step: step.min(policy.steps.saturating_sub(1)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { max_attempts: 4, steps: 2 };

    #[test]
    fn transient_failures_walk_the_delay_queues_then_dead_letter() {
        let steps: Vec<_> = (1..=4).map(|attempt| decide(Failure::Transient("db down"), attempt, POLICY)).collect();
        assert_eq!(steps[0], Outcome::Retry { step: 0 });
        assert_eq!(steps[1], Outcome::Retry { step: 1 });
        assert_eq!(steps[2], Outcome::Retry { step: 1 });
        assert!(
            matches!(&steps[3], Outcome::DeadLetter { code: "retries_exhausted", reason } if reason.contains("db down"))
        );
    }

    #[test]
    fn a_waiting_message_never_runs_out_of_attempts() {
        assert_eq!(decide(Failure::Waiting("order pending"), 1, POLICY), Outcome::Retry { step: 0 });
        for attempt in [4, 5, 1_000] {
            assert_eq!(decide(Failure::Waiting("order pending"), attempt, POLICY), Outcome::Retry { step: 1 });
        }
    }

    #[test]
    fn poison_and_permanent_failures_dead_letter_at_once() {
        assert!(matches!(decide(Failure::Undecodable("x"), 1, POLICY), Outcome::DeadLetter { code: "malformed", .. }));
        assert!(matches!(decide(Failure::Permanent("x"), 1, POLICY), Outcome::DeadLetter { code: "malformed", .. }));
    }
}
