//! Static documents built into the binary: the review web page for failed
//! syncs (`/ops/failed-syncs`: HTML, CSS and JavaScript, no build step; it
//! signs in with the API and keeps the access token in memory only) and the
//! API's OpenAPI document (`/api/openapi.json`).

use crate::state::AppState;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = include_str!("../../../static/failed-syncs.html");
const SCRIPT: &str = include_str!("../../../static/failed-syncs.js");
const STYLE: &str = include_str!("../../../static/failed-syncs.css");
/// The API's OpenAPI document; it must agree with the contract (a test
/// checks that every operation it lists exists).
const OPENAPI: &str = include_str!("../../../openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/failed-syncs", get(|| async { asset("text/html; charset=utf-8", PAGE) }))
        .route("/ops/failed-syncs.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/ops/failed-syncs.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/api/openapi.json", get(|| async { asset("application/json", OPENAPI) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")], body)
}
