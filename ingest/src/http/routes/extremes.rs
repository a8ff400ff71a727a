//! Property-test inputs for the routes' numeric fields: integers at and
//! beyond every edge, negatives, and floats where whole numbers belong.

use proptest::prelude::*;
use serde_json::{Value, json};

/// A JSON number (or, rarely, something else) a client might put in a numeric field.
pub fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN + 1)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(10_000)),
        Just(json!(10_001)),
        Just(json!(1_000_000_000_000_i64)),
        Just(json!(1_000_000_000_001_i64)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(1.5)),
        Just(json!(12.345)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        Just(json!("12")),
        Just(Value::Null),
    ]
}
