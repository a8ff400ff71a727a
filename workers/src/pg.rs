//! The commit path's PostgreSQL pool (deadpool + tokio-postgres: pipelined
//! statements and cached prepared statements per connection). Every
//! session gets statement and lock timeouts, so a stuck lock becomes a
//! transient error and a retry instead of a stalled worker.

use crate::error::StartError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;

pub fn pool(url: &str, size: usize, transaction_timeout: Duration) -> Result<Pool, StartError> {
    let mut config: tokio_postgres::Config = url.parse()?;
    let millis = transaction_timeout.as_millis();
    config.options(format!(
        "-c statement_timeout={millis} -c lock_timeout={millis} -c idle_in_transaction_session_timeout={}",
        millis * 2
    ));
    if config.get_application_name().is_none() {
        config.application_name("warungin-worker");
    }
    config.connect_timeout(Duration::from_secs(5));
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()?)
}
