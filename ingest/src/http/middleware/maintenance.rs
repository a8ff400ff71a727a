//! Maintenance mode: while on, writes answer `503 maintenance` with
//! `Retry-After` and the operator's message; reads keep working and the
//! workers keep draining the queue. The switch lives in Postgres
//! (`platform_settings`), which every replica polls each second, so all of
//! them obey within two seconds of `PUT /api/admin/maintenance`
//! (`routes::maintenance`).

use crate::http::error::ApiError;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// This replica's view of the switch.
#[derive(Default)]
pub struct Maintenance(RwLock<Switch>);

impl Maintenance {
    pub fn current(&self) -> Switch {
        self.0.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn set(&self, switch: Switch) {
        if let Ok(mut current) = self.0.write() {
            if *current != switch {
                tracing::warn!(enabled = switch.enabled, message = switch.message, "maintenance mode changed");
            }
            *current = switch;
        }
    }
}

/// Store the switch for every replica to follow.
pub async fn store(db: &PgPool, switch: &Switch) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform_settings (key, value, updated_at) VALUES ('maintenance', $1, now())
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind(sqlx::types::Json(switch))
    .execute(db)
    .await?;
    Ok(())
}

/// How often every replica reads the switch: the most a replica lags behind.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Follow the switch every `FOLLOW_EVERY` until shutdown.
pub async fn follow(db: PgPool, maintenance: Arc<Maintenance>) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    loop {
        tick.tick().await;
        let stored: Result<Option<sqlx::types::Json<Switch>>, _> =
            sqlx::query_scalar("SELECT value FROM platform_settings WHERE key = 'maintenance'")
                .fetch_optional(&db)
                .await;
        if let Ok(stored) = stored {
            maintenance.set(stored.map(|s| s.0).unwrap_or_default());
        }
    }
}

/// Writes stop while maintenance is on; sign-in and the platform's own
/// routes (including the switch) keep working.
pub async fn middleware(State(maintenance): State<Arc<Maintenance>>, request: Request, next: Next) -> Response {
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let exempt = request.uri().path().starts_with("/api/admin/") || request.uri().path().starts_with("/api/auth/");
    let switch = maintenance.current();
    if switch.enabled && write && !exempt {
        let message = switch.message.unwrap_or_else(|| "Warungin is under maintenance; try again shortly".to_owned());
        return ApiError::Unavailable { code: "maintenance", message, retry_after_secs: 60 }.into_response();
    }
    next.run(request).await
}
