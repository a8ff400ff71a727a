use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

fn error_names(result: Result<Config, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError::Invalid { name, .. }) => name,
        Ok(_) => "ok",
    }
}

#[test]
fn development_defaults_work() {
    let c = config(&[]).unwrap();
    assert_eq!(c.env, AppEnv::Development);
    assert_eq!(c.ingest.addr.port(), 8080);
    assert_eq!(c.broker.retry_delays.len(), 5);
    assert_eq!(c.worker.max_attempts, 6);
    assert!(c.redis_url.is_some());
}

#[test]
fn production_refuses_missing_weak_or_default_secrets() {
    let strong = "x".repeat(40);
    let other = "y".repeat(40);
    let third = "z".repeat(40);
    assert_eq!(error_names(config(&[("APP_ENV", "production")])), "JWT_SECRET");
    assert_eq!(error_names(config(&[("APP_ENV", "production"), ("JWT_SECRET", "short")])), "JWT_SECRET");
    let with_default =
        [("APP_ENV", "production"), ("JWT_SECRET", &strong), ("JWT_REFRESH_SECRET", DEV_JWT_REFRESH_SECRET)];
    assert_eq!(error_names(config(&with_default)), "JWT_REFRESH_SECRET");
    let same = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", &strong),
        ("JWT_REFRESH_SECRET", &strong),
        ("INTERNAL_API_KEY", &third),
    ];
    assert_eq!(error_names(config(&same)), "JWT_SECRET");
    let good = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", &strong),
        ("JWT_REFRESH_SECRET", &other),
        ("INTERNAL_API_KEY", &third),
    ];
    assert_eq!(error_names(config(&good)), "ok");
}

#[test]
fn durations_and_numbers_are_checked() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("1500"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("soon"), None);
    assert_eq!(error_names(config(&[("ORDER_TRANSACTION_TIMEOUT", "soon")])), "ORDER_TRANSACTION_TIMEOUT");
    assert_eq!(error_names(config(&[("WORKER_PREFETCH", "-1")])), "WORKER_PREFETCH");
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let c = config(&[("JWT_SECRET", "super-secret-value")]).unwrap();
    assert!(!format!("{c:?}").contains("super-secret-value"));
}

#[test]
fn request_bounds_are_validated() {
    let c = config(&[]).unwrap();
    assert_eq!(c.ingest.max_concurrent_requests, 512);
    assert_eq!(
        (c.ingest.request_timeout, c.ingest.request_body_timeout),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    assert_eq!(error_names(config(&[("MAX_CONCURRENT_REQUESTS", "0")])), "MAX_CONCURRENT_REQUESTS");
    assert_eq!(error_names(config(&[("REQUEST_TIMEOUT", "5s")])), "REQUEST_TIMEOUT");
    assert_eq!(error_names(config(&[("REQUEST_BODY_TIMEOUT", "0")])), "REQUEST_BODY_TIMEOUT");
    assert_eq!(error_names(config(&[("REQUEST_BODY_TIMEOUT", "1m")])), "REQUEST_BODY_TIMEOUT");
    assert_eq!(error_names(config(&[("REQUEST_BODY_TIMEOUT", "2s")])), "ok");
    assert_eq!(c.ingest.admission.sync_uploads, 4);
    assert_eq!(error_names(config(&[("SYNC_MAX_CONCURRENT", "0")])), "SYNC_MAX_CONCURRENT");
}
