//! One Redis connection for everything ingest keeps there (duplicate
//! checks, rate limits). Connected lazily: Redis down at start-up is fine.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_millis(300);

pub fn connect(url: Option<&str>) -> Option<ConnectionManager> {
    let client =
        redis::Client::open(url?).map_err(|e| tracing::warn!(%e, "invalid REDIS_URL; running without Redis")).ok()?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| tracing::warn!(%e, "Redis unavailable")).ok()
}
