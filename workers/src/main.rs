//! The workers binary: `run` (consume and commit), `migrate` (apply the
//! database migrations, the run and test scripts call it explicitly; or
//! reverse the newest ones with `--down N`) and `dlq` (the operator CLI for
//! failed syncs and dead letters).

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::config::{AppEnv, Config};
use common::shutdown::{Shutdown, cancel_on_signal};
use std::io::Write as _;

#[derive(Parser)]
#[command(name = "workers", about = "Warungin order workers")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume the order and dead-letter queues and commit orders (default).
    Run,
    /// Create the database if missing and apply pending migrations (or, with
    /// --down N, reverse the newest N applied ones).
    Migrate {
        /// Reverse the newest N applied migrations with their down scripts
        /// (newest first) instead of applying anything. The tables and
        /// columns they created are dropped with their data: take a backup
        /// first (scripts/backup). Refused when APP_ENV=production unless
        /// --yes-i-have-a-backup is given too.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        down: Option<u32>,
        /// Confirm that a fresh backup exists: required with --down when
        /// APP_ENV=production.
        #[arg(long, requires = "down")]
        yes_i_have_a_backup: bool,
    },
    /// Operator tools for failed syncs and dead letters, across tenants.
    Dlq {
        #[command(subcommand)]
        command: workers::dlq::operator::DlqCommand,
        /// Who acts, as the failed syncs' history shows it.
        #[arg(long, global = true, env = "USER", default_value = "operator")]
        by: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let config = Config::from_env().context("invalid configuration")?;
    common::telemetry::init(&config, "workers");
    let ok = match cli.command.unwrap_or(Command::Run) {
        Command::Migrate { down: Some(steps), yes_i_have_a_backup } => {
            migrate_down(&config, steps, yes_i_have_a_backup).await?
        }
        Command::Migrate { down: None, .. } => migrate(&config).await?,
        Command::Run => run(&config).await?,
        Command::Dlq { command, by } => {
            let by = format!("operator:{by}");
            workers::dlq::operator::run(command, &config, &by, &mut std::io::stdout().lock()).await?
        }
    };
    Ok(if ok { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

async fn run(config: &Config) -> anyhow::Result<bool> {
    let shutdown = Shutdown::new();
    cancel_on_signal(shutdown.clone());
    let worker = workers::start(config, shutdown).await.context("starting the worker")?;
    worker.task.await.context("worker task")?;
    Ok(true)
}

async fn migrate(config: &Config) -> anyhow::Result<bool> {
    common::db::migrate(&config.database.migrate_url).await.context("migrating the database")?;
    tracing::info!("migrations applied");
    if let Ok(password) = std::env::var("DEV_ROLE_PASSWORD") {
        anyhow::ensure!(config.env != AppEnv::Production, "DEV_ROLE_PASSWORD is refused in production");
        common::db::set_role_passwords(&config.database.migrate_url, &password)
            .await
            .context("setting role passwords")?;
    }
    Ok(true)
}

/// Reverse the newest `steps` migrations; refused in production without the backup flag.
async fn migrate_down(config: &Config, steps: u32, yes_i_have_a_backup: bool) -> anyhow::Result<bool> {
    anyhow::ensure!(
        config.env != AppEnv::Production || yes_i_have_a_backup,
        "refusing `migrate --down` in production (APP_ENV=production): it drops what the reversed \
         migrations created, data included. Take a backup (scripts/backup), then pass \
         --yes-i-have-a-backup"
    );
    let url = &config.database.migrate_url;
    let reverted = common::db::migrate_down(url, usize::try_from(steps).context("--down")?)
        .await
        .context("reversing migrations")?;
    let now = common::db::schema_version(url).await.context("reading the schema version")?;
    let mut out = std::io::stdout().lock();
    for migration in &reverted {
        writeln!(out, "reverted {} {}", migration.version, migration.description)?;
    }
    let version = now.map_or_else(|| "none (no migration applied)".to_owned(), |v| v.to_string());
    writeln!(out, "schema version: {version}")?;
    tracing::warn!(reverted = reverted.len(), schema_version = ?now, "migrations reversed");
    Ok(true)
}
