//! The operator CLI's replays and discards in the shop's audit trail (the
//! API's own are recorded by ingest): actor `operator:<name>`, the failed
//! sync or dead letter, its status before and after. A dead letter with no
//! readable shop has no trail to go in; the dead letter's own
//! `resolved_by` records it.

use sqlx::PgPool;
use uuid::Uuid;

/// What the operator acted on.
#[derive(Clone, Copy, Debug)]
pub enum Acted {
    FailedSync,
    DeadLetter,
}

pub async fn record(db: &PgPool, target: Acted, id: Uuid, action: &str, by: &str) -> Result<(), sqlx::Error> {
    let sql = match target {
        Acted::FailedSync => {
            "INSERT INTO audit_log (id, tenant_id, actor, action, entity, entity_id, before, after)
             SELECT $1, f.tenant_id, $2, $3, 'failed_sync', f.id::text,
                    jsonb_build_object('status', 'open'),
                    jsonb_build_object('status', f.status, 'attempts', f.attempts, 'reason', f.reason_code)
             FROM failed_syncs f WHERE f.id = $4"
        }
        Acted::DeadLetter => {
            "INSERT INTO audit_log (id, tenant_id, actor, action, entity, entity_id, before, after)
             SELECT $1, d.tenant_id, $2, $3, 'dead_letter', d.id::text,
                    jsonb_build_object('status', 'open'),
                    jsonb_build_object('status', d.status, 'queue', d.queue, 'reason', d.reason_code)
             FROM dead_letters d WHERE d.id = $4 AND d.tenant_id IS NOT NULL"
        }
    };
    sqlx::query(sql).bind(Uuid::now_v7()).bind(by).bind(action).bind(id).execute(db).await?;
    Ok(())
}
