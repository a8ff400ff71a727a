//! Whether the holder of a valid token may still act: its user is active at
//! the token's version (a role change, deactivation or password reset moves
//! the version) and its till is not revoked. PostgreSQL is the truth; Redis
//! shares what it says between the replicas, and each replica keeps an
//! answer for `LOCAL_TTL`. A change writes the new standing through to
//! Redis after its commit, so every replica refuses old tokens within
//! `LOCAL_TTL` of it, and a request costs a database round trip only when
//! neither cache knows its user.

use crate::http::error::ApiError;
use common::ids::{TenantId, UserId};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a replica trusts its own answer: the cut-off bound is this
/// (plus one Redis round trip), well inside the 5 s promised.
pub const LOCAL_TTL: Duration = Duration::from_secs(1);
/// How long Redis keeps an answer nobody changed (a bound if a write-through
/// was lost with Redis up; a change rewrites it at once).
const SHARED_TTL_SECS: u64 = 60;
/// Entries a replica keeps before it sweeps out the stale ones.
const LOCAL_MAX: usize = 50_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    User(Uuid),
    Device(Uuid),
}

/// A user's token version and whether they are active; a till has version 0
/// and is active until revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub version: i64,
    pub active: bool,
}

impl Standing {
    fn encode(self) -> String {
        format!("{}:{}", self.version, u8::from(self.active))
    }

    fn decode(text: &str) -> Option<Standing> {
        let (version, active) = text.split_once(':')?;
        Some(Standing { version: version.parse().ok()?, active: active == "1" })
    }
}

pub struct Sessions {
    db: PgPool,
    redis: Option<ConnectionManager>,
    namespace: String,
    local: Mutex<HashMap<Subject, (Standing, Instant)>>,
    /// Turns to look a standing up, by subject's stripe: a burst of requests
    /// of one user (a till's sync at opening) makes one lookup, not one each.
    lookups: [tokio::sync::Mutex<()>; LOOKUP_STRIPES],
}

const LOOKUP_STRIPES: usize = 16;

impl Sessions {
    pub fn new(db: PgPool, redis: Option<ConnectionManager>, namespace: &str) -> Self {
        let lookups = std::array::from_fn(|_| tokio::sync::Mutex::new(()));
        Self { db, redis, namespace: namespace.to_owned(), local: Mutex::default(), lookups }
    }

    /// A user token issued at `version` may act.
    pub async fn user_may_act(&self, tenant: TenantId, user: UserId, version: i64) -> Result<bool, ApiError> {
        let standing = self.standing(tenant, Subject::User(user.0)).await?;
        Ok(standing.is_some_and(|s| s.active && s.version <= version))
    }

    /// A till may act (signed in and not revoked).
    pub async fn device_may_act(&self, tenant: TenantId, device: Uuid) -> Result<bool, ApiError> {
        Ok(self.standing(tenant, Subject::Device(device)).await?.is_some_and(|s| s.active))
    }

    /// After a committed change: every replica sees `standing` within `LOCAL_TTL`.
    pub async fn changed(&self, subject: Subject, standing: Standing) {
        self.remember(subject, standing);
        let Some(mut redis) = self.redis.clone() else { return };
        let set =
            redis::cmd("SET").arg(self.key(subject)).arg(standing.encode()).arg("EX").arg(SHARED_TTL_SECS).clone();
        let reply = tokio::time::timeout(crate::redis::TIMEOUT, set.query_async::<()>(&mut redis)).await;
        if !matches!(reply, Ok(Ok(()))) {
            // Other replicas then go on what Redis held (up to SHARED_TTL_SECS).
            tracing::error!(?subject, "could not share a session change through Redis");
        }
    }

    fn cached(&self, subject: Subject) -> Option<(Standing, Instant)> {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).get(&subject).copied()
    }

    async fn standing(&self, tenant: TenantId, subject: Subject) -> Result<Option<Standing>, ApiError> {
        let fresh = |cached: Option<(Standing, Instant)>| cached.filter(|(_, at)| at.elapsed() < LOCAL_TTL);
        if let Some((standing, _)) = fresh(self.cached(subject)) {
            return Ok(Some(standing));
        }
        let _turn = self.lookups[stripe(subject)].lock().await;
        // Whoever held the turn before may have looked this subject up.
        let cached = self.cached(subject);
        if let Some((standing, _)) = fresh(cached) {
            return Ok(Some(standing));
        }
        if let Some(standing) = self.shared(subject).await {
            self.remember(subject, standing);
            return Ok(Some(standing));
        }
        match self.load(tenant, subject).await {
            Ok(Some(standing)) => {
                self.share_if_absent(subject, standing).await;
                self.remember(subject, standing);
                Ok(Some(standing))
            }
            Ok(None) => Ok(None),
            // The database is away: the last answer this replica had stands.
            Err(error) => cached.map(|(standing, _)| Some(standing)).ok_or(error),
        }
    }

    async fn load(&self, tenant: TenantId, subject: Subject) -> Result<Option<Standing>, ApiError> {
        let mut tx = common::db::tenant_tx(&self.db, &[tenant.0]).await?;
        let row: Option<(i64, bool)> = match subject {
            Subject::User(id) => {
                sqlx::query_as("SELECT token_version, is_active FROM users WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            Subject::Device(id) => {
                sqlx::query_as("SELECT 0::bigint, revoked_at IS NULL FROM devices WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(row.map(|(version, active)| Standing { version, active }))
    }

    async fn shared(&self, subject: Subject) -> Option<Standing> {
        let mut redis = self.redis.clone()?;
        let get = redis::cmd("GET").arg(self.key(subject)).clone();
        let reply = tokio::time::timeout(crate::redis::TIMEOUT, get.query_async::<Option<String>>(&mut redis)).await;
        reply.ok()?.ok()?.as_deref().and_then(Standing::decode)
    }

    /// NX: a standing read from the database before a change committed must
    /// not overwrite the change's own write-through.
    async fn share_if_absent(&self, subject: Subject, standing: Standing) {
        let Some(mut redis) = self.redis.clone() else { return };
        let set = redis::cmd("SET")
            .arg(self.key(subject))
            .arg(standing.encode())
            .arg("EX")
            .arg(SHARED_TTL_SECS)
            .arg("NX")
            .clone();
        let _ = tokio::time::timeout(crate::redis::TIMEOUT, set.query_async::<Option<String>>(&mut redis)).await;
    }

    fn remember(&self, subject: Subject, standing: Standing) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() >= LOCAL_MAX {
            local.retain(|_, (_, at)| at.elapsed() < LOCAL_TTL);
        }
        local.insert(subject, (standing, Instant::now()));
    }

    fn key(&self, subject: Subject) -> String {
        match subject {
            Subject::User(id) => format!("{}:session:user:{id}", self.namespace),
            Subject::Device(id) => format!("{}:session:device:{id}", self.namespace),
        }
    }
}

fn stripe(subject: Subject) -> usize {
    let id = match subject {
        Subject::User(id) | Subject::Device(id) => id,
    };
    // The id's last byte is random in v4 and v7 alike.
    usize::from(id.as_bytes()[15]) % LOOKUP_STRIPES
}

#[cfg(test)]
mod tests {
    use super::Standing;

    #[test]
    fn a_standing_reads_back_as_written_and_garbage_reads_as_nothing() {
        for standing in [Standing { version: 0, active: true }, Standing { version: 41, active: false }] {
            assert_eq!(Standing::decode(&standing.encode()), Some(standing));
        }
        assert_eq!(Standing::decode("x:1"), None);
        assert_eq!(Standing::decode("7"), None);
    }
}
