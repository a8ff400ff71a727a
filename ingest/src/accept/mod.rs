//! Accepting orders: the idempotency record in Postgres (`admission`), then
//! a persistent publish that the broker confirms (`publish`), then (best
//! effort) Redis remembers it (`duplicates`). An order is answered `202`
//! only after its confirm; a duplicate of an order still pending is
//! published again (harmless: the workers apply an order's effect once),
//! which also rescues an order whose first publish never made it.

pub mod admission;
pub mod candidate;
pub mod duplicates;
pub mod in_flight;
pub mod publish;

use crate::http::error::ApiError;
use admission::{Admission, admit};
use candidate::{Accepted, Candidate, Origin};
use common::broker::Publisher;
use common::ids::OrderId;
use common::order::{OrderStatus, hex};
use duplicates::DuplicateCache;
use in_flight::InFlight;
use publish::Outgoing;
use sqlx::PgPool;

/// What accepting orders needs: the database (admission), the broker
/// (publish), Redis (duplicates) and this process's requests in flight.
#[derive(Clone)]
pub struct Acceptor {
    pub db: PgPool,
    pub publisher: Publisher,
    pub duplicates: DuplicateCache,
    pub in_flight: InFlight,
}

/// One candidate's result: accepted (or a duplicate), or why not.
type Outcome = Result<Accepted, ApiError>;

/// Accept one order; identical requests in flight share the first one's outcome.
pub async fn accept_one(state: &Acceptor, origin: &Origin, candidate: Candidate) -> Outcome {
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

/// An admitted order whose message goes out now.
struct Publish {
    index: usize,
    order_id: OrderId,
    duplicate: bool,
    request_hash: String,
    outgoing: Outgoing,
}

/// Accept distinct orders; one result per candidate, in order. The outer
/// error is for failures that concern them all (the database is down).
pub async fn accept_many(
    state: &Acceptor,
    origin: &Origin,
    candidates: &[Candidate],
) -> Result<Vec<Outcome>, ApiError> {
    let mut results = remembered(state, origin, candidates).await;
    let to_admit: Vec<usize> = (0..candidates.len()).filter(|&i| results[i].is_none()).collect();
    let admitted = if to_admit.is_empty() {
        Vec::new()
    } else {
        let batch: Vec<Candidate> = to_admit.iter().map(|&i| candidates[i].clone()).collect();
        admit(&state.db, origin, &batch).await?
    };
    let mut publishes = Vec::new();
    for (&index, admission) in to_admit.iter().zip(admitted) {
        match decide(origin, index, &candidates[index], admission) {
            Ok(publish) => publishes.push(publish),
            Err(outcome) => results[index] = Some(outcome),
        }
    }
    publish_all(state, origin, candidates, publishes, &mut results).await;
    for accepted in results.iter().flatten().flatten() {
        crate::metrics::order_accepted(accepted.duplicate);
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError::Internal("order left undecided".into()))))
        .collect())
}

/// What Redis answers at once: orders it remembers as queued (or as taken
/// by a different body); `None` for the others.
async fn remembered(state: &Acceptor, origin: &Origin, candidates: &[Candidate]) -> Vec<Option<Outcome>> {
    let client_ids: Vec<_> = candidates.iter().map(|c| c.order.client_order_id.0).collect();
    let remembered = state.duplicates.lookup(origin.tenant_id, &client_ids).await;
    candidates
        .iter()
        .zip(remembered)
        .map(|(candidate, known)| match known {
            Some(known) if known.request_hash == hex(&candidate.request_hash) => {
                Some(Ok(Accepted { order_id: known.order_id, duplicate: true }))
            }
            Some(known) => Some(Err(conflict(known.order_id))),
            None => None,
        })
        .collect()
}

/// An admission's message to publish, or its answer right away.
fn decide(origin: &Origin, index: usize, candidate: &Candidate, admission: Admission) -> Result<Publish, Outcome> {
    let request_hash = hex(&candidate.request_hash);
    let (order_id, duplicate, outgoing) = match admission {
        Admission::New { order_id } => {
            let order = candidate.order.clone();
            (order_id, false, publish::order(origin.tenant_id, &origin.stored(), order_id, order, request_hash.clone()))
        }
        Admission::Same { order_id, status: OrderStatus::Pending, stored, origin: first } => {
            (order_id, true, publish::order(origin.tenant_id, &first, order_id, stored, request_hash.clone()))
        }
        Admission::Same { order_id, .. } => return Err(Ok(Accepted { order_id, duplicate: true })),
        Admission::Different { order_id } => return Err(Err(conflict(order_id))),
    };
    Ok(Publish { index, order_id, duplicate, request_hash, outgoing })
}

/// Publish the group, answer each order by its confirm, and let Redis
/// remember the confirmed ones.
async fn publish_all(
    state: &Acceptor,
    origin: &Origin,
    candidates: &[Candidate],
    publishes: Vec<Publish>,
    results: &mut [Option<Outcome>],
) {
    let confirms = publish::confirm_all(&state.publisher, publishes.iter().map(|p| &p.outgoing)).await;
    let mut remember = Vec::new();
    for (publish, confirm) in publishes.into_iter().zip(confirms) {
        let Publish { index, order_id, duplicate, request_hash, .. } = publish;
        results[index] = Some(match confirm {
            Ok(()) => {
                remember.push((candidates[index].order.client_order_id.0, order_id, request_hash));
                Ok(Accepted { order_id, duplicate })
            }
            Err(error) => Err(error.into()),
        });
    }
    state.duplicates.remember(origin.tenant_id, &remember).await;
}

fn conflict(order_id: OrderId) -> ApiError {
    ApiError::conflict(
        "idempotency_conflict",
        format!("clientOrderId is already used by order {order_id} with a different body"),
    )
}
