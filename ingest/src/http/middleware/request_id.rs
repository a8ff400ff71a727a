//! Request ids: every response carries `X-Request-Id` (the client's, when
//! it sent a sane one, else a new UUID); the id is on the request's log
//! span, travels in the order's message, and is written into error bodies.

use crate::http::error::ErrorBody;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The current request's id, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span =
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Some(body) = response.extensions_mut().remove::<ErrorBody>() {
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        let mut error = serde_json::to_value(&body).unwrap_or_default();
        error["requestId"] = serde_json::Value::String(id.clone());
        let rendered = axum::Json(serde_json::json!({ "error": error })).into_response();
        response = Response::from_parts(parts, rendered.into_body());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
