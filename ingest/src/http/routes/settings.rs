//! A shop's money settings: tax (none, inclusive or exclusive, rate in
//! basis points), service charge, cash rounding, receipt numbering, and
//! whether cash may stand in for non-cash payments in a refund.
//! Tax, service charge and cash rounding have a history (migration 19: a
//! trigger appends an entry, effective from the change, whichever code
//! changes them): an order is charged by the entry in force at its sale
//! time, so a change applies to sales made after it and never to an
//! offline sale made before it and synced later. `effectiveFrom` says
//! since when the current charges apply. Receipt numbering applies at commit.

use crate::auth::{AuthUser, MANAGERS};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Body;
use crate::http::middleware::limits::Writer;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(show).patch(update))
}

#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Settings {
    tax_mode: String,
    tax_rate_bp: i32,
    service_charge_bp: i32,
    service_charge_taxed: bool,
    cash_rounding: String,
    receipt_prefix: String,
    receipt_reset: String,
    refund_cash_for_noncash: bool,
    /// Since when the current tax, service charge and cash rounding apply.
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SettingsPatch {
    tax_mode: Option<String>,
    tax_rate_bp: Option<i64>,
    service_charge_bp: Option<i64>,
    service_charge_taxed: Option<bool>,
    cash_rounding: Option<String>,
    receipt_prefix: Option<String>,
    receipt_reset: Option<String>,
    refund_cash_for_noncash: Option<bool>,
}

impl SettingsPatch {
    /// Every offending field at once, as the contract's 422.
    fn check(&self) -> ApiResult<()> {
        let mut errors = Vec::new();
        let mut one_of = |field: &str, value: &Option<String>, allowed: &[&str]| {
            if value.as_deref().is_some_and(|v| !allowed.contains(&v)) {
                errors.push(common::order::FieldError::new(field, format!("must be one of {}", allowed.join(", "))));
            }
        };
        one_of("taxMode", &self.tax_mode, &["none", "inclusive", "exclusive"]);
        one_of("cashRounding", &self.cash_rounding, &["none", "100", "500"]);
        one_of("receiptReset", &self.receipt_reset, &["daily", "yearly"]);
        for (field, bp) in [("taxRateBp", self.tax_rate_bp), ("serviceChargeBp", self.service_charge_bp)] {
            if bp.is_some_and(|bp| !(0..=10_000).contains(&bp)) {
                errors.push(common::order::FieldError::new(field, "must be 0 to 10000 basis points (100 % = 10000)"));
            }
        }
        let prefix_ok =
            |p: &str| (1..=12).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if self.receipt_prefix.as_deref().is_some_and(|p| !prefix_ok(p)) {
            errors.push(common::order::FieldError::new("receiptPrefix", "must be 1 to 12 of A-Z and 0-9"));
        }
        if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
    }
}

async fn read(db: &mut PgConnection, tenant: Uuid) -> ApiResult<Settings> {
    Ok(sqlx::query_as(
        "SELECT tax_mode, tax_rate_bp, service_charge_bp, service_charge_taxed, cash_rounding, receipt_prefix,
                receipt_reset, refund_cash_for_noncash,
                (SELECT max(c.effective_at) FROM tenant_charge_settings c WHERE c.tenant_id = $1) AS effective_from
         FROM tenants WHERE id = $1",
    )
    .bind(tenant)
    .fetch_one(db)
    .await?)
}

async fn show(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Settings>> {
    let mut tx = state.tx(auth.tenant_id).await?;
    Ok(Json(read(&mut tx, auth.tenant_id.0).await?))
}

async fn update(
    State(state): State<AppState>,
    Writer(auth): Writer,
    trail: crate::audit::Trail,
    Body(patch): Body<SettingsPatch>,
) -> ApiResult<Json<Settings>> {
    auth.require(MANAGERS)?;
    patch.check()?;
    let mut tx = state.tx(auth.tenant_id).await?;
    let before = read(&mut tx, auth.tenant_id.0).await?;
    sqlx::query(
        "UPDATE tenants SET tax_mode = coalesce($2, tax_mode), tax_rate_bp = coalesce($3, tax_rate_bp),
                service_charge_bp = coalesce($4, service_charge_bp),
                service_charge_taxed = coalesce($5, service_charge_taxed),
                cash_rounding = coalesce($6, cash_rounding), receipt_prefix = coalesce($7, receipt_prefix),
                receipt_reset = coalesce($8, receipt_reset),
                refund_cash_for_noncash = coalesce($9, refund_cash_for_noncash)
         WHERE id = $1",
    )
    .bind(auth.tenant_id.0)
    .bind(&patch.tax_mode)
    .bind(patch.tax_rate_bp.map(|v| v as i32))
    .bind(patch.service_charge_bp.map(|v| v as i32))
    .bind(patch.service_charge_taxed)
    .bind(&patch.cash_rounding)
    .bind(&patch.receipt_prefix)
    .bind(&patch.receipt_reset)
    .bind(patch.refund_cash_for_noncash)
    .execute(&mut *tx)
    .await?;
    let settings = read(&mut tx, auth.tenant_id.0).await?;
    let change = crate::audit::Change {
        action: "update",
        entity: crate::audit::Entity::Settings,
        entity_id: auth.tenant_id.to_string(),
        before: serde_json::to_value(&before).ok(),
        after: serde_json::to_value(&settings).ok(),
    };
    trail.record(&mut tx, &auth, change).await?;
    tx.commit().await?;
    state.quoter.forget(auth.tenant_id);
    // Who changed what, from and to (the audit of a setting that pays cash out).
    let (from, to) =
        (serde_json::to_value(&before).unwrap_or_default(), serde_json::to_value(&settings).unwrap_or_default());
    tracing::info!(tenant_id = %auth.tenant_id, user_id = %auth.user_id, %from, %to, "tenant settings changed");
    Ok(Json(settings))
}
