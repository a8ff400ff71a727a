//! Property tests for the decoders at the edges (proptest; cargo-fuzz
//! needs nightly): no input makes them panic, what they accept survives a
//! round trip, and extreme numbers are refused or land in range. The
//! routes' own numeric fields (products, discounts, members) have theirs
//! next to their validators in ingest (`routes/*_tests.rs`).

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use common::message::Message;
use common::order::{canonical_hash, parse_json, validate_order};
use proptest::prelude::*;
use serde_json::{Value, json};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().unwrap()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("clientOrderId".to_owned()),
                    Just("items".to_owned()),
                    Just("productId".to_owned()),
                    Just("quantity".to_owned()),
                    Just("price".to_owned()),
                    Just("payment".to_owned()),
                    Just("method".to_owned()),
                    Just("amount".to_owned()),
                    Just("createdAt".to_owned()),
                    "[a-zA-Z]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Integers at and beyond every edge, negatives, and floats where whole numbers belong.
fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(10_001)),
        Just(json!(1_000_000_000_001_i64)),
        Just(json!(1e300)),
        Just(json!(1.5)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
    ]
}

fn valid_order() -> Value {
    json!({
        "clientOrderId": "0193a1c4-5b7e-7c3d-9a10-2f4e6b8d0c11",
        "items": [{"productId": "0193a1c4-5b7e-7c3d-9a10-2f4e6b8d0c12", "quantity": 2, "price": 10000}],
        "discount": 0,
        "payment": {"method": "qris", "amount": 20000},
        "createdAt": "2026-11-25T11:00:00Z",
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_json_validates_or_is_refused_without_panicking(value in any_json()) {
        let _ = validate_order(value, now());
    }

    #[test]
    fn a_valid_order_with_one_field_replaced_never_panics(field in "clientOrderId|items|discount|payment|createdAt|notes|memberId", replacement in any_json()) {
        let mut order = valid_order();
        order[field.as_str()] = replacement;
        if let Ok(validated) = validate_order(order, now()) {
            // What is accepted re-validates to itself and hashes the same.
            let again = serde_json::to_value(&validated).unwrap();
            prop_assert_eq!(validate_order(again.clone(), now()).unwrap(), validated);
            prop_assert_eq!(canonical_hash(&again), canonical_hash(&serde_json::from_str::<Value>(&again.to_string()).unwrap()));
        }
    }

    #[test]
    fn extreme_numbers_in_an_order_are_refused_or_within_the_contract(
        field in "/items/0/quantity|/items/0/price|/payment/amount|/discount",
        number in extreme_number(),
    ) {
        let mut order = valid_order();
        *order.pointer_mut(&field).unwrap() = number;
        if let Ok(validated) = validate_order(order, now()) {
            let line = &validated.items[0];
            prop_assert!((1..=10_000).contains(&line.quantity));
            for money in [line.price, validated.payments[0].amount, validated.discount] {
                prop_assert!((0..=common::order::limits::MAX_AMOUNT).contains(&money.rupiah()));
            }
        }
    }

    #[test]
    fn extreme_numbers_as_a_discount_rate_are_refused_or_in_range(
        value_type in "percentage|fixed|other",
        number in extreme_number(),
    ) {
        let Value::Number(number) = number else { return Ok(()) };
        if let Ok(rate) = common::pricing::Rate::parse(&value_type, &number) {
            let stored = rate.stored();
            prop_assert!(stored > 0 && (value_type != "percentage" || stored <= 10_000));
        }
    }

    #[test]
    fn any_bytes_are_parsed_or_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_json(&bytes);
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn any_json_as_a_message_is_decoded_or_refused(value in any_json(), kind in "order\\.v1|cancel\\.v1|other") {
        let mut value = value;
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), Value::String(kind));
        }
        if let Ok(message) = Message::decode(value.to_string().as_bytes()) {
            prop_assert_eq!(Message::decode(&message.encode()).unwrap(), message);
        }
    }
}
