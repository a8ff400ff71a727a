//! Whatever the member validator accepts must fit `members`' CHECK
//! constraints: a member the database refused would be a 500, not a 422.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::http::routes::extremes::number;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// What `merge` accepts satisfies every CHECK of `members`.
    #[test]
    fn a_member_discount_is_refused_or_fits_the_table(
        kind in prop_oneof![Just(json!("fixed")), Just(json!("percentage")), Just(json!("other")), Just(Value::Null)],
        value in number(),
    ) {
        let body = json!({ "name": "m", "phone": "0811", "memberCode": "m", "isActive": true, "discountType": kind, "discountValue": value });
        let Ok(input) = common::order::from_value::<MemberInput>(body) else { return Ok(()) };
        if let Ok(member) = merge(Member::blank(), input) {
            prop_assert_eq!(member.discount_type.is_some(), member.discount_value.is_some());
            prop_assert!(member.discount_value.is_none_or(|v| v > 0));
            prop_assert!(member.discount_type.as_deref() != Some("percentage") || member.discount_value.is_some_and(|v| v <= 10_000));
            prop_assert!(member.discount_type.as_deref().is_none_or(|t| t == "fixed" || t == "percentage"));
        }
    }
}
