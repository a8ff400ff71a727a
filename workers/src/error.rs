//! The workers' errors, and the one rule that sorts a failed commit into
//! transient (worth retrying later) or permanent (retrying cannot help).

use std::time::Duration;
use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {}", db_detail(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("commit invariant broken: {0}")]
    Invariant(String),
    #[error("the batch's transaction took longer than {0:?}")]
    Timeout(Duration),
    /// Stock read without a lock changed before the batch took it; the
    /// store redoes the batch with its products locked.
    #[error("stock changed while the batch was being decided")]
    StockMoved,
}

/// The server's message and code (tokio-postgres' own text is just "db error").
fn db_detail(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

impl StoreError {
    /// Database or connection unavailable, serialization failure, deadlock,
    /// lock or statement timeout: the same batch may well succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(error) => error.code().is_none_or(is_transient_state),
            StoreError::Pool(_) | StoreError::Timeout(_) | StoreError::StockMoved => true,
            StoreError::Invariant(_) => false,
        }
    }
}

impl StoreError {
    /// A failure one message of the batch may be the cause of (its rows
    /// held by someone else, a timeout, a deadlock, a permanent error),
    /// rather than the database being unavailable to every batch.
    pub fn is_batch_specific(&self) -> bool {
        let contention = [
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ];
        match self {
            StoreError::Db(error) => error.code().is_some_and(|c| contention.contains(c) || !is_transient_state(c)),
            StoreError::Timeout(_) | StoreError::Invariant(_) => true,
            StoreError::Pool(_) | StoreError::StockMoved => false,
        }
    }

    /// The server refused a write as read-only: it is a standby now (a
    /// demoted primary). Transient (the pool reconnects to the new primary);
    /// the connection itself must not be reused.
    pub fn is_read_only_server(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION))
    }

    /// A batch gave up waiting for a row lock (`lock_timeout`).
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE))
    }
}

fn is_transient_state(state: &SqlState) -> bool {
    let code = state.code();
    // 08 connection, 53 insufficient resources, 57 operator intervention
    // (statement timeout, shutdown), 58 system error.
    ["08", "53", "57", "58"].iter().any(|class| code.starts_with(class))
        || [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ]
        .contains(state)
}

/// Errors that stop a worker process from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid database URL: {0}")]
    DatabaseUrl(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_and_timeouts_are_transient_constraint_violations_are_not() {
        assert!(is_transient_state(&SqlState::T_R_DEADLOCK_DETECTED));
        assert!(is_transient_state(&SqlState::QUERY_CANCELED));
        assert!(is_transient_state(&SqlState::ADMIN_SHUTDOWN));
        assert!(is_transient_state(&SqlState::CONNECTION_FAILURE));
        assert!(is_transient_state(&SqlState::READ_ONLY_SQL_TRANSACTION));
        assert!(!is_transient_state(&SqlState::UNIQUE_VIOLATION));
        assert!(!is_transient_state(&SqlState::CHECK_VIOLATION));
        assert!(StoreError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!StoreError::Invariant("x".into()).is_transient());
    }
}
