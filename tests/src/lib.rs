//! The end-to-end test harness: `Pipeline` gives each test its own
//! database, queue prefix, ingest and workers against the real services;
//! `api` drives it over HTTP; `checks` waits on conditions and asserts the
//! invariants every test ends with.

pub mod api;
pub mod bench;
pub mod broker;
pub mod browser;
pub mod chaos;
pub mod checks;
pub mod commit;
pub mod db;
pub mod loadgen;
pub mod pipeline;
pub mod proxy;

pub use api::{Reply, Tenant, order, uuid};
pub use checks::eventually;
pub use pipeline::{Options, Pipeline, Process, WorkerProcess, binary, free_port};

/// Logs of the components under test, when `TEST_LOG` is set (e.g. `info`).
pub fn init_logging() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}
