//! What the operator CLI reads: failed syncs and dead letters across
//! tenants, filtered, as a table or as JSON lines.

use super::error::OperatorError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
use std::io::Write;
use uuid::Uuid;

#[derive(Debug, Clone, clap::Args)]
pub struct Filter {
    #[arg(long)]
    pub tenant: Option<Uuid>,
    /// A reason code, e.g. insufficient_stock.
    #[arg(long)]
    pub reason: Option<String>,
    /// open (default), resolved or discarded.
    #[arg(long, default_value = "open")]
    pub status: String,
    /// Only what last failed at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedSyncRow {
    id: Uuid,
    tenant_id: Uuid,
    order_id: Uuid,
    client_order_id: Uuid,
    status: String,
    reason_code: String,
    reason_message: String,
    attempts: i32,
    last_failed_at: DateTime<Utc>,
    last_retried_at: Option<DateTime<Utc>>,
    request: Json<serde_json::Value>,
}

const FAILED_SYNCS: &str = "
SELECT id, tenant_id, COALESCE(order_id, refund_order_id) AS order_id, client_order_id, status, reason_code, reason_message, attempts, last_failed_at,
       last_retried_at, request
FROM failed_syncs
WHERE status = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::text IS NULL OR reason_code = $3)
  AND ($4::timestamptz IS NULL OR last_failed_at >= $4)
ORDER BY last_failed_at, id LIMIT $5";

async fn select(db: &PgPool, filter: &Filter, limit: i64) -> Result<Vec<FailedSyncRow>, sqlx::Error> {
    sqlx::query_as::<_, FailedSyncRow>(FAILED_SYNCS)
        .bind(&filter.status)
        .bind(filter.tenant)
        .bind(&filter.reason)
        .bind(filter.since)
        .bind(limit)
        .fetch_all(db)
        .await
}

pub async fn failed_syncs(
    db: &PgPool,
    filter: &Filter,
    limit: i64,
    json: bool,
    out: &mut impl Write,
) -> Result<bool, OperatorError> {
    let rows = select(db, filter, limit).await?;
    if json {
        for row in &rows {
            writeln!(out, "{}", serde_json::to_string(row).unwrap_or_default())?;
        }
        return Ok(true);
    }
    writeln!(
        out,
        "{:<36}  {:<36}  {:<20}  {:>3}  {:<20}  {:<9}",
        "ID", "TENANT", "REASON", "TRY", "LAST FAILED", "STATUS"
    )?;
    for r in &rows {
        let failed = r.last_failed_at.format("%Y-%m-%d %H:%M:%S");
        writeln!(
            out,
            "{:<36}  {:<36}  {:<20}  {:>3}  {:<20}  {:<9}",
            r.id, r.tenant_id, r.reason_code, r.attempts, failed, r.status
        )?;
    }
    writeln!(out, "{} failed sync(s)", rows.len())?;
    Ok(true)
}

/// Open failed syncs to replay; those retried since they last failed are
/// skipped (a replay of them is already on its way) unless `again`.
pub async fn replayable(
    db: &PgPool,
    filter: &Filter,
    again: bool,
    out: &mut impl Write,
) -> Result<Vec<Uuid>, OperatorError> {
    let open = Filter { status: "open".into(), ..filter.clone() };
    let rows = select(db, &open, i64::MAX).await?;
    let (pending, fresh): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| !again && r.last_retried_at.is_some_and(|t| t >= r.last_failed_at));
    if !pending.is_empty() {
        writeln!(
            out,
            "skipping {} already retried since they last failed (use --again to include them)",
            pending.len()
        )?;
    }
    Ok(fresh.into_iter().map(|r| r.id).collect())
}

#[derive(sqlx::FromRow, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DeadLetterRow {
    id: Uuid,
    tenant_id: Option<Uuid>,
    queue: String,
    reason_code: String,
    reason_message: String,
    status: String,
    received_at: DateTime<Utc>,
    headers: Json<serde_json::Value>,
    #[serde(skip)]
    body: Vec<u8>,
}

impl DeadLetterRow {
    fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap_or_else(|_| format!("(binary) {:?}", self.body))
    }
}

const DEAD_LETTERS: &str = "
SELECT id, tenant_id, queue, reason_code, reason_message, status, received_at, headers, body FROM dead_letters
WHERE status = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::timestamptz IS NULL OR received_at >= $3)
ORDER BY received_at, id LIMIT $4";

pub async fn dead_letters(
    db: &PgPool,
    filter: &Filter,
    limit: i64,
    json: bool,
    out: &mut impl Write,
) -> Result<bool, OperatorError> {
    let rows = sqlx::query_as::<_, DeadLetterRow>(DEAD_LETTERS)
        .bind(&filter.status)
        .bind(filter.tenant)
        .bind(filter.since)
        .bind(limit)
        .fetch_all(db)
        .await?;
    for row in &rows {
        if json {
            let mut value = serde_json::to_value(row).unwrap_or_default();
            value["body"] = serde_json::Value::String(row.body_text());
            writeln!(out, "{value}")?;
        } else {
            writeln!(
                out,
                "{}  {}  {}  {}: {}",
                row.id,
                row.received_at.format("%Y-%m-%d %H:%M:%S"),
                row.reason_code,
                row.queue,
                row.reason_message
            )?;
            writeln!(out, "    body: {}", row.body_text().chars().take(200).collect::<String>())?;
        }
    }
    if !json {
        writeln!(out, "{} dead letter(s)", rows.len())?;
    }
    Ok(true)
}

pub async fn show(db: &PgPool, id: Uuid, out: &mut impl Write) -> Result<bool, OperatorError> {
    let failed = sqlx::query_as::<_, FailedSyncRow>(
        "SELECT id, tenant_id, COALESCE(order_id, refund_order_id) AS order_id, client_order_id, status, reason_code, reason_message, attempts, last_failed_at,
                last_retried_at, request FROM failed_syncs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    if let Some(row) = failed {
        let mut value = serde_json::to_value(&row).unwrap_or_default();
        value["history"] = history(db, id).await?;
        writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())?;
        return Ok(true);
    }
    let dead = sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, tenant_id, queue, reason_code, reason_message, status, received_at, headers, body FROM dead_letters WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    match dead {
        Some(row) => {
            let mut value = serde_json::to_value(&row).unwrap_or_default();
            value["body"] = serde_json::Value::String(row.body_text());
            value["history"] = history(db, id).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())?;
            Ok(true)
        }
        None => {
            writeln!(out, "{id}: no failed sync or dead letter")?;
            Ok(false)
        }
    }
}

/// Who did what to a failed sync or dead letter, oldest first: its review
/// events (API and CLI) and the audit trail's rows naming it.
async fn history(db: &PgPool, id: Uuid) -> Result<serde_json::Value, OperatorError> {
    let rows: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('at', at, 'action', action, 'by', by, 'note', note) FROM (
             SELECT at, action, by, note FROM failed_sync_events WHERE failed_sync_id = $1
             UNION ALL
             SELECT resolved_at, status, resolved_by, note FROM dead_letters WHERE id = $1 AND resolved_at IS NOT NULL
             UNION ALL
             SELECT at, 'audit:' || action, actor, request_id FROM audit_log WHERE entity_id = $1::text
         ) h ORDER BY at",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(serde_json::Value::Array(rows))
}
