//! What ingest and workers share: configuration and telemetry, the domain
//! (money, ids, the validated order and refund, pricing), the message contract, the
//! broker topology and publisher, the database pool and migrations, and the
//! lists of servers (cluster nodes, primary and standbys) clients fail over between.

pub mod broker;
pub mod config;
pub mod db;
pub mod ids;
pub mod message;
pub mod metrics;
pub mod money;
pub mod order;
pub mod pricing;
pub mod refund;
pub mod replay;
pub mod servers;
pub mod shutdown;
pub mod telemetry;
pub mod transfer;

pub use money::Money;
