//! Users of a shop. Owners and admins add and change people (role, name,
//! active, password, till PIN); only an owner may make or change an owner or
//! an admin, and the last active owner stays one. A change that must end a
//! person's access (role, deactivation, password reset) moves their token
//! version and revokes their refresh tokens: every replica refuses their
//! old tokens within seconds (`auth::sessions`).

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS, Role, password};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Body;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};
use common::order::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

mod people;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", post(create).get(people::list))
        .route("/api/users/{id}", patch(people::update))
        .route("/api/users/{id}/password", post(people::reset_password))
        .route("/api/users/{id}/pin", post(people::set_pin))
}

/// Checks shared by every way a person is created.
pub fn check_person(email: &str, password: &str, name: &str, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let email = email.trim();
    let plausible =
        email.len() <= 254 && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
    if !plausible {
        errors.push(FieldError::new(format!("{prefix}email"), "must be an email address"));
    }
    let length = password.chars().count();
    if !(password::MIN_PASSWORD_CHARS..=password::MAX_PASSWORD_CHARS).contains(&length) {
        let message =
            format!("must be {} to {} characters", password::MIN_PASSWORD_CHARS, password::MAX_PASSWORD_CHARS);
        errors.push(FieldError::new(format!("{prefix}password"), message));
    }
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(format!("{prefix}name"), "must be 1 to 200 characters"));
    }
    errors
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    password: String,
    name: String,
    role: String,
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(new): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require(MANAGERS)?;
    let mut errors = check_person(&new.email, &new.password, &new.name, "");
    let role = Role::parse(&new.role);
    if role.is_none() {
        errors.push(FieldError::new("role", "must be owner, admin, supervisor or cashier"));
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    if role <= Role::Admin && auth.role != Role::Owner {
        return Err(ApiError::forbidden("only an owner may add owners or admins"));
    }
    let hash = password::hash(new.password).await.map_err(ApiError::Internal)?;
    let id = Uuid::now_v7();
    let mut tx = state.tx(auth.tenant_id).await?;
    sqlx::query("INSERT INTO users (id, tenant_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(auth.tenant_id.0)
        .bind(new.email.trim())
        .bind(new.name.trim())
        .bind(role.as_str())
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    let after = snapshot(&mut tx, &auth, Entity::User, id).await?;
    trail
        .record(
            &mut tx,
            &auth,
            Change { action: "create", entity: Entity::User, entity_id: id.to_string(), before: None, after },
        )
        .await?;
    tx.commit().await?;
    let body = json!({
        "id": id, "tenantId": auth.tenant_id, "email": new.email.trim(), "name": new.name.trim(), "role": role, "isActive": true
    });
    Ok((StatusCode::CREATED, Json(body)))
}
