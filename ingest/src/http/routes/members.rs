//! Members (a shop's loyal customers) and their discounts. Everyone in the
//! shop can look a member up at the till; owners and admins manage them.

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::SearchQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::order::FieldError;
use common::pricing::Rate;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/members", get(list).post(create)).route("/api/members/{id}", get(show).patch(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MemberInput {
    name: Option<String>,
    phone: Option<String>,
    email: Option<Option<String>>,
    member_code: Option<String>,
    is_active: Option<bool>,
    discount_type: Option<Option<String>>,
    discount_value: Option<Option<Number>>,
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Member {
    id: Uuid,
    name: String,
    phone: String,
    email: Option<String>,
    member_code: String,
    is_active: bool,
    discount_type: Option<String>,
    #[serde(skip)]
    discount_value: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Set once the member's personal data was erased (UU PDP).
    erased_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct MemberView {
    #[serde(flatten)]
    member: Member,
    #[serde(rename = "discountValue")]
    discount_value: Option<Value>,
}

impl Member {
    /// What a create starts from: every field unset.
    fn blank() -> Member {
        Member {
            id: Uuid::now_v7(),
            name: String::new(),
            phone: String::new(),
            email: None,
            member_code: String::new(),
            is_active: true,
            discount_type: None,
            discount_value: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            erased_at: None,
        }
    }

    fn view(self) -> MemberView {
        let discount_value = match (&self.discount_type, self.discount_value) {
            (Some(kind), Some(value)) => Rate::from_stored(kind, value).map(Rate::api_value),
            _ => None,
        };
        MemberView { member: self, discount_value }
    }
}

macro_rules! columns {
    () => {
        "id, name, phone, email, member_code, is_active, discount_type, discount_value, created_at, updated_at, erased_at"
    };
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let length = value.trim().chars().count();
    if length < min || length > max {
        errors.push(FieldError::new(field, format!("must be {min} to {max} characters")));
    }
}

/// Apply `input` over `member` and check the result as a whole.
fn merge(mut member: Member, input: MemberInput) -> ApiResult<Member> {
    let mut errors = Vec::new();
    member.name = input.name.map(|n| n.trim().to_owned()).unwrap_or(member.name);
    member.phone = input.phone.map(|p| p.trim().to_owned()).unwrap_or(member.phone);
    if let Some(email) = input.email {
        member.email = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    }
    member.member_code = input.member_code.map(|c| c.trim().to_owned()).unwrap_or(member.member_code);
    member.is_active = input.is_active.unwrap_or(member.is_active);
    if let Some(kind) = input.discount_type {
        member.discount_type = kind;
    }
    match input.discount_value {
        Some(None) => member.discount_value = None,
        Some(Some(value)) => match Rate::parse(member.discount_type.as_deref().unwrap_or(""), &value) {
            Ok(rate) => member.discount_value = Some(rate.stored()),
            Err(message) => errors.push(FieldError::new("discountValue", message)),
        },
        None => {}
    }
    if member.discount_type.is_some() != member.discount_value.is_some() {
        errors.push(FieldError::new("discountValue", "discountType and discountValue go together"));
    }
    text(&mut errors, "name", &member.name, 1, 200);
    text(&mut errors, "phone", &member.phone, 3, 32);
    text(&mut errors, "memberCode", &member.member_code, 1, 64);
    if member.email.as_ref().is_some_and(|e| e.len() > 254 || !e.contains('@')) {
        errors.push(FieldError::new("email", "must be an email address"));
    }
    if member.erased_at.is_some() {
        return Err(ApiError::conflict("member_erased", "this member's personal data was erased"));
    }
    if errors.is_empty() { Ok(member) } else { Err(ApiError::Validation(errors)) }
}

async fn save(db: &mut PgConnection, auth: &AuthUser, m: &Member) -> ApiResult<Member> {
    sqlx::query_as::<_, Member>(concat!(
        "INSERT INTO members (id, tenant_id, name, phone, member_code, is_active, discount_type, discount_value, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET name = $3, phone = $4, member_code = $5, is_active = $6, discount_type = $7,
             discount_value = $8, email = $9, updated_at = now()
         WHERE members.tenant_id = $2
         RETURNING ",
        columns!()
    ))
    .bind(m.id)
    .bind(auth.tenant_id.0)
    .bind(&m.name)
    .bind(&m.phone)
    .bind(&m.member_code)
    .bind(m.is_active)
    .bind(&m.discount_type)
    .bind(m.discount_value)
    .bind(&m.email)
    .fetch_one(&mut *db)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("members_phone_key") => {
            ApiError::conflict("phone_taken", "a member with this phone number already exists")
        }
        _ => e.into(),
    })
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(input): Body<MemberInput>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    auth.require(MANAGERS)?;
    let required = [
        ("name", input.name.is_some()),
        ("phone", input.phone.is_some()),
        ("memberCode", input.member_code.is_some()),
        ("isActive", input.is_active.is_some()),
    ];
    let missing: Vec<_> =
        required.iter().filter(|(_, present)| !present).map(|(f, _)| FieldError::new(*f, "is required")).collect();
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let member = save(&mut tx, &auth, &merge(Member::blank(), input)?).await?;
    let after = snapshot(&mut tx, &auth, Entity::Member, member.id).await?;
    let change =
        Change { action: "create", entity: Entity::Member, entity_id: member.id.to_string(), before: None, after };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(member.view())))
}

async fn fetch(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Member> {
    sqlx::query_as::<_, Member>(concat!("SELECT ", columns!(), " FROM members WHERE tenant_id = $1 AND id = $2"))
        .bind(auth.tenant_id.0)
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or(ApiError::not_found("member"))
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<MemberView>> {
    Ok(Json(fetch(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?.view()))
}

async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(input): Body<MemberInput>,
) -> ApiResult<Json<MemberView>> {
    auth.require(MANAGERS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Member, id).await?;
    let member = merge(fetch(&mut tx, &auth, id).await?, input)?;
    let saved = save(&mut tx, &auth, &member).await?;
    trail.updated(&mut tx, &auth, "update", Entity::Member, id, before).await?;
    tx.commit().await?;
    Ok(Json(saved.view()))
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<SearchQuery>) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Member>(concat!(
        "SELECT ",
        columns!(),
        " FROM members WHERE tenant_id = $1
           AND ($2::text IS NULL OR name ILIKE $2 OR phone ILIKE $2 OR member_code ILIKE $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(auth.tenant_id.0)
    .bind(q.pattern());
    let members = page.bind(query).fetch_all(&mut *tx).await?;
    let views: Vec<MemberView> = members.into_iter().map(Member::view).collect();
    Ok(Json(page.finish(views, |v| (v.member.created_at, v.member.id))))
}

#[cfg(test)]
#[path = "members_tests.rs"]
mod tests;
