//! Test-only fault injection (`WORKER_FAULT`), refused in production. It
//! lets the test suite prove what happens when a worker dies at the worst
//! moment, and that the checks would catch a broken build.

use common::config::AppEnv;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process after a batch committed, before any ack.
    CrashAfterCommit,
    /// A deliberately broken build: ack every delivery on receipt, before
    /// its commit (what `no_ack` consuming would do). The fault-injection
    /// checker must catch the orders it loses when such a worker dies.
    AckBeforeCommit,
}

impl Fault {
    pub fn from_env(env: AppEnv) -> Option<Fault> {
        let value = std::env::var("WORKER_FAULT").ok()?;
        if env == AppEnv::Production {
            tracing::error!(value, "WORKER_FAULT is ignored in production");
            return None;
        }
        match value.as_str() {
            "crash_after_commit" => Some(Fault::CrashAfterCommit),
            "ack_before_commit" => Some(Fault::AckBeforeCommit),
            other => {
                tracing::error!(value = other, "unknown WORKER_FAULT ignored");
                None
            }
        }
    }
}
