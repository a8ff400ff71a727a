//! The one mapping from what went wrong to an HTTP answer:
//! `{"error": {"code", "message", "details"?, "expected"?, "requestId"}}` with the
//! contract's status. Database constraint names map to 409s here, and
//! nothing internal (SQL, stack, secrets) reaches a response body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::broker::PublishError;
use common::order::{FieldError, RequestError};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    MalformedJson { message: String, field: Option<String> },
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Payment lines that do not add up to what the server computed
    /// (`payment_mismatch`), with the amount they should add up to.
    #[error("{message}")]
    PaymentMismatch { message: String, expected: common::money::Money },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body did not arrive within {after:?}")]
    RequestTimeout { after: std::time::Duration },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, retry_after_secs: u32 },
    #[error("{message}")]
    RateLimited { message: String, limit: u32, reset_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

/// The error object as serialized; the request-id middleware adds `requestId`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// The amount the server expected (`payment_mismatch` of a refund), in rupiah.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<i64>,
}

impl ApiError {
    pub fn not_found(what: &'static str) -> Self {
        ApiError::NotFound { what }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden { code: "forbidden", message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict { code, message: message.into() }
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } | ApiError::PaymentMismatch { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (code, details) = match self {
            ApiError::MalformedJson { field, .. } => ("malformed_json", field.as_ref().map(|f| json!({ "field": f }))),
            ApiError::Validation(fields) => ("validation_failed", Some(json!({ "fields": fields }))),
            ApiError::Unprocessable { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unavailable { code, .. } => (*code, None),
            ApiError::PaymentMismatch { .. } => ("payment_mismatch", None),
            ApiError::UnsupportedMediaType => ("unsupported_media_type", None),
            ApiError::PayloadTooLarge { limit } => ("payload_too_large", Some(json!({ "limitBytes": limit }))),
            ApiError::RequestTimeout { after } => {
                ("request_timeout", Some(json!({ "limitSeconds": after.as_secs_f64() })))
            }
            ApiError::NotFound { .. } => ("not_found", None),
            ApiError::MethodNotAllowed => ("method_not_allowed", None),
            ApiError::Internal(_) => ("internal_error", None),
            ApiError::RateLimited { limit, reset_secs, .. } => {
                ("rate_limited", Some(json!({ "limitPerMinute": limit, "retryAfterSeconds": reset_secs })))
            }
        };
        let message = match self {
            ApiError::Internal(_) => "something went wrong on our side; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let expected = match self {
            ApiError::PaymentMismatch { expected, .. } => Some(expected.rupiah()),
            _ => None,
        };
        ErrorBody { code, message, details, expected }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(detail, "internal error"),
            ApiError::Unavailable { message, .. } => {
                tracing::warn!(message, "dependency unavailable")
            }
            _ => {}
        }
        let body = self.body();
        let mut response = (self.status(), axum::Json(json!({ "error": &body }))).into_response();
        if let ApiError::Unavailable { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let ApiError::RateLimited { limit, reset_secs, .. } = self {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(reset_secs));
            headers.insert("ratelimit-limit", HeaderValue::from(limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(reset_secs));
        }
        // The request-id middleware re-renders the body with the request id.
        response.extensions_mut().insert(body);
        response
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Malformed { field, message } => ApiError::MalformedJson { message, field },
            RequestError::Invalid(fields) => ApiError::Validation(fields),
            RequestError::SaleTimeOutOfRange { message } => {
                ApiError::Unprocessable { code: "sale_time_out_of_range", message }
            }
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(error: PublishError) -> Self {
        ApiError::Unavailable {
            code: "broker_unavailable",
            message: format!("the order could not be queued, try again shortly: {error}"),
            retry_after_secs: 2,
        }
    }
}

/// Constraint name → the conflict it means to a client.
const CONSTRAINTS: &[(&str, &str, &str)] = &[
    ("tenants_slug_key", "slug_taken", "a shop with this slug already exists"),
    ("users_email_key", "email_taken", "a user with this email already exists"),
    ("products_sku_key", "sku_taken", "a product with this SKU already exists in this shop"),
    ("outlet_stock_stock_check", "insufficient_stock", "an outlet's stock cannot go below zero"),
    // Two refunds of different orders under one clientRefundId at once.
    ("cash_shifts_one_open", "shift_already_open", "this cashier already has an open shift at this outlet"),
    ("refunds_client_refund_id_key", "idempotency_conflict", "this clientRefundId was already used for another refund"),
];

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(db) = error.as_database_error()
            && let Some(constraint) = db.constraint()
            && let Some((_, code, message)) = CONSTRAINTS.iter().find(|(name, _, _)| *name == constraint)
        {
            return ApiError::conflict(code, *message);
        }
        // A server shutting down, restarting or refusing sessions (SQLSTATE
        // 08xxx, 57P01–57P03) is the database being away, as is a dead socket
        // and a server that became read-only (25006: a demoted primary, mid-failover).
        let away = error.as_database_error().and_then(|db| db.code()).is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "25006")
        });
        match error {
            _ if away => database_unavailable(),
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => database_unavailable(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn database_unavailable() -> ApiError {
    ApiError::Unavailable {
        code: "database_unavailable",
        message: "the database is unavailable, try again shortly".to_owned(),
        retry_after_secs: 2,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
