//! Operators at 3 a.m.: two of them working the same failed syncs at once,
//! one retrying (the other retrying with allowOversell) while a third
//! discards. Each failed sync must end resolved with its order committed
//! once, or discarded with its order failed and no effect; never both.

use crate::loadgen::Target;
use rand::RngExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::io::Write;
use uuid::Uuid;

/// Race retries and discards on up to `n` open failed syncs of the shop; what was answered.
pub async fn race(
    target: &Target,
    db: &PgPool,
    tenant: Uuid,
    n: i64,
    rng: &mut impl rand::Rng,
) -> anyhow::Result<String> {
    let open: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM failed_syncs WHERE tenant_id = $1 AND status = 'open' ORDER BY random() LIMIT $2",
    )
    .bind(tenant)
    .bind(n)
    .fetch_all(db)
    .await?;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for id in &open {
        let oversell = rng.random_bool(0.5);
        let retry = json!({});
        let retry_oversell = json!({ "overrides": { "allowOversell": oversell } });
        let discard = json!({ "reason": "chaos: a second operator discards it" });
        let (retry_path, discard_path) =
            (format!("/api/failed-syncs/{id}/retry"), format!("/api/failed-syncs/{id}/discard"));
        let (a, b, c) = tokio::join!(
            post(target, &retry_path, retry),
            post(target, &retry_path, retry_oversell),
            post(target, &discard_path, discard),
        );
        for (what, status) in [("retry", a), ("retry", b), ("discard", c)] {
            *answers.entry(format!("{what} {status}")).or_default() += 1;
        }
    }
    Ok(format!("{} open failed syncs retried twice and discarded at once: {answers:?}", open.len()))
}

/// One request into the history; its status (0 when unanswered: a fault may be under way).
async fn post(target: &Target, path: &str, body: Value) -> u16 {
    let sent_at = chrono::Utc::now();
    let response =
        target.http.post(format!("{}{path}", target.base)).bearer_auth(&target.token).json(&body).send().await;
    let status = response.as_ref().map_or(0, |r| r.status().as_u16());
    if let Some(history) = &target.history {
        let line = json!({ "at": sent_at, "path": path, "body": body, "status": status });
        if let Ok(mut file) = history.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
    status
}
