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

fn decode(name: &str) -> Message {
    Message::decode(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn order_v2_round_trips_with_split_tender() {
    let Message::Order(order) = round_trip("order.v2.json") else { panic!("not an order") };
    assert_eq!(order.order.items.len(), 2);
    assert_eq!(order.order.discount.rupiah(), 500);
    assert_eq!(order.order.payments.len(), 2);
    assert!(order.replay.is_none());
}

/// A v1 order (one `payment`) still decodes, into the same order as v2
/// with that payment first: workers read both while ingest upgrades.
#[test]
fn order_v1_decodes_as_an_order_with_one_payment() {
    let (Message::Order(v1), Message::Order(mut v2)) = (decode("order.v1.json"), decode("order.v2.json")) else {
        panic!("not orders")
    };
    v2.order.payments.truncate(1);
    assert_eq!(v1, v2);
    let Message::Order(replay) = decode("order.v1.replay.json") else { panic!("not an order") };
    assert!(replay.replay.is_some_and(|r| r.allow_oversell && !r.accept_client_prices));
    assert_eq!(replay.order.payments.len(), 1);
}

/// An order with one payment is published as `order.v1` (what the release
/// before split tender reads), byte for byte in the v1 shape; a split one
/// as `order.v2`.
#[test]
fn an_order_with_one_payment_is_published_as_v1_and_a_split_one_as_v2() {
    let v1 = round_trip("order.v1.json");
    assert_eq!(v1.kind(), "order.v1");
    assert!(v1.encode().starts_with(br#"{"type":"order.v1""#));
    let v2 = round_trip("order.v2.json");
    assert_eq!(v2.kind(), "order.v2");
    let Message::Order(mut one) = v2 else { panic!("not an order") };
    one.order.payments.truncate(1);
    let one = Message::Order(one);
    let encoded: Value = serde_json::from_slice(&one.encode()).unwrap();
    assert_eq!((encoded["type"].as_str(), encoded["order"].get("payments")), (Some("order.v1"), None));
    assert_eq!(Message::decode(&one.encode()).unwrap(), one);
}

#[test]
fn refund_v1_round_trips() {
    let Message::Refund(refund) = round_trip("refund.v1.json") else { panic!("not a refund") };
    assert_eq!(refund.refund.items[0].quantity, 1);
    assert_eq!(refund.refund.payments[1].amount, None);
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

#[test]
fn transfer_v1_round_trips() {
    let Message::Transfer(transfer) = round_trip("transfer.v1.json") else { panic!("not a transfer") };
    assert_eq!(transfer.transfer.items[0].quantity, 12);
    assert_ne!(transfer.transfer.from_outlet_id, transfer.transfer.to_outlet_id);
    assert!(transfer.replay.is_none());
}
