//! Reading a JSON request body at the door, with the contract's error
//! classes: not JSON or a value of the wrong JSON type is `malformed`
//! (400); well-formed but out of range, missing or unknown is `invalid`
//! (422) with every offending field named, whatever Rust type backs it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One offending field, by its JSON path (`items[2].quantity`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, or a value of the wrong JSON type.
    #[error("{message}")]
    Malformed { field: Option<String>, message: String },
    /// Well-formed but out of range, missing or unknown fields.
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// `createdAt` outside the offline window.
    #[error("{message}")]
    SaleTimeOutOfRange { message: String },
}

/// How deeply a request body may nest (an order is four levels deep).
pub const MAX_JSON_DEPTH: usize = 16;

/// Parse bytes as JSON (syntax only), refusing bodies nested absurdly deep.
pub fn parse_json(body: &[u8]) -> Result<Value, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestError::Malformed {
        field: None,
        message: format!("request body is not valid JSON: {e}"),
    })?;
    if depth(&value) > MAX_JSON_DEPTH {
        return Err(RequestError::Malformed {
            field: None,
            message: format!("request body nests more than {MAX_JSON_DEPTH} levels deep"),
        });
    }
    // PostgreSQL text cannot hold NUL, and no field has a use for it.
    if let Some(field) = nul_at(&value, "") {
        return Err(RequestError::Invalid(vec![FieldError::new(field, "must not contain NUL characters")]));
    }
    Ok(value)
}

/// The path of the first string (or key) holding a NUL character.
pub(crate) fn nul_at(value: &Value, path: &str) -> Option<String> {
    let here = || if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    match value {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_at(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if k.contains('\0') { Some(field) } else { nul_at(v, &field) }
        }),
        _ => None,
    }
}

pub(crate) fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Deserialize a JSON value into a wire type, classifying serde's error.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        classify(path, inner)
    })
}

pub(crate) fn classify(path: String, message: String) -> RequestError {
    let field = if path == "." { None } else { Some(path) };
    let unknown = message.starts_with("unknown field");
    let missing = message.starts_with("missing field");
    // serde says "invalid value" for a number that does not fit the Rust
    // type (a negative quantity into u32): that is a range error, not a type error.
    let out_of_range = message.starts_with("invalid value") || message.starts_with("invalid length");
    if unknown || missing || out_of_range {
        let field_name = match (&field, missing) {
            (Some(f), true) => format!("{f}.{}", quoted(&message)),
            (None, true) => quoted(&message).to_owned(),
            (Some(f), false) => f.clone(),
            (None, false) => quoted(&message).to_owned(),
        };
        let text = if unknown {
            "unknown field".to_owned()
        } else if missing {
            "is required".to_owned()
        } else {
            message
        };
        RequestError::Invalid(vec![FieldError::new(field_name, text)])
    } else {
        let message = match &field {
            Some(f) => format!("{f}: {message}"),
            None => message,
        };
        RequestError::Malformed { field, message }
    }
}

/// The first backquoted name in a serde message ("unknown field `foo`, ...").
fn quoted(message: &str) -> &str {
    message.split('`').nth(1).unwrap_or("body")
}

/// SHA-256 of a JSON value in canonical form (object keys sorted at every
/// level, no whitespace), so a resend that only reorders fields is the same
/// request. Independent of serde_json's `preserve_order` feature.
pub fn canonical_hash(value: &Value) -> [u8; 32] {
    let mut out = String::with_capacity(512);
    write_canonical(value, &mut out);
    Sha256::digest(out.as_bytes()).into()
}

/// Lower-case hex of a digest, as messages and logs carry it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        n: Option<u32>,
        inner: Option<Vec<Inner>>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        s: Option<String>,
    }

    #[test]
    fn wrong_json_type_is_malformed_with_path() {
        let err = from_value::<Probe>(json!({"inner": [{"s": 5}]})).err();
        assert!(matches!(err, Some(RequestError::Malformed { field: Some(f), .. }) if f == "inner[0].s"));
    }

    #[test]
    fn unknown_field_is_invalid_and_named() {
        let err = from_value::<Probe>(json!({"inner": [{"s": "x", "typo": 1}]})).err();
        assert_eq!(err, Some(RequestError::Invalid(vec![FieldError::new("inner[0].typo", "unknown field")])));
    }

    #[test]
    fn negative_into_unsigned_is_a_range_error() {
        let err = from_value::<Probe>(json!({"n": -1})).err();
        assert!(matches!(err, Some(RequestError::Invalid(f)) if f[0].field == "n"));
    }

    #[test]
    fn canonical_hash_ignores_key_order_but_not_values() {
        let a = json!({"a": 1, "b": {"x": [1, 2], "y": "z"}});
        let b = json!({"b": {"y": "z", "x": [1, 2]}, "a": 1});
        let c = json!({"b": {"y": "z", "x": [2, 1]}, "a": 1});
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&c));
    }
}
