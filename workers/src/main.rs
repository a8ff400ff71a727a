//! The workers binary: `run` (consume and commit), `migrate` (apply the
//! database migrations; the run and test scripts call it explicitly) and
//! `dlq` (the operator CLI for failed syncs and dead letters).

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::config::{AppEnv, Config};
use common::shutdown::{Shutdown, cancel_on_signal};

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
    /// Create the database if missing and apply pending migrations.
    Migrate,
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
    match cli.command.unwrap_or(Command::Run) {
        Command::Migrate => {
            common::db::migrate(&config.database.migrate_url).await.context("migrating the database")?;
            tracing::info!("migrations applied");
            if let Ok(password) = std::env::var("DEV_ROLE_PASSWORD") {
                anyhow::ensure!(config.env != AppEnv::Production, "DEV_ROLE_PASSWORD is refused in production");
                common::db::set_role_passwords(&config.database.migrate_url, &password)
                    .await
                    .context("setting role passwords")?;
            }
        }
        Command::Run => {
            let shutdown = Shutdown::new();
            cancel_on_signal(shutdown.clone());
            let worker = workers::start(&config, shutdown).await.context("starting the worker")?;
            worker.task.await.context("worker task")?;
        }
        Command::Dlq { command, by } => {
            let by = format!("operator:{by}");
            let ok = workers::dlq::operator::run(command, &config, &by, &mut std::io::stdout().lock()).await?;
            if !ok {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
