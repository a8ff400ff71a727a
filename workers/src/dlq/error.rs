//! What can go wrong in an operator command, as the CLI reports it.

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the message broker is not reachable")]
    Broker,
    #[error("{0}")]
    Usage(String),
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}
