//! The personal-data retention sweep (UU PDP): members who neither bought
//! nor were changed for `MEMBER_RETENTION_DAYS` are erased (name, phone and
//! email go; id, orders and totals stay), and the raw requests of failed
//! syncs and dead letters resolved or discarded more than
//! `REVIEW_RETENTION_DAYS` ago lose members' personal fields. Both are
//! database functions, idempotent and bounded per pass, so every worker may
//! run the sweep at once.

use common::shutdown::Shutdown;
use deadpool_postgres::Pool;
use std::time::Duration;

/// Members erased per pass at most; a backlog goes in later passes.
const MEMBERS_PER_PASS: i32 = 500;

#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub members: Duration,
    pub reviews: Duration,
    pub every: Duration,
}

/// What one pass changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub members_erased: i64,
    pub failed_syncs_stripped: i64,
    pub dead_letters_stripped: i64,
}

pub async fn run(pool: Pool, retention: Retention, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(retention.every.max(Duration::from_millis(100)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match sweep(&pool, retention).await {
            Ok(swept) if swept == Swept::default() => {}
            Ok(swept) => tracing::info!(
                members_erased = swept.members_erased,
                failed_syncs_stripped = swept.failed_syncs_stripped,
                dead_letters_stripped = swept.dead_letters_stripped,
                "personal data past retention removed"
            ),
            Err(error) => tracing::warn!(%error, "retention sweep failed; will try again"),
        }
    }
}

pub async fn sweep(pool: &Pool, retention: Retention) -> Result<Swept, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    let members: i64 = client
        .query_one(
            "SELECT platform_erase_inactive_members(make_interval(secs => $1), $2)",
            &[&retention.members.as_secs_f64(), &MEMBERS_PER_PASS],
        )
        .await?
        .get(0);
    let stripped = client
        .query_one(
            "SELECT * FROM platform_remove_personal_data(make_interval(secs => $1))",
            &[&retention.reviews.as_secs_f64()],
        )
        .await?;
    Ok(Swept {
        members_erased: members,
        failed_syncs_stripped: stripped.get(0),
        dead_letters_stripped: stripped.get(1),
    })
}
