//! Automatic discount rules: owners and admins write them, everyone reads
//! them. A rule is validated whole (kind-specific fields, percentage with at
//! most two decimals, products of this shop, a sane window) on create and on
//! every change.

use crate::audit::{Change, Entity, Trail, snapshot};
use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Body, PathId, Query};
use crate::http::page::PageQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use common::order::{FieldError, limits};
use common::pricing::Rate;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/discounts", get(list).post(create))
        .route("/api/discounts/{id}", get(show).patch(update).delete(remove))
}

/// A rule's fields as the API carries them; all optional so that a create
/// names every missing field and a change names only what it changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleInput {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    value_type: Option<String>,
    value: Option<Number>,
    min_amount: Option<i64>,
    min_quantity: Option<i64>,
    product_ids: Option<Vec<String>>,
    bundle_product_ids: Option<Vec<String>>,
    bundle_discount_product_id: Option<String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    is_active: Option<bool>,
}

#[derive(Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: Uuid,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value_type: String,
    #[serde(skip)]
    value: i64,
    min_amount: Option<i64>,
    min_quantity: Option<i32>,
    product_ids: Vec<Uuid>,
    bundle_product_ids: Vec<Uuid>,
    bundle_discount_product_id: Option<Uuid>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The contract's `Discount`: the rule with its `value` as the API writes it.
#[derive(Serialize)]
struct RuleView {
    #[serde(flatten)]
    rule: Rule,
    value: Value,
}

impl Rule {
    /// What a create starts from: every field unset.
    fn blank() -> Rule {
        Rule {
            id: Uuid::now_v7(),
            name: String::new(),
            kind: String::new(),
            value_type: String::new(),
            value: 0,
            min_amount: None,
            min_quantity: None,
            product_ids: Vec::new(),
            bundle_product_ids: Vec::new(),
            bundle_discount_product_id: None,
            starts_at: None,
            ends_at: None,
            is_active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn json(self) -> RuleView {
        let value = Rate::from_stored(&self.value_type, self.value).map(Rate::api_value).unwrap_or_default();
        RuleView { rule: self, value }
    }
}

/// The largest `minQuantity` a rule may ask for (an order line holds at most 10,000 units).
const MAX_MIN_QUANTITY: i32 = 10_000;

// Column list and statements below are constants (no input is formatted in).
const COLUMNS: &str = "id, name, kind, value_type, value, min_amount, min_quantity, product_ids, bundle_product_ids, \
                       bundle_discount_product_id, starts_at, ends_at, is_active, created_at, updated_at";

fn uuid_list(errors: &mut Vec<FieldError>, field: &str, values: Vec<String>) -> Vec<Uuid> {
    let parsed: Vec<Uuid> = values.iter().filter_map(|v| Uuid::parse_str(v).ok()).collect();
    if parsed.len() != values.len() {
        errors.push(FieldError::new(field, "must hold product ids (UUIDs)"));
    }
    parsed
}

fn time(errors: &mut Vec<FieldError>, field: &str, value: Option<String>) -> Option<Option<DateTime<Utc>>> {
    let text = value?;
    match DateTime::parse_from_rfc3339(&text) {
        Ok(t) => Some(Some(t.with_timezone(&Utc))),
        Err(_) => {
            errors.push(FieldError::new(field, "must be an RFC 3339 time with offset"));
            None
        }
    }
}

/// Apply `input` over `rule` and check the result as a whole.
async fn merge(db: &mut PgConnection, auth: &AuthUser, rule: Rule, input: RuleInput) -> ApiResult<Rule> {
    let (rule, mut errors) = apply(rule, input);
    check_products(&mut *db, auth, &rule, &mut errors).await?;
    if errors.is_empty() { Ok(rule) } else { Err(ApiError::Validation(errors)) }
}

/// The rule with `input` applied, and every field error but unknown products.
fn apply(mut rule: Rule, input: RuleInput) -> (Rule, Vec<FieldError>) {
    let mut errors = Vec::new();
    if let Some(name) = input.name {
        rule.name = name.trim().to_owned();
    }
    if let Some(kind) = input.kind {
        rule.kind = kind;
    }
    if let Some(value_type) = input.value_type {
        rule.value_type = value_type;
    }
    match input.value.map(|v| Rate::parse(&rule.value_type, &v)) {
        Some(Ok(rate)) => rule.value = rate.stored(),
        Some(Err(message)) => errors.push(FieldError::new("value", message)),
        None if rule.value == 0 => errors.push(FieldError::new("value", "is required")),
        None => {}
    }
    apply_thresholds(&mut rule, (input.min_amount, input.min_quantity), &mut errors);
    if let Some(ids) = input.product_ids {
        rule.product_ids = uuid_list(&mut errors, "productIds", ids);
    }
    if let Some(ids) = input.bundle_product_ids {
        rule.bundle_product_ids = uuid_list(&mut errors, "bundleProductIds", ids);
    }
    if let Some(id) = input.bundle_discount_product_id {
        rule.bundle_discount_product_id = uuid_list(&mut errors, "bundleDiscountProductId", vec![id]).first().copied();
    }
    if let Some(t) = time(&mut errors, "startsAt", input.starts_at) {
        rule.starts_at = t;
    }
    if let Some(t) = time(&mut errors, "endsAt", input.ends_at) {
        rule.ends_at = t;
    }
    rule.is_active = input.is_active.unwrap_or(rule.is_active);
    check(&rule, &mut errors);
    (rule, errors)
}

/// `minAmount` and `minQuantity` are range-checked whatever the rule's kind
/// (the database refuses a negative one on any rule).
fn apply_thresholds(
    rule: &mut Rule,
    (min_amount, min_quantity): (Option<i64>, Option<i64>),
    errors: &mut Vec<FieldError>,
) {
    match min_amount {
        Some(amount) if (0..=limits::MAX_AMOUNT).contains(&amount) => rule.min_amount = Some(amount),
        Some(_) => errors.push(FieldError::new("minAmount", format!("must be between 0 and {}", limits::MAX_AMOUNT))),
        None => {}
    }
    match min_quantity.map(|q| i32::try_from(q).ok().filter(|q| (1..=MAX_MIN_QUANTITY).contains(q))) {
        Some(Some(quantity)) => rule.min_quantity = Some(quantity),
        Some(None) => errors.push(FieldError::new("minQuantity", format!("must be between 1 and {MAX_MIN_QUANTITY}"))),
        None => {}
    }
}

fn check(rule: &Rule, errors: &mut Vec<FieldError>) {
    if rule.name.is_empty() || rule.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if !["percentage", "fixed"].contains(&rule.value_type.as_str()) {
        errors.push(FieldError::new("valueType", "must be percentage or fixed"));
    } else if rule.value_type == "percentage" && rule.value > 10_000 {
        errors.push(FieldError::new("value", "a percentage must be at most 100"));
    }
    match rule.kind.as_str() {
        "amount_based" if rule.min_amount.is_none() => {
            errors.push(FieldError::new("minAmount", "is required for amount_based rules, 0 or more"));
        }
        "product_based" if rule.product_ids.is_empty() => {
            errors.push(FieldError::new("productIds", "must name at least one product"));
        }
        "quantity_based" if rule.min_quantity.is_none() => {
            errors.push(FieldError::new("minQuantity", "is required for quantity_based rules, 1 to 10000"));
        }
        "bundle" if rule.bundle_product_ids.is_empty() || rule.bundle_discount_product_id.is_none() => {
            errors
                .push(FieldError::new("bundleProductIds", "bundles need bundleProductIds and bundleDiscountProductId"));
        }
        "amount_based" | "product_based" | "quantity_based" | "bundle" => {}
        _ => errors.push(FieldError::new("type", "must be amount_based, product_based, quantity_based or bundle")),
    }
    if let (Some(start), Some(end)) = (rule.starts_at, rule.ends_at)
        && end <= start
    {
        errors.push(FieldError::new("endsAt", "must be after startsAt"));
    }
}

async fn check_products(
    db: &mut PgConnection,
    auth: &AuthUser,
    rule: &Rule,
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    let mut ids: Vec<Uuid> = rule.product_ids.iter().chain(&rule.bundle_product_ids).copied().collect();
    ids.extend(rule.bundle_discount_product_id);
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE tenant_id = $1 AND id = ANY($2)")
        .bind(auth.tenant_id.0)
        .bind(&ids)
        .fetch_one(&mut *db)
        .await?;
    if usize::try_from(known).unwrap_or(0) != ids.len() {
        errors.push(FieldError::new("productIds", "names a product this shop does not have"));
    }
    Ok(())
}

async fn fetch(db: &mut PgConnection, auth: &AuthUser, id: Uuid) -> ApiResult<Rule> {
    sqlx::query_as::<_, Rule>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM discount_rules WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(auth.tenant_id.0)
    .bind(id)
    .fetch_optional(&mut *db)
    .await?
    .ok_or(ApiError::not_found("discount"))
}

async fn save(db: &mut PgConnection, auth: &AuthUser, rule: &Rule) -> ApiResult<Rule> {
    let sql = format!(
        "INSERT INTO discount_rules (id, tenant_id, name, kind, value_type, value, min_amount, min_quantity, product_ids,
                                     bundle_product_ids, bundle_discount_product_id, starts_at, ends_at, is_active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (id) DO UPDATE SET name = $3, kind = $4, value_type = $5, value = $6, min_amount = $7, min_quantity = $8,
             product_ids = $9, bundle_product_ids = $10, bundle_discount_product_id = $11, starts_at = $12, ends_at = $13,
             is_active = $14, updated_at = now()
         WHERE discount_rules.tenant_id = $2
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as::<_, Rule>(sqlx::AssertSqlSafe(sql))
        .bind(rule.id)
        .bind(auth.tenant_id.0)
        .bind(&rule.name)
        .bind(&rule.kind)
        .bind(&rule.value_type)
        .bind(rule.value)
        .bind(rule.min_amount)
        .bind(rule.min_quantity)
        .bind(&rule.product_ids)
        .bind(&rule.bundle_product_ids)
        .bind(rule.bundle_discount_product_id)
        .bind(rule.starts_at)
        .bind(rule.ends_at)
        .bind(rule.is_active)
        .fetch_one(&mut *db)
        .await?)
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    Body(input): Body<RuleInput>,
) -> ApiResult<(StatusCode, Json<RuleView>)> {
    auth.require(MANAGERS)?;
    let mut missing = Vec::new();
    for (field, present) in [
        ("name", input.name.is_some()),
        ("type", input.kind.is_some()),
        ("valueType", input.value_type.is_some()),
        ("isActive", input.is_active.is_some()),
    ] {
        if !present {
            missing.push(FieldError::new(field, "is required"));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let mut tx = state.tx(auth.tenant_id).await?;
    let rule = merge(&mut tx, &auth, Rule::blank(), input).await?;
    let saved = save(&mut tx, &auth, &rule).await?;
    let after = snapshot(&mut tx, &auth, Entity::Discount, saved.id).await?;
    let change =
        Change { action: "create", entity: Entity::Discount, entity_id: saved.id.to_string(), before: None, after };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    state.quoter.forget(auth.tenant_id);
    Ok((StatusCode::CREATED, Json(saved.json())))
}

async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
    Body(input): Body<RuleInput>,
) -> ApiResult<Json<RuleView>> {
    auth.require(MANAGERS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Discount, id).await?;
    let current = fetch(&mut tx, &auth, id).await?;
    let rule = merge(&mut tx, &auth, current, input).await?;
    let saved = save(&mut tx, &auth, &rule).await?;
    trail.updated(&mut tx, &auth, "update", Entity::Discount, id, before).await?;
    tx.commit().await?;
    state.quoter.forget(auth.tenant_id);
    Ok(Json(saved.json()))
}

async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    trail: Trail,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    auth.require(MANAGERS)?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = snapshot(&mut tx, &auth, Entity::Discount, id).await?;
    let deleted = sqlx::query("DELETE FROM discount_rules WHERE tenant_id = $1 AND id = $2")
        .bind(auth.tenant_id.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found("discount"));
    }
    trail
        .record(
            &mut tx,
            &auth,
            Change { action: "delete", entity: Entity::Discount, entity_id: id.to_string(), before, after: None },
        )
        .await?;
    tx.commit().await?;
    state.quoter.forget(auth.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn show(State(state): State<AppState>, auth: AuthUser, PathId(id): PathId) -> ApiResult<Json<RuleView>> {
    Ok(Json(fetch(&mut *state.tx(auth.tenant_id).await?, &auth, id).await?.json()))
}

async fn list(State(state): State<AppState>, auth: AuthUser, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    let sql = format!(
        "SELECT {COLUMNS} FROM discount_rules WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    );
    let mut tx = state.tx(auth.tenant_id).await?;
    let query = sqlx::query_as::<_, Rule>(sqlx::AssertSqlSafe(sql)).bind(auth.tenant_id.0);
    let rules = page.bind(query).fetch_all(&mut *tx).await?;
    let views: Vec<RuleView> = rules.into_iter().map(Rule::json).collect();
    Ok(Json(page.finish(views, |v| (v.rule.created_at, v.rule.id))))
}

#[cfg(test)]
#[path = "discounts_tests.rs"]
mod tests;
