//! The operator's maintenance switch (internal API key): read it, or turn
//! it on or off for every replica. What the switch does to requests is the
//! middleware's (`middleware::maintenance`).

use crate::auth::InternalKey;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Body;
use crate::http::middleware::maintenance::{Switch, store};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/maintenance", put(change).get(show))
}

async fn show(State(state): State<AppState>, _key: InternalKey) -> Json<Switch> {
    Json(state.maintenance.current())
}

async fn change(
    State(state): State<AppState>,
    _key: InternalKey,
    Body(switch): Body<Switch>,
) -> ApiResult<Json<Switch>> {
    if switch.message.as_ref().is_some_and(|m| m.chars().count() > 500) {
        return Err(ApiError::invalid("message", "must be at most 500 characters"));
    }
    store(&state.db, &switch).await?;
    state.maintenance.set(switch.clone());
    Ok(Json(switch))
}
