//! The checks one order goes through at commit, in the contract's order
//! (the first failure decides): products exist and are active, prices,
//! pricing (`negative_total`; then the service charge and tax in force at
//! its sale time),
//! stock (at the order's outlet), payment (split tender, cash rounding).

use crate::commit::locked::{LockedProduct, StockKey};
use crate::commit::read::pricing::PricingData;
use common::ids::{OutletId, ProductId};
use common::message::OrderMessage;
use common::order::{RejectionCode, Source};
use common::pricing::tender::{Tender, settle};
use common::pricing::{Charges, PricedOrder, PricingError, PricingInput, charges, price_order};
use std::collections::HashMap;

pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
    /// (product, quantity) whose stock check passed before a later check
    /// (payment) refused the order: the decision still rests on that stock.
    pub stock_checked: Vec<(ProductId, i64)>,
}

pub struct Accepted {
    pub priced: PricedOrder,
    pub charges: Charges,
    pub tender: Tender,
    /// (product, quantity, oversold shortfall)
    pub takes: Vec<(ProductId, i64, i64)>,
}

fn reject<T>(code: RejectionCode, message: String) -> Result<T, Rejection> {
    Err(Rejection { code, message, stock_checked: Vec::new() })
}

pub fn evaluate(
    m: &OrderMessage,
    outlet_id: OutletId,
    products: &HashMap<StockKey, LockedProduct>,
    pricing: &PricingData,
) -> Result<Accepted, Rejection> {
    let (order, tenant_id) = (&m.order, m.tenant_id);
    for (i, line) in order.items.iter().enumerate() {
        match products.get(&(tenant_id, outlet_id, line.product_id)) {
            None => {
                return reject(
                    RejectionCode::UnknownProduct,
                    format!("items[{i}]: product {} does not exist", line.product_id),
                );
            }
            Some(p) if !p.is_active => {
                return reject(
                    RejectionCode::InactiveProduct,
                    format!("items[{i}]: product {} is not active", line.product_id),
                );
            }
            Some(_) => {}
        }
    }
    check_prices(m, outlet_id, products, pricing)?;
    let member = pricing.member(tenant_id, order.member_id);
    let input = PricingInput {
        lines: &order.items,
        rules: pricing.rules(tenant_id),
        member: &member,
        manual_discount: order.discount,
        sale_time: order.created_at,
    };
    let priced = match price_order(&input) {
        Ok(priced) => priced,
        Err(e @ PricingError::NegativeTotal { .. }) => {
            return reject(RejectionCode::NegativeTotal, e.to_string());
        }
        Err(e @ PricingError::Overflow) => return reject(RejectionCode::Malformed, e.to_string()),
    };
    // Charged by the settings in force when it was sold, not at commit.
    let settings = pricing.settings(tenant_id, order.created_at);
    let Some(charges) = charges(priced.total, &settings.charges) else {
        return reject(RejectionCode::Malformed, "the order's tax or service charge overflows".to_owned());
    };
    let allow_oversell = m.replay.as_ref().is_some_and(|r| r.allow_oversell);
    let mut takes = Vec::new();
    for (product_id, quantity) in order.quantities_by_product() {
        let available = products.get(&(tenant_id, outlet_id, product_id)).map_or(0, |p| p.stock);
        if quantity > available && !allow_oversell {
            return reject(
                RejectionCode::InsufficientStock,
                format!("product {product_id} has {available} in stock; the order needs {quantity}"),
            );
        }
        takes.push((product_id, quantity, (quantity - available).max(0)));
    }
    let tender = settle(charges.total, &order.payments, settings.rounding).map_err(|e| Rejection {
        code: RejectionCode::PaymentMismatch,
        message: e.to_string(),
        stock_checked: takes.iter().map(|&(product, quantity, _)| (product, quantity)).collect(),
    })?;
    Ok(Accepted { priced, charges, tender, takes })
}

/// Online orders sell at the current price. An offline order's line may
/// also carry the price in effect at its sale time (the till was offline
/// when the price changed). An operator's replay may accept the till's prices.
fn check_prices(
    m: &OrderMessage,
    outlet_id: OutletId,
    products: &HashMap<StockKey, LockedProduct>,
    pricing: &PricingData,
) -> Result<(), Rejection> {
    if m.replay.as_ref().is_some_and(|r| r.accept_client_prices) {
        return Ok(());
    }
    for (i, line) in m.order.items.iter().enumerate() {
        let current = products.get(&(m.tenant_id, outlet_id, line.product_id)).map(|p| p.price).unwrap_or_default();
        let then = (m.source == Source::Offline)
            .then(|| pricing.prices_at.get(&(m.tenant_id, line.product_id, m.order.created_at)).copied())
            .flatten();
        if line.price != current && Some(line.price) != then {
            let at_sale = then.map(|p| format!(" or the price at the time of sale {}", p.rupiah())).unwrap_or_default();
            return reject(
                RejectionCode::PriceMismatch,
                format!(
                    "items[{i}]: price {} differs from the product's price {}{at_sale}",
                    line.price.rupiah(),
                    current.rupiah()
                ),
            );
        }
    }
    Ok(())
}
