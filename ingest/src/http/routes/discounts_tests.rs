//! Whatever the discount rule validator accepts must fit `discount_rules`'
//! CHECK constraints: a rule the database refused would be a 500, not a 422.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::http::routes::extremes::number;
use proptest::prelude::*;
use serde_json::json;

fn kind() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("amount_based"), Just("product_based"), Just("quantity_based"), Just("bundle")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// What `apply` accepts satisfies every CHECK of `discount_rules`
    /// (a violated one would be a 500).
    #[test]
    fn a_rule_is_refused_or_fits_the_table(
        kind in kind(),
        value_type in prop_oneof![Just("fixed"), Just("percentage")],
        value in number(),
        min_amount in prop::option::of(number()),
        min_quantity in prop::option::of(number()),
    ) {
        let mut body = json!({ "name": "r", "type": kind, "valueType": value_type, "value": value, "isActive": true,
                               "productIds": [uuid::Uuid::now_v7().to_string()],
                               "bundleProductIds": [uuid::Uuid::now_v7().to_string()],
                               "bundleDiscountProductId": uuid::Uuid::now_v7().to_string() });
        if let Some(amount) = min_amount { body["minAmount"] = amount; }
        if let Some(quantity) = min_quantity { body["minQuantity"] = quantity; }
        let Ok(input) = common::order::from_value::<RuleInput>(body) else { return Ok(()) };
        let (rule, errors) = apply(Rule::blank(), input);
        if errors.is_empty() {
            prop_assert!(rule.value > 0);
            prop_assert!(rule.value_type != "percentage" || rule.value <= 10_000);
            prop_assert!(rule.min_amount.is_none_or(|m| (0..=limits::MAX_AMOUNT).contains(&m)));
            prop_assert!(rule.min_quantity.is_none_or(|q| (1..=MAX_MIN_QUANTITY).contains(&q)));
        }
    }
}

#[test]
fn a_negative_threshold_on_any_kind_is_a_validation_error() {
    for (field, value) in [("minAmount", json!(-1)), ("minQuantity", json!(0)), ("minQuantity", json!(i64::MAX))] {
        let mut body = json!({ "name": "r", "type": "product_based", "valueType": "fixed", "value": 1, "isActive": true,
                               "productIds": [uuid::Uuid::now_v7().to_string()] });
        body[field] = value.clone();
        let (_, errors) = apply(Rule::blank(), common::order::from_value::<RuleInput>(body).unwrap());
        assert!(errors.iter().any(|e| e.field == field), "{field} {value}: {errors:?}");
    }
}
