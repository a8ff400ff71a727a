//! The migrator: the SQL files in `migrations/`, every migration a
//! reversible pair, `<version>_<name>.up.sql` and `<version>_<name>.down.sql`.
//! Every entry point takes a `DATABASE_URL` that may list standbys too and
//! works on the primary.

use super::primary::primary_url;
use sqlx::migrate::{Migrate, MigrateDatabase, MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, Postgres};

/// The migrations, embedded at build time (`build.rs` rebuilds this crate
/// when a file in `migrations/` is added or changed).
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Where sqlx records the applied migrations (its default).
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Create the database when missing, then apply pending migrations.
pub async fn migrate(url: &str) -> Result<(), sqlx::Error> {
    let url = &primary_url(url).await?;
    if !Postgres::database_exists(url).await? {
        Postgres::create_database(url).await?;
    }
    let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// A migration `migrate_down` reversed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reverted {
    pub version: i64,
    pub description: String,
}

/// Why `migrate_down` failed. A refusal reverses nothing; a down script that
/// fails rolls back, and those reversed before it stay reversed (`Partial`).
#[derive(Debug, thiserror::Error)]
pub enum MigrateDownError {
    #[error("asked to reverse {requested} migration(s), but {applied} are applied")]
    TooFew { requested: usize, applied: usize },
    #[error(
        "migration {0} is applied but this build does not know it (a newer release applied it): \
         reverse it with the release that has it"
    )]
    Unknown(i64),
    #[error("migration {0} was applied from a different script than this build's: refusing to reverse it")]
    Changed(i64),
    #[error("migration {0} has no down script")]
    NoDownScript(i64),
    #[error("reversed {}; reversing the next one failed and was rolled back", names(reverted))]
    Partial { reverted: Vec<Reverted>, source: MigrateError },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Reverse the newest `steps` applied migrations with their down scripts,
/// newest first, each in its own transaction (as sqlx applies them); returns
/// what was reversed. Nothing is reversed unless every one of them is a
/// migration this build knows, unchanged since it was applied, with a down
/// script. Holds the migrator's lock throughout, so a concurrent `migrate`
/// waits.
pub async fn migrate_down(url: &str, steps: usize) -> Result<Vec<Reverted>, MigrateDownError> {
    let mut conn = PgConnection::connect(&primary_url(url).await?).await?;
    conn.lock().await?;
    let result = migrate_down_locked(&mut conn, steps).await;
    if result.is_err() {
        // The session ends here, and its lock with it.
        let _ = conn.close().await;
        return result;
    }
    conn.unlock().await?;
    conn.close().await?;
    result
}

async fn migrate_down_locked(conn: &mut PgConnection, steps: usize) -> Result<Vec<Reverted>, MigrateDownError> {
    let before = applied_versions(conn).await?;
    if steps > before.len() {
        return Err(MigrateDownError::TooFew { requested: steps, applied: before.len() });
    }
    let newest_first: Vec<&(i64, Vec<u8>)> = before.iter().rev().collect();
    for (version, checksum) in &newest_first[..steps] {
        let up = MIGRATOR.iter().find(|m| m.version == *version && m.migration_type.is_up_migration());
        match up {
            None => return Err(MigrateDownError::Unknown(*version)),
            Some(up) if up.checksum.as_ref() != checksum.as_slice() => {
                return Err(MigrateDownError::Changed(*version));
            }
            Some(_) => {}
        }
        if !MIGRATOR.iter().any(|m| m.version == *version && m.migration_type.is_down_migration()) {
            return Err(MigrateDownError::NoDownScript(*version));
        }
    }
    // sqlx reverses every applied migration newer than the target: the
    // newest applied one that stays (0: none stays).
    let target = newest_first.get(steps).map_or(0, |(version, _)| *version);
    let undone = MIGRATOR.undo(&mut *conn, target).await;
    let after =
        applied_versions(conn).await.map(|after| after.into_iter().map(|(version, _)| version).collect::<Vec<_>>());
    match (undone, after) {
        (Ok(()), after) => Ok(reverted(&newest_first, &after?)),
        (Err(source), Ok(after)) => match reverted(&newest_first, &after) {
            reverted if reverted.is_empty() => Err(source.into()),
            reverted => Err(MigrateDownError::Partial { reverted, source }),
        },
        (Err(source), Err(_)) => Err(source.into()),
    }
}

fn names(reverted: &[Reverted]) -> String {
    reverted.iter().map(|r| format!("{} {}", r.version, r.description)).collect::<Vec<_>>().join(", ")
}

/// Those of `before` that are no longer applied, newest first.
fn reverted(before: &[&(i64, Vec<u8>)], after: &[i64]) -> Vec<Reverted> {
    before
        .iter()
        .map(|(version, _)| *version)
        .filter(|version| !after.contains(version))
        .map(|version| Reverted {
            version,
            description: MIGRATOR
                .iter()
                .find(|m| m.version == version)
                .map(|m| m.description.to_string())
                .unwrap_or_default(),
        })
        .collect()
}

/// The applied migrations (version, checksum), oldest first; none before the
/// first `migrate`.
async fn applied_versions(conn: &mut PgConnection) -> Result<Vec<(i64, Vec<u8>)>, MigrateDownError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(MIGRATIONS_TABLE).fetch_one(&mut *conn).await?;
    if !exists {
        return Ok(Vec::new());
    }
    if let Some(version) = conn.dirty_version(MIGRATIONS_TABLE).await? {
        return Err(MigrateError::Dirty(version).into());
    }
    let query = format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(query)).fetch_all(&mut *conn).await?)
}

/// The newest applied migration's version, if any.
pub async fn schema_version(url: &str) -> Result<Option<i64>, MigrateDownError> {
    let mut conn = PgConnection::connect(&primary_url(url).await?).await?;
    let version = applied_versions(&mut conn).await?.last().map(|(version, _)| *version);
    conn.close().await?;
    Ok(version)
}
