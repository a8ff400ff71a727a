//! Redis as a fast duplicate check. Postgres's unique key on (tenant,
//! clientOrderId) is the truth; Redis only remembers, for the offline
//! window, which orders were durably queued, so a terminal resending a
//! whole sync batch is answered without touching Postgres or the broker.
//! Without Redis (not configured, or down) every check goes to Postgres.

use common::ids::{OrderId, TenantId};
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// Longer than the longest offline window (72 h).
const REMEMBER_FOR_SECS: u64 = 4 * 24 * 3600;
use crate::redis::TIMEOUT;

#[derive(Clone)]
pub struct DuplicateCache {
    redis: Option<ConnectionManager>,
}

/// What Redis remembers of a queued order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remembered {
    pub order_id: OrderId,
    pub request_hash: String,
}

impl DuplicateCache {
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Self { redis }
    }

    pub fn enabled(&self) -> bool {
        self.redis.is_some()
    }

    /// `PING` within the timeout (health checks).
    pub async fn ping(&self) -> Result<(), String> {
        let mut redis = self.redis.clone().ok_or("not configured")?;
        let reply = tokio::time::timeout(TIMEOUT * 2, redis::cmd("PING").query_async::<String>(&mut redis)).await;
        match reply {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    pub async fn lookup(&self, tenant: TenantId, client_order_ids: &[Uuid]) -> Vec<Option<Remembered>> {
        let none = || vec![None; client_order_ids.len()];
        let Some(mut redis) = self.redis.clone() else {
            return none();
        };
        let keys: Vec<String> = client_order_ids.iter().map(|id| key(tenant, *id)).collect();
        let mut cmd = redis::cmd("MGET");
        cmd.arg(&keys);
        match tokio::time::timeout(TIMEOUT, cmd.query_async::<Vec<Option<String>>>(&mut redis)).await {
            Ok(Ok(values)) => values.into_iter().map(|v| v.and_then(|v| parse(&v))).collect(),
            Ok(Err(error)) => {
                tracing::debug!(%error, "duplicate check skipped: Redis error");
                none()
            }
            Err(_) => none(),
        }
    }

    /// Remember orders whose messages the broker confirmed: (tenant,
    /// clientOrderId, order, request hash), one pipeline for them all.
    pub async fn remember(&self, entries: &[(TenantId, Uuid, OrderId, String)]) {
        let Some(mut redis) = self.redis.clone() else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (tenant, client_order_id, order_id, hash) in entries {
            pipe.cmd("SET")
                .arg(key(*tenant, *client_order_id))
                .arg(format!("{order_id}:{hash}"))
                .arg("EX")
                .arg(REMEMBER_FOR_SECS)
                .ignore();
        }
        if let Ok(Err(error)) = tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(&mut redis)).await {
            tracing::debug!(%error, "could not remember orders in Redis");
        }
    }
}

fn key(tenant: TenantId, client_order_id: Uuid) -> String {
    format!("warungin:order:{tenant}:{client_order_id}")
}

fn parse(value: &str) -> Option<Remembered> {
    let (order_id, hash) = value.split_once(':')?;
    Some(Remembered { order_id: OrderId(Uuid::parse_str(order_id).ok()?), request_hash: hash.to_owned() })
}
