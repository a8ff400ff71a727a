//! Bounds on what a burst of clients can hold: at most
//! `MAX_CONCURRENT_REQUESTS` requests at once (past it, `503 overloaded`
//! at once, so no queue grows behind a slow dependency) and at most
//! `REQUEST_TIMEOUT` for each (then `503 timed_out`). The body's own
//! deadline (`REQUEST_BODY_TIMEOUT`, `408`) is the body extractor's.

use crate::http::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Seconds a refused or timed-out client is told to wait.
const RETRY_AFTER_SECS: u32 = 1;

/// The bounds, and the permits of the requests in progress.
#[derive(Clone)]
pub struct Overload {
    /// One per request in progress, `limit` in all.
    pub permits: Arc<Semaphore>,
    /// `MAX_CONCURRENT_REQUESTS`.
    pub limit: usize,
    /// `REQUEST_TIMEOUT`.
    pub timeout: Duration,
}

pub async fn middleware(State(overload): State<Overload>, request: Request, next: Next) -> Response {
    let Ok(_permit) = overload.permits.clone().try_acquire_owned() else {
        tracing::warn!(limit = overload.limit, "overloaded: request refused");
        let message = "the service is at its limit of requests in progress; try again shortly".to_owned();
        return ApiError::Unavailable { code: "overloaded", message, retry_after_secs: RETRY_AFTER_SECS }
            .into_response();
    };
    let limit = overload.timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let message = format!("the request took longer than {limit:?}; try again shortly");
            ApiError::Unavailable { code: "timed_out", message, retry_after_secs: RETRY_AFTER_SECS }.into_response()
        }
    }
}
