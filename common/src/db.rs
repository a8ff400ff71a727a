//! PostgreSQL set-up shared by both binaries: the sqlx pool used by the API
//! and the tooling, and the migrator (the SQL files in `migrations/`).

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// The migrations, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects lazily, so a service starts (and says it is not
/// ready) while the database is down, and recovers when it returns.
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(options))
}

/// Development and test machines with password authentication: give the
/// services' and operators' roles a known password (never in production).
pub async fn set_role_passwords(url: &str, password: &str) -> Result<(), sqlx::Error> {
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
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

/// `{a,b}`: the text form of a uuid[] for `app.tenant_ids`.
pub fn tenant_list(tenants: &[uuid::Uuid]) -> String {
    let ids: Vec<String> = tenants.iter().map(uuid::Uuid::to_string).collect();
    format!("{{{}}}", ids.join(","))
}

/// Create the database when missing, then apply pending migrations.
pub async fn migrate(url: &str) -> Result<(), sqlx::Error> {
    if !Postgres::database_exists(url).await? {
        Postgres::create_database(url).await?;
    }
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}
