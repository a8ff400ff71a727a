//! The fault-injection run: `scripts/chaos` (long) or the short run in
//! `scripts/test`. Prints the faults as they happen and the checker's
//! verdict; exits non-zero when anything was lost, duplicated, unexpected,
//! stuck or unconserved, or a fault could not be injected.

use clap::Parser;
use harness::chaos::{self, Settings};

#[derive(Parser)]
#[command(name = "chaos", about = "Warungin under faults, checked against the terminals' history")]
struct Args {
    #[command(flatten)]
    settings: Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let report = chaos::run(Args::parse().settings).await?;
    chaos::print(&report);
    Ok(if report.ok() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}
