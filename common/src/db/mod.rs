//! PostgreSQL set-up shared by both binaries: the sqlx pool used by the API
//! and the tooling (on the primary, when `DATABASE_URL` lists standbys
//! too: `primary`), row-level security's tenant scope, and the migrator.

mod migrate;
mod primary;

pub use migrate::{MIGRATOR, MigrateDownError, Reverted, migrate, migrate_down, schema_version};
pub use primary::{IN_RECOVERY, primary_url, server_options};

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// A pool that connects lazily, so a service starts (and says it is not
/// ready) while the database is down, and recovers when it returns. With
/// several servers in `url` it follows the primary (`primary`).
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let mut servers = server_options(url)?;
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Some(Duration::from_secs(300)));
    if servers.len() > 1 {
        return Ok(primary::following_pool(servers, options));
    }
    let server = servers.pop().ok_or_else(|| sqlx::Error::Configuration("DATABASE_URL names no server".into()))?;
    Ok(options.connect_lazy_with(server))
}

/// Development and test machines with password authentication: give the
/// services' and operators' roles a known password (never in production).
pub async fn set_role_passwords(url: &str, password: &str) -> Result<(), sqlx::Error> {
    let pool = PgPoolOptions::new().max_connections(1).connect(&primary_url(url).await?).await?;
    for role in ["warungin_app", "warungin_platform"] {
        // Role names are constants; the password is a bound literal via format_ident-free quoting.
        let statement = format!("ALTER ROLE {role} PASSWORD '{}'", password.replace('\'', "''"));
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await?;
    }
    pool.close().await;
    Ok(())
}

/// A transaction that may see only `tenants`' rows: the row-level security
/// policies read `app.tenant_ids`, set here for this transaction alone. A
/// query that forgets its tenant filter still sees nothing of other shops.
pub async fn tenant_tx(
    pool: &PgPool,
    tenants: &[uuid::Uuid],
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true)").bind(tenant_list(tenants)).execute(&mut *tx).await?;
    Ok(tx)
}

/// [`tenant_tx`], read-only and on one snapshot (REPEATABLE READ): a
/// report's several statements all see the same committed batches.
pub async fn tenant_snapshot(
    pool: &PgPool,
    tenants: &[uuid::Uuid],
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true)").bind(tenant_list(tenants)).execute(&mut *tx).await?;
    Ok(tx)
}

/// `{a,b}`: the text form of a uuid[] for `app.tenant_ids`.
pub fn tenant_list(tenants: &[uuid::Uuid]) -> String {
    let ids: Vec<String> = tenants.iter().map(uuid::Uuid::to_string).collect();
    format!("{{{}}}", ids.join(","))
}
