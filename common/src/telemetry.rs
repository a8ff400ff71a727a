//! Logging, set up once per process: structured JSON lines (or pretty text
//! with `LOG_FORMAT=pretty`) filtered by `LOG_LEVEL` (a `tracing` filter).

use crate::config::Config;
use tracing_subscriber::EnvFilter;

/// Crates whose debug and trace lines carry request or row values.
const NEVER_BELOW_INFO: &[&str] = &["tokio_postgres", "sqlx", "lapin", "amq_protocol", "redis", "hyper", "reqwest"];

pub fn init(config: &Config, service: &'static str) {
    let mut filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    // tokio-postgres logs every statement's parameters at debug: members'
    // names and phones, raw requests. Personal data never reaches a log
    // (UU PDP), whatever LOG_LEVEL asks for.
    for quiet in NEVER_BELOW_INFO {
        if let Ok(directive) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Logs go to stderr, so a command's output (the operator CLI's tables and
    // JSON) stays clean on stdout.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let result = if config.log_json {
        builder.json().flatten_event(true).with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::info!(service, env = ?config.env, "logging initialised");
    }
}
