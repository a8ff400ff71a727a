//! What handlers take from a request: bodies, queries and path ids, with
//! bad input answered by the contract's errors (415, 413, 400, 422, 404)
//! instead of axum's plain-text rejections; and the client address the
//! middleware found.

use crate::http::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use chrono::Datelike;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

pub const ORDER_BODY_LIMIT: usize = 1024 * 1024;
pub const SYNC_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The request's client address (an extension `middleware::client_ip`
/// sets): what the rate limits count and the internal-key routes check.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub std::net::IpAddr);

/// How long a body may take to arrive (`REQUEST_BODY_TIMEOUT`), as the
/// router hands it to the extractors. A deadline for the whole body, not
/// an idle timeout: a byte trickled every second never runs an idle one out.
#[derive(Clone, Copy, Debug)]
pub struct BodyDeadline(pub std::time::Duration);

const DEFAULT_BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A JSON body of at most `LIMIT` bytes, parsed but not yet typed.
pub struct JsonValue<const LIMIT: usize = ORDER_BODY_LIMIT>(pub Value);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for JsonValue<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::<LIMIT>::from_request(request, state).await?;
        Ok(JsonValue(common::order::parse_json(&bytes)?))
    }
}

/// A JSON body of at most `LIMIT` bytes, as it arrived (a sync batch is
/// read from these one order at a time, never as one JSON value).
pub struct JsonBytes<const LIMIT: usize>(pub axum::body::Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for JsonBytes<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| mime.trim().to_ascii_lowercase())
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let deadline = request.extensions().get::<BodyDeadline>().map_or(DEFAULT_BODY_DEADLINE, |d| d.0);
        let bytes = tokio::time::timeout(deadline, axum::body::to_bytes(request.into_body(), LIMIT))
            .await
            .map_err(|_| ApiError::RequestTimeout { after: deadline })?
            .map_err(|_| ApiError::PayloadTooLarge { limit: LIMIT })?;
        Ok(JsonBytes(bytes))
    }
}

/// A typed JSON body: wrong JSON types are 400, unknown or missing fields 422.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let JsonValue(value) = JsonValue::<ORDER_BODY_LIMIT>::from_request(request, state).await?;
        Ok(Body(common::order::from_value(value)?))
    }
}

/// A JSON body that may be absent (empty): `None`, or the typed body.
pub struct OptionalBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let empty = request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok())
            == Some("0")
            || (request.headers().get(CONTENT_TYPE).is_none()
                && request.headers().get(axum::http::header::CONTENT_LENGTH).is_none());
        if empty {
            return Ok(OptionalBody(None));
        }
        let Body(body) = Body::<T>::from_request(request, state).await?;
        Ok(OptionalBody(Some(body)))
    }
}

/// A query string; anything that does not parse is a 422 naming the query.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::invalid("query", "must not contain NUL characters"));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::invalid("query", &e.body_text()))
    }
}

/// An id in the path; one that is not a UUID names nothing, so it is a 404.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        Uuid::parse_str(&raw).map(PathId).map_err(|_| ApiError::not_found("resource"))
    }
}

/// Years a time from a request may name: RFC 3339's four digits. Outside
/// them PostgreSQL refuses the value (or chrono cannot hold it), which
/// must be the client's 422, not our 500.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// A request's time within `YEARS`, or a 422 naming `field`.
pub fn within_years<T: Datelike>(field: &str, at: T) -> Result<T, ApiError> {
    if YEARS.contains(&at.year()) {
        Ok(at)
    } else {
        Err(ApiError::invalid(field, "must be a time in the years 0001 to 9999"))
    }
}

/// `?wait=<ms>` on the writes that can wait for the worker's outcome
/// (orders, refunds): at most `MAX_ORDER_WAIT`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    wait: Option<u64>,
}

impl WaitQuery {
    pub fn wait(&self) -> Result<Option<std::time::Duration>, ApiError> {
        match self.wait.map(std::time::Duration::from_millis) {
            Some(wait) if wait > common::config::MAX_ORDER_WAIT => {
                Err(ApiError::invalid("wait", "must be at most 10000 milliseconds"))
            }
            other => Ok(other),
        }
    }
}

/// Poll `read` until `settled` says so or `wait` passed; the last read.
pub async fn poll_until<T, F, Fut>(
    wait: std::time::Duration,
    mut read: F,
    settled: impl Fn(&T) -> bool,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut delay = std::time::Duration::from_millis(5);
    loop {
        let row = read().await?;
        let now = tokio::time::Instant::now();
        if settled(&row) || now >= deadline {
            return Ok(row);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(std::time::Duration::from_millis(100));
    }
}
