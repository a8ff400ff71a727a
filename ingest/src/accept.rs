//! Accepting orders: the idempotency record in Postgres, then a persistent
//! publish that the broker confirms, then (best effort) Redis remembers it.
//! An order is answered `202` only after its confirm; a duplicate of an
//! order still pending is published again (harmless: the workers apply an
//! order's effect once), which also rescues an order whose first publish
//! never made it.

use crate::http::error::ApiError;
use crate::idempotency::{Admission, Candidate, Origin, StoredOrigin, admit};
use crate::state::AppState;
use common::broker::{ORDER_ROUTING_KEY, Target, headers};
use common::ids::{MessageId, OrderId, TenantId};
use common::message::{Message, OrderMessage};
use common::order::{OrderStatus, ValidatedOrder, hex};
use futures::future::join_all;

#[derive(Clone, Debug)]
pub struct Accepted {
    pub order_id: OrderId,
    /// The clientOrderId was already known (same body).
    pub duplicate: bool,
}

/// Accept one order; identical requests in flight share the first one's outcome.
pub async fn accept_one(state: &AppState, origin: &Origin, candidate: Candidate) -> Result<Accepted, ApiError> {
    let key = (origin.tenant_id, candidate.order.client_order_id.0, candidate.request_hash);
    let entry = state.in_flight.enter(key);
    entry
        .cell
        .get_or_try_init(|| async {
            let mut results = accept_many(state, origin, std::slice::from_ref(&candidate)).await?;
            results.pop().unwrap_or_else(|| Err(ApiError::Internal("no admission result".into())))
        })
        .await
        .cloned()
}

/// Accept distinct orders; one result per candidate, in order. The outer
/// error is for failures that concern them all (the database is down).
pub async fn accept_many(
    state: &AppState,
    origin: &Origin,
    candidates: &[Candidate],
) -> Result<Vec<Result<Accepted, ApiError>>, ApiError> {
    let client_ids: Vec<_> = candidates.iter().map(|c| c.order.client_order_id.0).collect();
    let remembered = state.duplicates.lookup(origin.tenant_id, &client_ids).await;
    let mut results: Vec<Option<Result<Accepted, ApiError>>> = vec![None; candidates.len()];
    let mut to_admit = Vec::new();
    for (index, (candidate, known)) in candidates.iter().zip(remembered).enumerate() {
        match known {
            Some(known) if known.request_hash == hex(&candidate.request_hash) => {
                results[index] = Some(Ok(Accepted { order_id: known.order_id, duplicate: true }));
            }
            Some(known) => results[index] = Some(Err(conflict(known.order_id))),
            None => to_admit.push(index),
        }
    }
    let admitted = if to_admit.is_empty() {
        Vec::new()
    } else {
        let batch: Vec<Candidate> = to_admit.iter().map(|&i| candidates[i].clone()).collect();
        admit(&state.db, origin, &batch).await?
    };
    let mut publishes = Vec::new();
    for (&index, admission) in to_admit.iter().zip(admitted) {
        let hash = hex(&candidates[index].request_hash);
        match admission {
            Admission::New { order_id } => {
                let order = candidates[index].order.clone();
                publishes.push((
                    index,
                    order_id,
                    false,
                    message(origin.tenant_id, &origin.stored(), order_id, order, hash),
                ));
            }
            Admission::Same { order_id, status: OrderStatus::Pending, stored, origin: first } => {
                publishes.push((index, order_id, true, message(origin.tenant_id, &first, order_id, stored, hash)));
            }
            Admission::Same { order_id, .. } => results[index] = Some(Ok(Accepted { order_id, duplicate: true })),
            Admission::Different { order_id } => results[index] = Some(Err(conflict(order_id))),
        }
    }
    let exchange = state.publisher.topology().orders_exchange();
    let target = Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY };
    let confirms = join_all(
        publishes
            .iter()
            .map(|(_, _, _, m)| state.publisher.publish(target, m.1.as_slice(), headers::for_message(&m.0, 1))),
    )
    .await;
    let mut remember = Vec::new();
    for ((index, order_id, duplicate, (_, _, hash)), confirm) in publishes.into_iter().zip(confirms) {
        results[index] = Some(match confirm {
            Ok(()) => {
                remember.push((candidates[index].order.client_order_id.0, order_id, hash));
                Ok(Accepted { order_id, duplicate })
            }
            Err(error) => Err(error.into()),
        });
    }
    state.duplicates.remember(origin.tenant_id, &remember).await;
    for accepted in results.iter().flatten().flatten() {
        crate::metrics::order_accepted(accepted.duplicate);
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError::Internal("order left undecided".into()))))
        .collect())
}

fn conflict(order_id: OrderId) -> ApiError {
    ApiError::conflict(
        "idempotency_conflict",
        format!("clientOrderId is already used by order {order_id} with a different body"),
    )
}

/// The order's message as stored (`first`: its origin as first admitted),
/// its encoded body and its request hash.
fn message(
    tenant_id: TenantId,
    first: &StoredOrigin,
    order_id: OrderId,
    order: ValidatedOrder,
    request_hash: String,
) -> (Message, Vec<u8>, String) {
    let message = Message::Order(OrderMessage {
        message_id: MessageId::generate(),
        tenant_id,
        order_id,
        source: first.source,
        device_id: first.device_id.clone(),
        sync_batch_id: first.sync_batch_id,
        request_hash: request_hash.clone(),
        received_at: first.received_at,
        request_id: first.request_id.clone(),
        replay: None,
        order,
    });
    let body = message.encode();
    (message, body, request_hash)
}
