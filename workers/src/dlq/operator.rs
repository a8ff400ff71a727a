//! The operator CLI (`workers dlq ...`): failed syncs and raw dead letters
//! across every tenant, for platform operators. It talks to PostgreSQL and
//! RabbitMQ with the services' own configuration, shares retry and discard
//! with the review API (`common::replay`), and reports whether everything
//! it was asked to do succeeded (the binary exits non-zero otherwise).

use super::audit::{self, Acted};
pub use super::error::OperatorError;
use super::listing::{self, Filter};
use chrono::{DateTime, Utc};
use common::broker::{ORDER_ROUTING_KEY, Publisher, Target, headers};
use common::config::Config;
use common::ids::FailedSyncId;
use common::replay::{self, Overrides, Scope};
use common::shutdown::Shutdown;
use lapin::types::AMQPValue;
use sqlx::PgPool;
use std::io::Write;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// List failed syncs (or, with --raw, dead letters that are not orders).
    List {
        #[command(flatten)]
        filter: Filter,
        /// Dead letters that are not orders: raw body and headers.
        #[arg(long)]
        raw: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one failed sync or dead letter, with its request or raw body.
    Show { id: Uuid },
    /// Replay one failed sync or dead letter by id, or every open failed sync matching the filter.
    Replay {
        id: Option<Uuid>,
        #[command(flatten)]
        filter: Filter,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// At most this many replays per second.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        /// Also replay failed syncs already retried since they last failed.
        #[arg(long)]
        again: bool,
        #[arg(long)]
        accept_client_prices: bool,
        #[arg(long)]
        allow_oversell: bool,
    },
    /// Discard one failed sync or dead letter.
    Discard {
        id: Uuid,
        #[arg(long)]
        reason: String,
    },
}

/// Run one command; `Ok(false)` when part of what was asked failed.
pub async fn run(command: DlqCommand, config: &Config, by: &str, out: &mut impl Write) -> Result<bool, OperatorError> {
    let db = common::db::pool(&config.database.url, 4)?;
    match command {
        DlqCommand::List { filter, raw: false, limit, json } => {
            listing::failed_syncs(&db, &filter, limit, json, out).await
        }
        DlqCommand::List { filter, raw: true, limit, json } => {
            listing::dead_letters(&db, &filter, limit, json, out).await
        }
        DlqCommand::Show { id } => listing::show(&db, id, out).await,
        DlqCommand::Discard { id, reason } => discard(&db, id, &reason, by, out).await,
        DlqCommand::Replay { id, filter, dry_run, rate, again, accept_client_prices, allow_oversell } => {
            let overrides = Overrides { accept_client_prices, allow_oversell };
            let ids = match id {
                Some(id) => vec![id],
                None => listing::replayable(&db, &filter, again, out).await?,
            };
            if dry_run {
                writeln!(out, "dry run: {} would be replayed", ids.len())?;
                return Ok(true);
            }
            replay(config, &db, &ids, rate, overrides, by, out).await
        }
    }
}

async fn discard(db: &PgPool, id: Uuid, reason: &str, by: &str, out: &mut impl Write) -> Result<bool, OperatorError> {
    match replay::discard(db, Scope::Platform, FailedSyncId(id), reason, by).await {
        Ok(()) => {
            audit::record(db, Acted::FailedSync, id, "discard", by).await?;
            writeln!(out, "discarded failed sync {id}")?;
            return Ok(true);
        }
        Err(replay::ReviewError::NotFound) => {}
        Err(error) => {
            writeln!(out, "failed sync {id}: {error}")?;
            return Ok(false);
        }
    }
    let done = sqlx::query(
        "UPDATE dead_letters SET status = 'discarded', resolved_at = now(), resolved_by = $2, note = $3 WHERE id = $1 AND status = 'open'",
    )
    .bind(id)
    .bind(by)
    .bind(reason)
    .execute(db)
    .await?;
    let ok = done.rows_affected() == 1;
    if ok {
        audit::record(db, Acted::DeadLetter, id, "discard", by).await?;
    }
    writeln!(
        out,
        "{}",
        if ok { format!("discarded dead letter {id}") } else { format!("{id}: no open failed sync or dead letter") }
    )?;
    Ok(ok)
}

async fn replay(
    config: &Config,
    db: &PgPool,
    ids: &[Uuid],
    rate: f64,
    overrides: Overrides,
    by: &str,
    out: &mut impl Write,
) -> Result<bool, OperatorError> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(OperatorError::Usage("--rate must be a positive number".into()));
    }
    let shutdown = Shutdown::new();
    let publisher =
        Publisher::start(&config.broker, format!("warungin-operator-{}", std::process::id()), shutdown.clone());
    if !publisher.wait_connected(Duration::from_secs(10)).await {
        return Err(OperatorError::Broker);
    }
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let (mut replayed, mut skipped, mut failed) = (0, 0, 0);
    for id in ids {
        pace.tick().await;
        match replay::retry(db, &publisher, Scope::Platform, FailedSyncId(*id), overrides, by).await {
            Ok(()) => {
                audit::record(db, Acted::FailedSync, *id, "retry", by).await?;
                replayed += 1;
            }
            Err(replay::ReviewError::NotOpen(status)) => {
                writeln!(out, "skipped {id}: {status}")?;
                skipped += 1;
            }
            Err(replay::ReviewError::NotFound) => match replay_raw(db, &publisher, *id, by).await {
                Ok(true) => replayed += 1,
                Ok(false) => {
                    writeln!(out, "failed {id}: no open failed sync or dead letter")?;
                    failed += 1;
                }
                Err(error) => {
                    writeln!(out, "failed {id}: {error}")?;
                    failed += 1;
                }
            },
            Err(error) => {
                writeln!(out, "failed {id}: {error}")?;
                failed += 1;
            }
        }
    }
    shutdown.cancel();
    writeln!(out, "replayed {replayed}, skipped {skipped}, failed {failed}")?;
    Ok(failed == 0)
}

/// Republish a dead letter's raw body onto the order queue (after an
/// operator inspected it), as a fresh first attempt.
async fn replay_raw(db: &PgPool, publisher: &Publisher, id: Uuid, by: &str) -> Result<bool, OperatorError> {
    let found: Option<(Vec<u8>, DateTime<Utc>)> =
        sqlx::query_as("SELECT body, received_at FROM dead_letters WHERE id = $1 AND status = 'open'")
            .bind(id)
            .fetch_optional(db)
            .await?;
    let Some((body, _)) = found else {
        return Ok(false);
    };
    let exchange = publisher.topology().orders_exchange();
    let properties = headers::with_headers(
        &lapin::BasicProperties::default().with_content_type("application/json".into()),
        &[(headers::ATTEMPT, AMQPValue::LongLongInt(1))],
    );
    publisher
        .publish(Target { exchange: &exchange, routing_key: ORDER_ROUTING_KEY }, &body, properties)
        .await
        .map_err(|_| OperatorError::Broker)?;
    sqlx::query("UPDATE dead_letters SET status = 'replayed', resolved_at = now(), resolved_by = $2 WHERE id = $1")
        .bind(id)
        .bind(by)
        .execute(db)
        .await?;
    audit::record(db, Acted::DeadLetter, id, "replay", by).await?;
    Ok(true)
}
