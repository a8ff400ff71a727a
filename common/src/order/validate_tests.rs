use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00+07:00").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn valid() -> Value {
    json!({
        "clientOrderId": "0193a1c4-5b7e-7c3d-9a10-2f4e6b8d0c11",
        "items": [{"productId": "0193a1c4-5b7e-7c3d-9a10-2f4e6b8d0c12", "quantity": 2, "price": 10000}],
        "payment": {"method": "cash", "amount": 20000}
    })
}

fn invalid_fields(value: Value) -> Vec<String> {
    match validate_order(value, now()) {
        Err(RequestError::Invalid(fields)) => fields.into_iter().map(|f| f.field).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn accepts_a_minimal_order_and_defaults_sale_time_to_now() {
    let order = validate_order(valid(), now()).expect("valid");
    assert_eq!(order.created_at, now());
    assert_eq!(order.discount, Money::ZERO);
    assert_eq!(order.items[0].quantity, 2);
}

#[test]
fn names_every_offending_field() {
    let mut v = valid();
    v["items"][0]["quantity"] = json!(0);
    v["items"][0]["price"] = json!(-5);
    v["payment"]["method"] = json!("barter");
    v["clientOrderId"] = json!("not-a-uuid");
    let fields = invalid_fields(v);
    assert_eq!(fields, ["clientOrderId", "items[0].quantity", "items[0].price", "payment.method"]);
}

#[test]
fn empty_items_and_too_many_items_are_invalid() {
    let mut v = valid();
    v["items"] = json!([]);
    assert_eq!(invalid_fields(v.clone()), ["items"]);
    let item = valid()["items"][0].clone();
    v["items"] = Value::Array(vec![item; 201]);
    assert_eq!(invalid_fields(v), ["items"]);
}

#[test]
fn fractional_and_huge_numbers_are_range_errors_not_type_errors() {
    let mut v = valid();
    v["items"][0]["quantity"] = json!(1.5);
    v["payment"]["amount"] = json!(1e30);
    assert_eq!(invalid_fields(v), ["items[0].quantity", "payment.amount"]);
}

#[test]
fn a_string_where_a_number_belongs_is_malformed() {
    let mut v = valid();
    v["items"][0]["quantity"] = json!("2");
    assert!(matches!(validate_order(v, now()), Err(RequestError::Malformed { .. })));
}

#[test]
fn unknown_fields_are_rejected() {
    let mut v = valid();
    v["discout"] = json!(5);
    assert_eq!(invalid_fields(v), ["discout"]);
}

#[test]
fn sale_time_window_is_72_hours_back_and_5_minutes_ahead() {
    let at = |t: DateTime<Utc>| {
        let mut v = valid();
        v["createdAt"] = json!(t.to_rfc3339());
        validate_order(v, now())
    };
    assert!(at(now() - Duration::hours(71)).is_ok());
    assert!(at(now() + Duration::minutes(4)).is_ok());
    assert!(matches!(at(now() - Duration::hours(73)), Err(RequestError::SaleTimeOutOfRange { .. })));
    assert!(matches!(at(now() + Duration::minutes(6)), Err(RequestError::SaleTimeOutOfRange { .. })));
}

#[test]
fn notes_longer_than_500_characters_are_invalid() {
    let mut v = valid();
    v["notes"] = json!("é".repeat(501));
    assert_eq!(invalid_fields(v), ["notes"]);
}

#[test]
fn sale_times_keep_microseconds_like_the_database() {
    let mut v = valid();
    v["createdAt"] = json!("2026-11-25T09:59:00.123456789+07:00");
    let order = validate_order(v, now()).expect("valid");
    assert_eq!(order.created_at.timestamp_subsec_nanos(), 123_456_000);
}

#[test]
fn nul_characters_are_refused_with_the_field_named() {
    let mut v = valid();
    v["notes"] = json!("a\u{0}b");
    let body = serde_json::to_vec(&v).unwrap();
    let refused = crate::order::parse_json(&body);
    assert!(matches!(refused, Err(RequestError::Invalid(f)) if f[0].field == "notes"));
}
