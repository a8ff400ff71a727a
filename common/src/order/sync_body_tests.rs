use super::*;
use crate::order::{from_value, parse_json};
use serde_json::json;

/// The whole-body path the streaming reader replaces: parse, then type the envelope.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Whole {
    device_id: Option<String>,
    orders: Option<Vec<Value>>,
}

fn whole(body: &[u8]) -> Result<(Option<String>, Vec<Value>), RequestError> {
    let value = parse_json(body)?;
    let whole: Whole = from_value(value)?;
    Ok((whole.device_id, whole.orders.unwrap_or_default()))
}

fn streamed(body: &[u8]) -> Result<(Option<String>, Vec<Value>), RequestError> {
    let mut orders = Vec::new();
    let envelope = read_sync_body(body, 500, |_, order| orders.push(order))?;
    Ok((envelope.device_id, orders))
}

/// The class of an error, and the fields an invalid one names (a malformed
/// body's field is where serde noticed, which differs between the two readers).
fn kind(result: &Result<(Option<String>, Vec<Value>), RequestError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(RequestError::Malformed { .. }) => "malformed".into(),
        Err(RequestError::Invalid(fields)) => {
            format!("invalid {:?}", fields.iter().map(|f| &f.field).collect::<Vec<_>>())
        }
        Err(RequestError::SaleTimeOutOfRange { .. }) => "sale time".into(),
    }
}

#[test]
fn every_body_is_read_as_the_whole_body_path_reads_it() {
    let order = json!({ "clientOrderId": "0190f5e4-0000-7000-8000-000000000001", "items": [], "notes": "x" });
    let deep = (0..20).fold(json!(1), |v, _| json!([v]));
    let bodies: Vec<Vec<u8>> = vec![
        json!({ "deviceId": "till-1", "orders": [order, order] }).to_string().into_bytes(),
        json!({ "deviceId": "till-1" }).to_string().into_bytes(),
        json!({ "deviceId": "till-1", "orders": null }).to_string().into_bytes(),
        json!({ "deviceId": 5, "orders": [] }).to_string().into_bytes(),
        json!({ "deviceId": "till-1", "orders": "many" }).to_string().into_bytes(),
        json!({ "deviceId": "till-1", "orders": [], "extra": true }).to_string().into_bytes(),
        json!({ "deviceId": "till\u{0}1", "orders": [] }).to_string().into_bytes(),
        json!({ "deviceId": "till-1", "orders": [order, { "notes": "a\u{0}b" }] }).to_string().into_bytes(),
        json!({ "deviceId": "till-1", "orders": [{ "nested": deep }] }).to_string().into_bytes(),
        json!(["not", "an", "object"]).to_string().into_bytes(),
        b"{\"deviceId\": \"till-1\", \"orders\": [".to_vec(),
        b"{\"deviceId\": \"till-1\"} trailing".to_vec(),
    ];
    for body in bodies {
        let (a, b) = (whole(&body), streamed(&body));
        assert_eq!(kind(&b), kind(&a), "{}", String::from_utf8_lossy(&body));
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn orders_past_the_limit_are_counted_not_handed_over() {
    let orders: Vec<Value> = (0..7).map(|i| json!({ "n": i })).collect();
    let body = json!({ "deviceId": "till-1", "orders": orders }).to_string();
    let mut seen = Vec::new();
    let envelope = read_sync_body(body.as_bytes(), 5, |i, _| seen.push(i)).expect("read");
    assert_eq!((envelope.orders, seen), (7, vec![0, 1, 2, 3, 4]));
}
