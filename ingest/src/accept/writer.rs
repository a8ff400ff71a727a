//! The admission writer: group commit of pending rows. Concurrent requests'
//! orders (online orders and sync batches alike) are admitted together: one
//! transaction, one multi-row INSERT, one WAL flush; then their messages go
//! out on one channel with the confirms awaited together. A group closes
//! after `ADMIT_MAX_WAIT` or at `ADMIT_MAX_BATCH` orders; while all
//! `ADMIT_WRITERS` are busy, requests queue and the next group grows.
//!
//! Each request is answered as it would be alone: its pending rows are
//! durable before anything is published, an order is accepted only after
//! its confirm, and idempotency answers are the same. A group whose
//! transaction fails for one row's sake (a constraint, bad data) is written
//! again in halves, so that row's request gets the error it would alone and
//! its group-mates are admitted.

use super::admission::{self, Admission, Admissions, Group};
use super::candidate::{Accepted, Candidate, Origin, conflict};
use super::duplicates::DuplicateCache;
use super::publish::{self, Outgoing};
use crate::http::error::ApiError;
use common::broker::Publisher;
use common::config::AdmissionConfig;
use common::ids::{OrderId, TenantId};
use common::order::{OrderStatus, hex};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

/// Per order of a request: accepted, or why not.
pub type Outcomes = Vec<Result<Accepted, ApiError>>;

/// One request's orders, waiting for a group.
struct Request {
    origin: Origin,
    candidates: Vec<Candidate>,
    reply: oneshot::Sender<Result<Outcomes, ApiError>>,
}

/// The handle requests admit their orders through.
#[derive(Clone)]
pub struct AdmissionWriter {
    requests: mpsc::Sender<Request>,
}

/// What a group needs to be admitted and published.
struct Writer {
    db: PgPool,
    publisher: Publisher,
    duplicates: DuplicateCache,
}

impl AdmissionWriter {
    /// Start the writer; it ends when the last handle is dropped.
    pub fn start(db: PgPool, publisher: Publisher, duplicates: DuplicateCache, config: AdmissionConfig) -> Self {
        let (requests, queue) = mpsc::channel(8 * 1024);
        tokio::spawn(run(Arc::new(Writer { db, publisher, duplicates }), config, queue));
        Self { requests }
    }

    /// Admit and publish `candidates` (distinct clientOrderIds) in whatever group forms now.
    pub async fn accept(&self, origin: Origin, candidates: Vec<Candidate>) -> Result<Outcomes, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { origin, candidates, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApiError {
    ApiError::Unavailable {
        code: "shutting_down",
        message: "this server is shutting down, try again".to_owned(),
        retry_after_secs: 1,
    }
}

async fn run(writer: Arc<Writer>, config: AdmissionConfig, mut queue: mpsc::Receiver<Request>) {
    let slots = Arc::new(Semaphore::new(config.writers));
    while let Some(first) = queue.recv().await {
        // Waiting for a free writer lets the queue, and so the next group, grow.
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let group = gather(first, &mut queue, config).await;
        let writer = writer.clone();
        tokio::spawn(async move {
            writer.admit(group).await;
            drop(slot);
        });
    }
}

/// `first` and whatever else arrives within the window, up to the batch size.
async fn gather(first: Request, queue: &mut mpsc::Receiver<Request>, config: AdmissionConfig) -> Vec<Request> {
    let deadline = tokio::time::Instant::now() + config.max_wait;
    let mut orders = first.candidates.len();
    let mut group = vec![first];
    while orders < config.max_batch {
        let next = match queue.try_recv() {
            Ok(request) => request,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(request)) => request,
                Ok(None) | Err(_) => break,
            },
        };
        orders += next.candidates.len();
        group.push(next);
    }
    group
}

/// An admitted order whose message goes out with its group.
struct Publish {
    at: (usize, usize),
    tenant_id: TenantId,
    client_order_id: Uuid,
    order_id: OrderId,
    duplicate: bool,
    request_hash: String,
    outgoing: Outgoing,
}

impl Writer {
    /// Admit a group, in halves where one request's row fails it; publish; answer.
    async fn admit(&self, group: Vec<Request>) {
        crate::metrics::admission_group(group.len(), group.iter().map(|r| r.candidates.len()).sum());
        let mut parts = vec![group];
        while let Some(part) = parts.pop() {
            let rows: Vec<Group<'_>> =
                part.iter().map(|r| Group { origin: &r.origin, candidates: &r.candidates }).collect();
            let started = std::time::Instant::now();
            let admitted = admission::admit(&self.db, &rows).await;
            crate::metrics::admission_written(started.elapsed());
            match admitted {
                Ok(admissions) => self.publish(part, admissions).await,
                Err(error) if part.len() > 1 && admission::is_row_specific(&error) => {
                    tracing::warn!(%error, requests = part.len(), "admission group failed; admitting its halves apart");
                    crate::metrics::admission_split();
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
                Err(error) => {
                    let error = ApiError::from(error);
                    for request in part {
                        let _ = request.reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// Publish what the admissions call for, all at once; answer each request.
    async fn publish(&self, part: Vec<Request>, admissions: Admissions) {
        let mut outcomes: Vec<Vec<Option<Result<Accepted, ApiError>>>> = Vec::with_capacity(part.len());
        let mut publishes = Vec::new();
        for (r, (request, admitted)) in part.iter().zip(admissions).enumerate() {
            let mut answers = Vec::with_capacity(admitted.len());
            for (c, admission) in admitted.into_iter().enumerate() {
                match admission.map(|a| decide(&request.origin, &request.candidates[c], (r, c), a)) {
                    Ok(Ok(publish)) => {
                        publishes.push(publish);
                        answers.push(None);
                    }
                    Ok(Err(answer)) => answers.push(Some(answer)),
                    Err(error) => answers.push(Some(Err(error))),
                }
            }
            outcomes.push(answers);
        }
        let confirms = publish::confirm_all(&self.publisher, publishes.iter().map(|p| &p.outgoing)).await;
        let mut remember = Vec::new();
        for (p, confirm) in publishes.into_iter().zip(confirms) {
            outcomes[p.at.0][p.at.1] = Some(match confirm {
                Ok(()) => {
                    remember.push((p.tenant_id, p.client_order_id, p.order_id, p.request_hash));
                    Ok(Accepted { order_id: p.order_id, duplicate: p.duplicate, status: Some(OrderStatus::Pending) })
                }
                Err(error) => Err(error.into()),
            });
        }
        self.duplicates.remember(&remember).await;
        for (request, answers) in part.into_iter().zip(outcomes) {
            let undecided = || Err(ApiError::Internal("order left undecided".into()));
            let _ = request.reply.send(Ok(answers.into_iter().map(|a| a.unwrap_or_else(undecided)).collect()));
        }
    }
}

/// An admission's message to publish (new, or a resend still pending), or its answer right away.
fn decide(
    origin: &Origin,
    candidate: &Candidate,
    at: (usize, usize),
    admission: Admission,
) -> Result<Publish, Result<Accepted, ApiError>> {
    let request_hash = hex(&candidate.request_hash);
    let tenant_id = origin.tenant_id;
    let (order_id, duplicate, outgoing) = match admission {
        Admission::New { order_id } => {
            let order = candidate.order.clone();
            (order_id, false, publish::order(tenant_id, &origin.stored(), order_id, order, request_hash.clone()))
        }
        Admission::Same { order_id, status: OrderStatus::Pending, stored, origin: first } => {
            (order_id, true, publish::order(tenant_id, &first, order_id, stored, request_hash.clone()))
        }
        Admission::Same { order_id, status, .. } => {
            return Err(Ok(Accepted { order_id, duplicate: true, status: Some(status) }));
        }
        Admission::Different { order_id } => return Err(Err(conflict(order_id))),
    };
    let client_order_id = candidate.order.client_order_id.0;
    Ok(Publish { at, tenant_id, client_order_id, order_id, duplicate, request_hash, outgoing })
}
