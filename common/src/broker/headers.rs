//! AMQP properties and headers of our messages: what a message carries
//! besides its body so that retries count attempts, dead letters say why,
//! and one request id follows an order from HTTP to commit.

use crate::message::Message;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};

/// Deliveries so far of this order through our retry queues (1 = first).
pub const ATTEMPT: &str = "x-attempt";
pub const REQUEST_ID: &str = "x-request-id";
pub const TENANT_ID: &str = "x-tenant-id";
/// Why a message was dead-lettered by a worker (a rejection code or `malformed`).
pub const FAILURE_CODE: &str = "x-failure-code";
pub const FAILURE_MESSAGE: &str = "x-failure-message";
/// The queue a dead letter came from.
pub const SOURCE_QUEUE: &str = "x-source-queue";

/// Properties for a new message: persistent, JSON, typed, with tracing headers.
pub fn for_message(message: &Message, attempt: u32) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(attempt)));
    headers.insert(TENANT_ID.into(), AMQPValue::LongString(message.tenant_id().to_string().into()));
    if let Some(request_id) = message.request_id() {
        headers.insert(REQUEST_ID.into(), AMQPValue::LongString(request_id.into()));
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_type(message.kind().into())
        .with_message_id(message.message_id().to_string().into())
        .with_timestamp(u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0))
        .with_headers(headers)
}

/// The attempt number a delivery carries (1 when absent).
pub fn attempt(properties: &BasicProperties) -> u32 {
    match header(properties, ATTEMPT) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(1).max(1),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(1).max(1),
        _ => 1,
    }
}

pub fn header<'a>(properties: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(&ShortString::from(key))
}

/// A header as text, when it is one.
pub fn text(properties: &BasicProperties, key: &str) -> Option<String> {
    match header(properties, key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The same properties with some headers set (a retry copy, a dead letter).
pub fn with_headers(properties: &BasicProperties, set: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    for (key, value) in set {
        headers.insert((*key).into(), value.clone());
    }
    properties.clone().with_headers(headers).with_delivery_mode(2)
}

/// All headers as JSON, for recording a dead letter.
pub fn to_json(properties: &BasicProperties) -> serde_json::Value {
    let Some(headers) = properties.headers() else {
        return serde_json::json!({});
    };
    let map = headers.inner().iter().map(|(k, v)| (k.as_str().to_owned(), value_to_json(v))).collect();
    serde_json::Value::Object(map)
}

fn value_to_json(value: &AMQPValue) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        AMQPValue::LongString(s) => J::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => J::String(s.as_str().to_owned()),
        AMQPValue::Boolean(b) => J::Bool(*b),
        AMQPValue::LongLongInt(n) => J::from(*n),
        AMQPValue::LongInt(n) => J::from(*n),
        AMQPValue::ShortInt(n) => J::from(*n),
        AMQPValue::Timestamp(t) => J::from(*t),
        AMQPValue::FieldArray(items) => J::Array(items.as_slice().iter().map(value_to_json).collect()),
        AMQPValue::FieldTable(table) => {
            J::Object(table.inner().iter().map(|(k, v)| (k.as_str().to_owned(), value_to_json(v))).collect())
        }
        other => J::String(format!("{other:?}")),
    }
}
