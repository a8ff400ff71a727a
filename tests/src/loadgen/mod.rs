//! The load generator (`cargo run --release -p warungin-tests --bin
//! loadgen`): its own shop, virtual terminals driving the API, and a
//! summary ending with a stock audit. The fault-injection run reuses it.

pub mod drive;
pub mod report;
pub mod scenario;
pub mod setup;

pub use drive::{Plan, Tally, Target};
pub use report::{Summary, audit, drain, print, summarise};
pub use scenario::{Catalogue, Scenario};
