//! The commit path's PostgreSQL pool (deadpool + tokio-postgres: pipelined
//! statements and cached prepared statements per connection). Every
//! session gets statement and lock timeouts, so a stuck lock becomes a
//! transient error and a retry instead of a stalled worker.
//!
//! `DATABASE_URL` may list a primary and its standbys (`common::servers`):
//! tokio-postgres then tries them in order and keeps only a server that
//! accepts writes (`target_session_attrs=read-write`), so after a failover
//! every new connection goes to the new primary. A connection that finds
//! its server read-only (demoted) is taken out of the pool, never reused
//! (`handler`).

use crate::error::StartError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, TargetSessionAttrs};

pub fn pool(url: &str, size: usize, transaction_timeout: Duration) -> Result<Pool, StartError> {
    let mut config = servers_config(url)?;
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

/// One tokio-postgres configuration for every server of `url`, writes only
/// when there are several.
fn servers_config(url: &str) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
    let servers = common::servers::split(url);
    let mut config: tokio_postgres::Config = servers.first().map_or(url, String::as_str).parse()?;
    if servers.len() < 2 {
        return Ok(config);
    }
    if config.get_ports().is_empty() {
        config.port(5432);
    }
    for server in &servers[1..] {
        let other: tokio_postgres::Config = server.parse()?;
        for (index, host) in other.get_hosts().iter().enumerate() {
            match host {
                Host::Tcp(name) => config.host(name),
                Host::Unix(path) => config.host_path(path),
            };
            config.port(other.get_ports().get(index).or(other.get_ports().first()).copied().unwrap_or(5432));
        }
    }
    config.target_session_attrs(TargetSessionAttrs::ReadWrite);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_servers_become_one_config_that_wants_the_primary() {
        for url in [
            "postgres://app@a:5441,b:5442/shop",
            "postgres://app@a:5441/shop,postgres://app@b:5442/shop?target_session_attrs=read-write",
        ] {
            let config = servers_config(url).expect("parses");
            assert_eq!(config.get_hosts(), [Host::Tcp("a".into()), Host::Tcp("b".into())], "{url}");
            assert_eq!(config.get_ports(), [5441, 5442]);
            assert_eq!(config.get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
            assert_eq!(config.get_dbname(), Some("shop"));
        }
        let config = servers_config("postgres://app@a,b/shop").expect("parses");
        assert_eq!(config.get_ports(), [5432, 5432]);
        let one = servers_config("postgres://app@a:5441/shop").expect("parses");
        assert_eq!(one.get_target_session_attrs(), TargetSessionAttrs::Any);
    }
}
