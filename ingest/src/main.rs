//! The ingest binary: `serve` (the HTTP API, default) and `seed-demo`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::config::Config;
use common::shutdown::{Shutdown, cancel_on_signal};

// glibc's malloc raises its mmap threshold after a large block is freed, so
// after the first 2 MiB sync body every later one comes from the heap and its
// pages stay resident: ingest's peak RSS doubled under offline sync
// (BENCHMARKS.md). jemalloc returns such extents and keeps the peak bounded.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "ingest", about = "Warungin order API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API on INGEST_ADDR (default).
    Serve,
    /// Create the demo shop (idempotent) and print its login.
    SeedDemo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env().context("invalid configuration")?;
    common::telemetry::init(&config, "ingest");
    let shutdown = Shutdown::new();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            cancel_on_signal(shutdown.clone());
            let app = ingest::http::app::Application::build(config, shutdown).await.context("starting ingest")?;
            app.run().await.context("serving HTTP")?;
        }
        Command::SeedDemo => {
            // The demo shop is platform set-up: it runs as the tables' owner.
            let db = common::db::pool(&config.database.migrate_url, 2).context("database")?;
            let tenant = ingest::seed::demo(&db).await.map_err(|e| anyhow::anyhow!("seeding the demo shop: {e}"))?;
            println!("demo shop {} (tenant {tenant})", ingest::seed::DEMO_SLUG);
            println!("  login: {} / {}", ingest::seed::DEMO_EMAIL, ingest::seed::DEMO_PASSWORD);
        }
    }
    Ok(())
}
