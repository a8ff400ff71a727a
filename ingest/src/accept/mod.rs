//! Accepting orders: the idempotency record in Postgres (`admission`),
//! written for concurrent requests together by the admission `writer`
//! (group commit), then a persistent publish that the broker confirms
//! (`publish`), then (best effort) Redis remembers it (`duplicates`). An
//! order is answered `202` only after its confirm; a duplicate of an order
//! still pending is published again (harmless: the workers apply an order's
//! effect once), which also rescues an order whose first publish never made it.

pub mod admission;
pub mod candidate;
pub mod duplicates;
pub mod in_flight;
pub mod outlets;
pub mod publish;
pub mod quote;
pub mod writer;

use crate::http::error::ApiError;
use candidate::{Accepted, Candidate, Origin, conflict};
use common::order::hex;
use duplicates::DuplicateCache;
use in_flight::InFlight;
use writer::AdmissionWriter;

/// What accepting orders needs: the admission writer (with the database and
/// the broker behind it), Redis (duplicates) and this process's requests in flight.
#[derive(Clone)]
pub struct Acceptor {
    pub writer: AdmissionWriter,
    pub duplicates: DuplicateCache,
    pub in_flight: InFlight,
}

/// One candidate's result: accepted (or a duplicate), or why not.
type Outcome = Result<Accepted, ApiError>;

/// Accept one order; identical requests in flight share the first one's
/// outcome. No Redis look-up first: the pending row's insert answers it.
pub async fn accept_one(state: &Acceptor, origin: &Origin, candidate: Candidate) -> Outcome {
    let key = (origin.tenant_id, candidate.order.client_order_id.0, candidate.request_hash);
    let entry = state.in_flight.enter(key);
    entry
        .cell
        .get_or_try_init(|| async {
            let mut results = state.writer.accept(origin.clone(), vec![candidate.clone()]).await?;
            let result = results.pop().unwrap_or_else(|| Err(ApiError::Internal("no admission result".into())));
            if let Ok(accepted) = &result {
                crate::metrics::order_accepted(accepted.duplicate);
            }
            result
        })
        .await
        .cloned()
}

/// Accept distinct orders (a sync batch); one result per candidate, in
/// order. Redis answers a resent batch's known orders first. The outer
/// error is for failures that concern them all (the database is down).
pub async fn accept_many(
    state: &Acceptor,
    origin: &Origin,
    candidates: &[Candidate],
) -> Result<Vec<Outcome>, ApiError> {
    let mut results = remembered(state, origin, candidates).await;
    let to_admit: Vec<usize> = (0..candidates.len()).filter(|&i| results[i].is_none()).collect();
    if !to_admit.is_empty() {
        let batch: Vec<Candidate> = to_admit.iter().map(|&i| candidates[i].clone()).collect();
        let admitted = state.writer.accept(origin.clone(), batch).await?;
        for (&index, outcome) in to_admit.iter().zip(admitted) {
            results[index] = Some(outcome);
        }
    }
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
                Some(Ok(Accepted { order_id: known.order_id, duplicate: true, status: None }))
            }
            Some(known) => Some(Err(conflict(known.order_id))),
            None => None,
        })
        .collect()
}
