//! The nodes a client may connect to (`AMQP_URL` lists one, or every node
//! of a RabbitMQ cluster). A connection goes to the first node that
//! answers, starting from the node after the one last lost: a client leaves
//! a stopped or frozen node for the next instead of waiting on it again.
//! Our supervisors (the publisher's, each consumer's) open a new connection
//! through here every time one is lost, so every reconnect fails over.
//!
//! Every connection asks for heartbeats (`HEARTBEAT_SECS` unless the URL
//! sets `heartbeat=`): a node frozen mid-connection (SIGSTOP, a VM pause)
//! sends nothing, and lapin closes a connection that heard nothing for two
//! heartbeat intervals; RabbitMQ's default of 60 s would hold a consumer
//! on a dead node for two minutes.

use crate::servers;
use lapin::{Connection, ConnectionProperties};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Heartbeat interval asked for when the URL does not set one.
pub const HEARTBEAT_SECS: &str = "10";

#[derive(Debug)]
pub struct Nodes {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Nodes {
    pub fn new(setting: &str) -> Self {
        let urls = servers::split(setting)
            .into_iter()
            .map(|url| servers::with_default_param(&url, "heartbeat", HEARTBEAT_SECS))
            .collect();
        Self { urls, next: AtomicUsize::new(0) }
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// `host:port` of node `index`, for logs.
    pub fn host(&self, index: usize) -> &str {
        self.urls.get(index).map_or("", |url| servers::host_of(url))
    }

    /// Connect to the first node that answers; the connection and its node's index.
    pub async fn connect(&self, name: &str) -> Result<(Connection, usize), lapin::Error> {
        let count = self.urls.len().max(1);
        let start = self.next.load(Ordering::Relaxed);
        let mut last_error = None;
        for offset in 0..count {
            let index = (start + offset) % count;
            let Some(url) = self.urls.get(index) else { break };
            match connect_named(url, name).await {
                Ok(connection) => {
                    self.next.store(index, Ordering::Relaxed);
                    return Ok((connection, index));
                }
                Err(error) => {
                    if count > 1 {
                        tracing::warn!(node = self.host(index), %error, connection = name, "broker node did not answer; trying the next");
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into()))
    }

    /// The connection to node `index` was lost: the next connect starts after it.
    pub fn lost(&self, index: usize) {
        let count = self.urls.len().max(1);
        let _ = self.next.compare_exchange(index, (index + 1) % count, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Connect with a bounded wait and a name the broker shows (and tests close by).
pub async fn connect_named(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties)).await {
        Ok(result) => result,
        Err(_) => Err(lapin::ErrorKind::IOError(Arc::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connecting to the broker timed out",
        )))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_gets_heartbeats_and_losing_one_moves_to_the_next() {
        let nodes = Nodes::new("amqp://g:g@a:1,b:2/%2f?heartbeat=3,amqp://g:g@c:3/%2f");
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes.urls[0], "amqp://g:g@a:1/%2f?heartbeat=3");
        assert_eq!(nodes.urls[2], "amqp://g:g@c:3/%2f?heartbeat=10");
        assert_eq!(nodes.host(1), "b:2");
        nodes.lost(0);
        assert_eq!(nodes.next.load(Ordering::Relaxed), 1);
        // A stale report (another connection already moved on) changes nothing.
        nodes.lost(0);
        assert_eq!(nodes.next.load(Ordering::Relaxed), 1);
        nodes.lost(1);
        nodes.lost(2);
        assert_eq!(nodes.next.load(Ordering::Relaxed), 0);
    }
}
