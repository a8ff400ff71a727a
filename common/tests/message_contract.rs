//! Golden fixtures of every released message version: they must keep
//! decoding, and encoding what they decode to must give the same JSON.
//! Never edit a released fixture; add a new one for a new version.

#![allow(clippy::unwrap_used)]

use common::message::Message;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn round_trip(name: &str) -> Message {
    let raw = fixture(name);
    let message = Message::decode(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected: Value = serde_json::from_slice(&raw).unwrap();
    let encoded: Value = serde_json::from_slice(&message.encode()).unwrap();
    assert_eq!(encoded, expected, "{name} does not re-encode to itself");
    message
}

#[test]
fn order_v1_round_trips() {
    let Message::Order(order) = round_trip("order.v1.json") else { panic!("not an order") };
    assert_eq!(order.order.items.len(), 2);
    assert_eq!(order.order.discount.rupiah(), 500);
    assert!(order.replay.is_none());
}

#[test]
fn order_v1_replay_round_trips() {
    let Message::Order(order) = round_trip("order.v1.replay.json") else { panic!("not an order") };
    assert!(order.replay.is_some_and(|r| r.allow_oversell && !r.accept_client_prices));
}

#[test]
fn cancel_v1_round_trips() {
    let message = round_trip("cancel.v1.json");
    assert_eq!(message.kind(), "cancel.v1");
}

#[test]
fn unknown_fields_are_tolerated_and_unknown_types_are_not() {
    let mut value: Value = serde_json::from_slice(&fixture("cancel.v1.json")).unwrap();
    value["addedInV2"] = Value::Bool(true);
    assert!(Message::decode(value.to_string().as_bytes()).is_ok());
    value["type"] = Value::String("cancel.v9".into());
    assert!(Message::decode(value.to_string().as_bytes()).is_err());
    assert!(Message::decode(b"\x00garbage").is_err());
}
