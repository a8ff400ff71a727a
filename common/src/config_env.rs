//! Reading the configuration's variables: text, numbers, durations,
//! addresses, lists and secrets, each failing with the variable's name.

use super::{AppEnv, ConfigError, MIN_SECRET_BYTES, Secret};
use std::net::SocketAddr;
use std::time::Duration;

pub(super) fn invalid(name: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { name, message }
}

pub(super) struct Env<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    pub(super) fn text(&self, name: &str, default: &str) -> String {
        (self.0)(name).unwrap_or_else(|| default.to_owned())
    }

    pub(super) fn number<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        match (self.0)(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| invalid(name, format!("{v:?} is not a valid number"))),
        }
    }

    pub(super) fn duration(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let text = self.text(name, default);
        parse_duration(&text)
            .ok_or_else(|| invalid(name, format!("{text:?} is not a duration (e.g. 500ms, 5s, 2m, or milliseconds)")))
    }

    pub(super) fn durations(&self, name: &'static str, default: &str) -> Result<Vec<Duration>, ConfigError> {
        let text = self.text(name, default);
        text.split(',')
            .map(|part| parse_duration(part.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(name, format!("{text:?} is not a comma-separated list of durations")))
    }

    /// A comma-separated list (empty when unset).
    pub(super) fn list(&self, name: &str) -> Vec<String> {
        (self.0)(name)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub(super) fn addr(&self, name: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let text = self.text(name, default);
        text.parse().map_err(|_| invalid(name, format!("{text:?} is not host:port")))
    }

    pub(super) fn secret(&self, name: &'static str, dev_default: &str, env: AppEnv) -> Result<Secret, ConfigError> {
        match ((self.0)(name), env) {
            (None, AppEnv::Production) => Err(invalid(name, "is required in production".into())),
            (Some(v), AppEnv::Production) if v.len() < MIN_SECRET_BYTES => {
                Err(invalid(name, format!("must be at least {MIN_SECRET_BYTES} bytes in production")))
            }
            (Some(v), AppEnv::Production) if v.starts_with("dev-only-") => {
                Err(invalid(name, "is a documented development default; set a real secret in production".into()))
            }
            (Some(v), _) => Ok(Secret::new(v)),
            (None, _) => Ok(Secret::new(dev_default)),
        }
    }
}

/// `250ms`, `5s`, `2m`, `1h`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "" | "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}
