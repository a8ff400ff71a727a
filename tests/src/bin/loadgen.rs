//! Load generator: `loadgen --scenario hot --terminals 32 --duration 30s`.
//! Exits non-zero when the stock audit finds a mismatch or orders are left
//! pending. Run ingest with RATE_LIMIT_*_WRITES_PER_MIN=0 for load tests.
//! With `--history FILE --check`, the fault-injection run's checker also
//! judges the run (lost, duplicated, unexpected, stuck orders, stock
//! conservation, messages left in the retry and dead-letter queues): for a
//! fault injected from outside, e.g. a worker container stopped mid-load
//! (scripts/image-test).

use anyhow::Context;
use clap::Parser;
use harness::loadgen::{self, Plan, Scenario, Target};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "loadgen", about = "Drive the Warungin API and audit the stock afterwards")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// The tables' owner (products are seeded in bulk; the audit reads every row).
    #[arg(long, env = "LOADGEN_DATABASE_URL", default_value = "postgres://postgres:postgres@127.0.0.1:5432/warungin")]
    database_url: String,
    #[arg(long, env = "INTERNAL_API_KEY", default_value = common::config::DEV_INTERNAL_API_KEY)]
    internal_key: String,
    #[arg(long, value_enum, default_value = "uniform")]
    scenario: Scenario,
    #[arg(long, default_value_t = 32)]
    terminals: usize,
    /// Closed loop: requests per terminal (default: run for --duration).
    #[arg(long)]
    requests: Option<u64>,
    /// Open loop: requests per second across all terminals.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Products in the catalogue (the hot scenario uses 5 of them).
    #[arg(long, default_value_t = 10_000)]
    products: usize,
    #[arg(long, default_value_t = 1_000_000)]
    stock: i64,
    #[arg(long, default_value_t = 0.2)]
    duplicate_share: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// How long to wait for the pipeline to drain before auditing.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    drain: Duration,
    /// Write the summary as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Write every request and answer as JSON lines here.
    #[arg(long)]
    history: Option<std::path::PathBuf>,
    #[arg(long)]
    quiet: bool,
    /// After the drain, run the fault-injection checker over --history. The
    /// broker's queues are named from the workers' own environment
    /// (AMQP_PREFIX, RETRY_DELAYS, ...), so give loadgen the same.
    #[arg(long, requires = "history")]
    check: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    common::config::parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration"))
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await
        .context("database")?;
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(args.terminals).timeout(Duration::from_secs(30)).build()?;
    let shop = loadgen::setup::shop(&http, &args.base_url, &args.internal_key, &db, args.products, args.stock).await?;
    eprintln!(
        "tenant {} with {} products; {:?} for {:?}",
        shop.tenant_id,
        shop.catalogue.products.len(),
        args.scenario,
        args.duration
    );
    let history = match &args.history {
        Some(path) => Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)))),
        None => None,
    };
    let target = Arc::new(Target { http, base: args.base_url.clone(), token: shop.token.clone(), history });
    let plan = Plan {
        scenario: args.scenario,
        terminals: args.terminals,
        requests: args.requests,
        rate: args.rate,
        duration: args.duration,
        duplicate_share: args.duplicate_share,
        seed: args.seed,
        quiet: args.quiet,
        ..Plan::default()
    };
    let tally = loadgen::drive::run(target, Arc::new(shop.catalogue.clone()), plan).await;
    let pending = loadgen::drain(&db, shop.tenant_id, args.drain).await?;
    let audit = loadgen::audit(&db, shop.tenant_id, &shop.initial).await?;
    let summary =
        loadgen::summarise(&db, shop.tenant_id, &format!("{:?}", args.scenario).to_lowercase(), tally, pending, audit)
            .await?;
    loadgen::print(&summary);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)?;
    }
    let mut ok = summary.audit.clean() && summary.still_pending == 0;
    if args.check
        && let Some(path) = &args.history
    {
        ok &= check(path, &db, shop.tenant_id, &shop.initial).await?;
    }
    Ok(if ok { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

/// The checker's verdict over the history (the run flushed it): printed,
/// and whether it found nothing wrong.
async fn check(
    path: &std::path::Path,
    db: &sqlx::PgPool,
    tenant: uuid::Uuid,
    initial: &std::collections::HashMap<uuid::Uuid, i64>,
) -> anyhow::Result<bool> {
    use harness::chaos::checker;
    let config = common::config::Config::from_env().context("the workers' environment (AMQP_PREFIX, ...)")?;
    let broker =
        harness::broker::TestBroker::new(&config.broker.prefix, common::broker::Topology::from_config(&config.broker));
    let history = checker::read_history(path)?;
    let v = checker::check(&history, db, &broker, tenant, initial).await?;
    println!(
        "checker: requests {}, orders sent {}, accepted {}, in the books by status {:?}",
        v.requests, v.orders_sent, v.orders_accepted, v.by_status
    );
    println!(
        "checker: lost {}  duplicated {}  unexpected {}  conservation violations {}  stuck {}  failed without review {}  unrecorded messages {}  internal errors (500) {}",
        v.lost,
        v.duplicated,
        v.unexpected,
        v.conservation_violations,
        v.stuck,
        v.failed_without_review,
        v.unrecorded_messages,
        v.internal_errors
    );
    for example in &v.examples {
        println!("    {example}");
    }
    println!("checker: {}", if v.ok() { "PASS" } else { "FAIL" });
    Ok(v.ok())
}
