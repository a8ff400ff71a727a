//! Whatever the product and stock-adjustment validators accept must fit the
//! tables' CHECK constraints: a refused row would be a 500, not a 422.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::http::routes::extremes::number;
use proptest::prelude::*;
use serde_json::json;
use stock::{Adjustment, check_adjustment};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn an_adjustment_is_refused_or_within_the_stock_bounds(delta in number()) {
        let decoded = common::order::from_value::<Adjustment>(json!({ "delta": delta, "reason": "r" }));
        if let Ok(adjustment) = decoded
            && check_adjustment(&adjustment).is_empty()
        {
            prop_assert!(adjustment.delta != 0 && adjustment.delta.unsigned_abs() <= MAX_STOCK.unsigned_abs());
        }
    }

    #[test]
    fn a_new_product_is_refused_or_fits_the_table(price in number(), stock in number()) {
        let body = json!({ "sku": "S", "name": "n", "price": price, "stock": stock });
        if let Ok(new) = common::order::from_value::<NewProduct>(body)
            && check_new(&new).is_empty()
        {
            prop_assert!((0..=limits::MAX_AMOUNT).contains(&new.price) && (0..=MAX_STOCK).contains(&new.stock));
        }
    }
}

#[test]
fn the_most_negative_delta_is_a_validation_error() {
    let adjustment = Adjustment { delta: i64::MIN, reason: "r".into(), outlet_id: None };
    assert_eq!(check_adjustment(&adjustment)[0].field, "delta");
}
