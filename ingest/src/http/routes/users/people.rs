//! Changing people: role, name and active flag, a password reset, a till
//! PIN; and the shop's list of people.

use super::check_person;
use crate::audit::{Entity, Trail, snapshot};
use crate::auth::sessions::{Standing, Subject};
use crate::auth::{AuthUser, MANAGERS, Role, password};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::SearchQuery;
use crate::http::routes::auth::plausible_pin;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::order::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    is_active: bool,
    has_pin: bool,
    created_at: DateTime<Utc>,
}

const PERSON: &str = "SELECT id, email, name, role, is_active, pin_hash IS NOT NULL AS has_pin, created_at
                      FROM users WHERE tenant_id = $1 AND id = $2";

pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    auth.require(MANAGERS)?;
    let page = q.page()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Person>(
        "SELECT id, email, name, role, is_active, pin_hash IS NOT NULL AS has_pin, created_at FROM users
         WHERE tenant_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR email ILIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5",
    )
    .bind(auth.tenant_id.0)
    .bind(q.pattern());
    let people = page.bind(query).fetch_all(&mut *tx).await?;
    Ok(Json(page.finish(people, |p| (p.created_at, p.id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PersonChange {
    role: Option<String>,
    name: Option<String>,
    is_active: Option<bool>,
}

/// The person `id` of the caller's shop, locked, if the caller may change
/// them: only an owner changes an owner or an admin.
async fn lock(tx: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Person> {
    let person = sqlx::query_as::<_, Person>(
        "SELECT id, email, name, role, is_active, pin_hash IS NOT NULL AS has_pin, created_at
         FROM users WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::not_found("user"))?;
    let role = Role::parse(&person.role).unwrap_or(Role::Cashier);
    if role <= Role::Admin && auth.role != Role::Owner {
        return Err(ApiError::forbidden("only an owner may change owners or admins"));
    }
    Ok(person)
}

pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(change): Body<PersonChange>,
) -> ApiResult<Json<Person>> {
    auth.require(MANAGERS)?;
    let mut errors = Vec::new();
    let role = change.role.as_deref().map(Role::parse);
    if role == Some(None) {
        errors.push(FieldError::new("role", "must be owner, admin, supervisor or cashier"));
    }
    let name = change.name.as_deref().map(str::trim);
    if name.is_some_and(|n| n.is_empty() || n.chars().count() > 200) {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let role = role.flatten();
    if role.is_some_and(|r| r <= Role::Admin) && auth.role != Role::Owner {
        return Err(ApiError::forbidden("only an owner may make owners or admins"));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    // Owners first, in one order, so two demotions cannot both pass the check.
    sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY id FOR NO KEY UPDATE")
        .bind(auth.tenant_id.0)
        .execute(&mut *tx)
        .await?;
    let current = lock(&mut tx, &auth, id).await?;
    let new_role = role.map_or(current.role.clone(), |r| r.as_str().to_owned());
    let active = change.is_active.unwrap_or(current.is_active);
    let ends_access = new_role != current.role || (current.is_active && !active);
    if current.role == "owner" && current.is_active && (new_role != "owner" || !active) {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'owner' AND is_active AND id <> $2",
        )
        .bind(auth.tenant_id.0)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Err(ApiError::conflict(
                "last_owner",
                "the shop's last active owner cannot be demoted or deactivated",
            ));
        }
    }
    let before = snapshot(&mut tx, &auth, Entity::User, id).await?;
    sqlx::query(
        "UPDATE users SET role = $3, name = coalesce($4, name), is_active = $5 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .bind(&new_role)
    .bind(name)
    .bind(active)
    .execute(&mut *tx)
    .await?;
    let standing = if ends_access { Some(end_access(&mut tx, &auth, id).await?) } else { None };
    trail.updated(&mut tx, &auth, "update", Entity::User, id, before).await?;
    let person = sqlx::query_as::<_, Person>(PERSON).bind(auth.tenant_id.0).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    if let Some(standing) = standing {
        state.sessions.changed(Subject::User(id), standing).await;
    }
    Ok(Json(person))
}

/// Moves the person's token version and revokes their refresh tokens, in
/// `tx`; the caller shares the returned standing after the commit.
async fn end_access(tx: &mut PgConnection, auth: &AuthUser, id: Uuid) -> Result<Standing, sqlx::Error> {
    let (version, active): (i64, bool) = sqlx::query_as(
        "UPDATE users SET token_version = token_version + 1 WHERE tenant_id = $1 AND id = $2
         RETURNING token_version, is_active",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(auth.tenant_id.0)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(Standing { version, active })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    password: String,
}

/// A reset by an owner or admin: the new password, and every session of
/// the person ended.
pub async fn reset_password(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(new): Body<NewPassword>,
) -> ApiResult<StatusCode> {
    auth.require(MANAGERS)?;
    let errors = check_person("reset@example.com", &new.password, "reset", "");
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let hash = password::hash(new.password).await.map_err(ApiError::Internal)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    lock(&mut tx, &auth, id).await?;
    let before = snapshot(&mut tx, &auth, Entity::User, id).await?;
    sqlx::query("UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(auth.tenant_id.0)
        .bind(id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    let standing = end_access(&mut tx, &auth, id).await?;
    trail.updated(&mut tx, &auth, "reset_password", Entity::User, id, before).await?;
    tx.commit().await?;
    state.sessions.changed(Subject::User(id), standing).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPin {
    pin: String,
}

/// Sets or resets a person's till PIN (4 to 6 digits, kept hashed).
pub async fn set_pin(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(new): Body<NewPin>,
) -> ApiResult<StatusCode> {
    auth.require(MANAGERS)?;
    if !plausible_pin(&new.pin) {
        return Err(ApiError::Validation(vec![FieldError::new("pin", "must be 4 to 6 digits")]));
    }
    let hash = password::hash(new.pin).await.map_err(ApiError::Internal)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    lock(&mut tx, &auth, id).await?;
    let before = snapshot(&mut tx, &auth, Entity::User, id).await?;
    sqlx::query("UPDATE users SET pin_hash = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(auth.tenant_id.0)
        .bind(id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    trail.updated(&mut tx, &auth, "set_pin", Entity::User, id, before).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
