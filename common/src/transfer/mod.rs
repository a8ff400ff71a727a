//! Stock transfers between a shop's outlets at the door: the
//! `StockTransferRequest` wire format, its validation, and the validated
//! transfer that travels through the queue. Whether the source outlet has
//! the stock is decided at commit, on its locked stock rows.

use crate::ids::ProductId;
use crate::order::limits;
use crate::order::request::{FieldError, RequestError, from_value};
use crate::order::validate::Checker;
use crate::refund::validate::{LineWire, product_lines};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Goods moving: a product and how many of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

/// A transfer request that passed validation at the door. Its lines are
/// one per product (a product named twice is summed), in product order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatedTransfer {
    pub client_transfer_id: Uuid,
    pub from_outlet_id: Uuid,
    pub to_outlet_id: Uuid,
    pub items: Vec<TransferLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TransferRequestWire {
    client_transfer_id: Option<String>,
    from_outlet_id: Option<String>,
    to_outlet_id: Option<String>,
    items: Option<Vec<LineWire>>,
    note: Option<String>,
}

/// Validate one `StockTransferRequest` JSON value: every field error at once.
pub fn validate_transfer(value: Value) -> Result<ValidatedTransfer, RequestError> {
    let wire: TransferRequestWire = from_value(value)?;
    let mut c = Checker::default();
    let client_transfer_id = c.uuid("clientTransferId", wire.client_transfer_id, true);
    let from = c.uuid("fromOutletId", wire.from_outlet_id, true);
    let to = c.uuid("toOutletId", wire.to_outlet_id, true);
    if from.is_some() && from == to {
        c.fail("toOutletId", "must differ from fromOutletId");
    }
    let items = lines(&mut c, wire.items);
    let note = c.text("note", wire.note, limits::MAX_NOTES_CHARS);
    if !c.errors.is_empty() {
        return Err(RequestError::Invalid(c.errors));
    }
    match (client_transfer_id, from, to, items) {
        (Some(client_transfer_id), Some(from_outlet_id), Some(to_outlet_id), Some(items)) => {
            Ok(ValidatedTransfer { client_transfer_id, from_outlet_id, to_outlet_id, items, note })
        }
        _ => Err(RequestError::Invalid(vec![FieldError::new("body", "incomplete transfer")])),
    }
}

fn lines(c: &mut Checker, items: Option<Vec<LineWire>>) -> Option<Vec<TransferLine>> {
    let lines = product_lines(c, items)?;
    Some(lines.into_iter().map(|(product_id, quantity)| TransferLine { product_id, quantity }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transfer_sums_a_product_named_twice_and_refuses_one_outlet_to_itself() {
        let (a, b, p) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let body = |to: Uuid| {
            json!({ "clientTransferId": Uuid::now_v7(), "fromOutletId": a, "toOutletId": to,
                    "items": [{ "productId": p, "quantity": 2 }, { "productId": p, "quantity": 3 }] })
        };
        let ok = validate_transfer(body(b)).expect("valid");
        assert_eq!(ok.items, vec![TransferLine { product_id: ProductId(p), quantity: 5 }]);
        let Err(RequestError::Invalid(errors)) = validate_transfer(body(a)) else { panic!("same outlet accepted") };
        assert_eq!(errors[0].field, "toOutletId");
    }
}
