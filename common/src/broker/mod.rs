//! RabbitMQ: the nodes a client connects to, the topology every process
//! declares, message headers, and the confirm-mode publisher. Consumers
//! live in the workers crate.

pub mod headers;
pub mod nodes;
pub mod publisher;
pub mod topology;

pub use nodes::Nodes;
pub use nodes::connect_named as connect;
pub use publisher::{Backoff, PublishError, Publisher, Target};
pub use topology::{ORDER_ROUTING_KEY, Topology};
