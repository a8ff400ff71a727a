//! Reading an offline sync body (`{"deviceId", "orders": [...]}`, up to
//! 2 MiB) one order at a time: each order is parsed on its own and handed
//! to the caller, which validates it and keeps only what it needs, so the
//! whole body never exists as one JSON value. The checks and error classes
//! are those of `parse_json` + `from_value` on the whole body: not JSON or
//! a wrong type is malformed (400); unknown fields and NUL characters are
//! invalid (422); nesting deeper than `MAX_JSON_DEPTH` is malformed.

use super::request::{MAX_JSON_DEPTH, RequestError, classify, depth, nul_at};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A sync body's envelope, once its orders went to the caller.
#[derive(Debug, Default)]
pub struct SyncEnvelope {
    pub device_id: Option<String>,
    /// Orders in the body; past `max_orders` they are counted, not handed over.
    pub orders: usize,
}

/// Read `body`, handing each of its first `max_orders` orders to `on_order`
/// (with its index) as it is parsed.
pub fn read_sync_body(
    body: &[u8],
    max_orders: usize,
    on_order: impl FnMut(usize, Value),
) -> Result<SyncEnvelope, RequestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let seed = EnvelopeSeed { max_orders, on_order, nested: Ok(()) };
    let tracked = serde_path_to_error::Deserializer::new(&mut deserializer, &mut track);
    let read = seed.deserialize(tracked).and_then(|envelope| {
        deserializer.end()?;
        Ok(envelope)
    });
    match read {
        Ok((envelope, Ok(()))) => Ok(envelope),
        Ok((_, Err(refused))) => Err(refused),
        Err(error) if error.is_data() => Err(classify(track.path().to_string(), without_position(&error))),
        Err(error) => {
            Err(RequestError::Malformed { field: None, message: format!("request body is not valid JSON: {error}") })
        }
    }
}

/// serde_json's message without its " at line L column C" (the path says where).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

struct EnvelopeSeed<F> {
    max_orders: usize,
    on_order: F,
    /// A refusal found inside an order (too deep, a NUL): it ends the read.
    nested: Result<(), RequestError>,
}

impl<'de, F: FnMut(usize, Value)> DeserializeSeed<'de> for EnvelopeSeed<F> {
    type Value = (SyncEnvelope, Result<(), RequestError>);

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(usize, Value)> Visitor<'de> for EnvelopeSeed<F> {
    type Value = (SyncEnvelope, Result<(), RequestError>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with deviceId and orders")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = SyncEnvelope::default();
        let (mut device_seen, mut orders_seen) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            let seen = match key.as_str() {
                "deviceId" => &mut device_seen,
                "orders" => &mut orders_seen,
                other => return Err(de::Error::unknown_field(other, &["deviceId", "orders"])),
            };
            if std::mem::replace(seen, true) {
                return Err(de::Error::duplicate_field(if key == "orders" { "orders" } else { "deviceId" }));
            }
            match key.as_str() {
                "deviceId" => envelope.device_id = map.next_value::<Option<String>>()?,
                _ => {
                    let orders = OrdersSeed { max_orders: self.max_orders, on_order: &mut self.on_order };
                    let (count, nested) = map.next_value_seed(orders)?;
                    envelope.orders = count;
                    if self.nested.is_ok() {
                        self.nested = nested;
                    }
                }
            }
        }
        let nul = envelope.device_id.as_deref().is_some_and(|d| d.contains('\0'));
        if nul && self.nested.is_ok() {
            self.nested =
                Err(RequestError::Invalid(vec![super::FieldError::new("deviceId", "must not contain NUL characters")]));
        }
        Ok((envelope, self.nested))
    }
}

struct OrdersSeed<'f, F> {
    max_orders: usize,
    on_order: &'f mut F,
}

impl<'de, F: FnMut(usize, Value)> DeserializeSeed<'de> for OrdersSeed<'_, F> {
    type Value = (usize, Result<(), RequestError>);

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, F: FnMut(usize, Value)> Visitor<'de> for OrdersSeed<'_, F> {
    type Value = (usize, Result<(), RequestError>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((0, Ok(())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((0, Ok(())))
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut count, mut nested) = (0, Ok(()));
        while count < self.max_orders {
            let Some(order) = seq.next_element::<Value>()? else { return Ok((count, nested)) };
            if nested.is_ok() {
                nested = check_order(count, &order);
            }
            if nested.is_ok() {
                (self.on_order)(count, order);
            }
            count += 1;
        }
        // Past the limit: counted (the envelope check refuses the body), not kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok((count, nested))
    }
}

/// What `parse_json` refuses in a whole body, for one order inside it.
fn check_order(index: usize, order: &Value) -> Result<(), RequestError> {
    // The body object and the orders array hold it: two levels.
    if depth(order) + 2 > MAX_JSON_DEPTH {
        return Err(RequestError::Malformed {
            field: None,
            message: format!("request body nests more than {MAX_JSON_DEPTH} levels deep"),
        });
    }
    match nul_at(order, &format!("orders[{index}]")) {
        Some(field) => {
            Err(RequestError::Invalid(vec![super::FieldError::new(field, "must not contain NUL characters")]))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "sync_body_tests.rs"]
mod tests;
