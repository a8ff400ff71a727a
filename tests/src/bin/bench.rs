//! The benchmark: `scripts/bench` (release build). Prints the table that
//! BENCHMARKS.md keeps; `--json` writes every figure.

use clap::Parser;
use harness::bench::cpu::PerOrder;
use harness::bench::report::{Figure, Results, table};
use harness::bench::{Settings, System, pgbench, plan};
use harness::loadgen::Scenario;

#[derive(Parser)]
#[command(name = "bench", about = "Warungin's one-run benchmark")]
struct Args {
    #[command(flatten)]
    settings: Settings,
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Only the open-loop latency run, at this many orders/s (for working on latency).
    #[arg(long)]
    only_latency_at: Option<f64>,
    /// Only the daily report over one tenant-day of this many orders (1000000 for BENCHMARKS.md).
    #[arg(long)]
    only_report: Option<i64>,
}

type Run = (harness::loadgen::Summary, PerOrder);

/// The median of a figure over runs, and the CPU split of the median run.
fn figure(runs: &[Run], of: impl Fn(&harness::loadgen::Summary) -> f64) -> (Figure, PerOrder) {
    let figure = Figure::of(runs.iter().map(|(s, _)| of(s)).collect());
    let median_run =
        runs.iter().min_by(|a, b| (of(&a.0) - figure.median).abs().total_cmp(&(of(&b.0) - figure.median).abs()));
    (figure, median_run.map(|(_, cpu)| cpu.clone()).unwrap_or_default())
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let Args { settings, json, only_latency_at, only_report } = Args::parse();
    if let Some(orders) = only_report {
        harness::bench::daily_report::run(orders).await?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let mut system = System::start(settings.workers).await;
    if let Some(rate) = only_latency_at {
        return latency_only(system, &settings, rate).await;
    }
    let p = &system.pipeline;
    let mut r = Results { audits_clean: true, ..Results::default() };

    eprintln!("direct SQL (pgbench) …");
    let tenant = pgbench::seed(&p.db).await?;
    let app_url = harness::db::url_as(p.database_name(), &harness::db::app_userinfo())?;
    let clients = [1, 2, 4, 8, 16];
    (r.direct_sql_uniform, r.direct_sql_uniform_by_clients) =
        pgbench::run(&app_url, tenant, false, &clients, settings.pgbench_seconds).await?;
    r.direct_sql_hot = pgbench::run(&app_url, tenant, true, &[4, 8], settings.pgbench_seconds).await?.0;

    eprintln!("broker (lapin probe, {} publishers) …", settings.terminals);
    let probe = tokio::process::Command::new(harness::binary("brokerprobe"))
        .args(["--publishers", &settings.terminals.to_string(), "--seconds", &settings.seconds.min(10).to_string()])
        .args(["--prefix", &format!("{}-probe", p.database_name())])
        .output()
        .await?;
    let probe: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap_or_default();
    r.broker_confirmed = probe["confirmed_per_s"].as_f64().unwrap_or(0.0);

    let runs = |scenario: Scenario| {
        let system = &system;
        let settings = settings.clone();
        async move {
            let mut summaries = Vec::new();
            for run in 0..settings.repeat {
                eprintln!("pipeline {scenario:?}, run {} of {} …", run + 1, settings.repeat);
                summaries.push(
                    system
                        .load(plan(scenario, &settings, None), if scenario == Scenario::Hot { 5 } else { 10_000 })
                        .await?,
                );
                eprintln!("  ingest's peak RSS so far: {:.1} MiB", System::peak_rss_mib(&system.ingest));
            }
            anyhow::Ok(summaries)
        }
    };
    let uniform = runs(Scenario::Uniform).await?;
    let hot = runs(Scenario::Hot).await?;
    let offline = runs(Scenario::Offline).await?;
    let clean = |s: &[Run]| s.iter().all(|(s, _)| s.audit.clean() && s.still_pending == 0);
    r.audits_clean = clean(&uniform) && clean(&hot) && clean(&offline);
    (r.uniform_committed, r.cpu_uniform) = figure(&uniform, |s| s.committed_per_s);
    (r.hot_committed, r.cpu_hot) = figure(&hot, |s| s.committed_per_s);
    (r.offline_committed, r.cpu_offline) = figure(&offline, |s| s.committed_per_s);

    eprintln!("ingest alone (workers stopped) …");
    system.stop_workers().await;
    let mut accepted = Vec::new();
    for _ in 0..settings.repeat {
        accepted.push(system.load(plan(Scenario::Uniform, &settings, None), 10_000).await?);
    }
    (r.ingest_accepted, r.cpu_ingest_only) = figure(&accepted, |s| s.accepted_per_s);
    system.start_workers(settings.workers).await;
    harness::eventually("the backlog to drain", std::time::Duration::from_secs(600), || async {
        (system.pipeline.pending_count().await == 0).then_some(())
    })
    .await;

    r.half_rate = (r.uniform_committed.median / 2.0).max(1.0);
    eprintln!("half of peak: {:.0} orders/s, open loop …", r.half_rate);
    let before = system.ingest_metrics().await;
    let (half, _) = system.load(plan(Scenario::Uniform, &settings, Some(r.half_rate)), 10_000).await?;
    r.half_latency_split = harness::bench::latency::split(&before, &system.ingest_metrics().await);
    r.half_ingest_p99_ms = half.ingest_latency_ms.p99;
    r.half_e2e_p99_ms = half.end_to_end_ms.p99;
    r.half_error_rate = half.error_rate;
    r.audits_clean &= half.audit.clean() && half.still_pending == 0;
    r.rss_ingest_mib = System::peak_rss_mib(&system.ingest);
    r.rss_worker_mib = system.workers.iter().map(System::peak_rss_mib).fold(0.0, f64::max);

    println!("{}", table(&r));
    for (name, split) in [
        ("uniform", &r.cpu_uniform),
        ("hot", &r.cpu_hot),
        ("offline", &r.cpu_offline),
        ("ingest alone", &r.cpu_ingest_only),
    ] {
        println!("CPU per order, {name}: {}", split.line());
    }
    println!("Latency at half of peak, as ingest measured it: {}", r.half_latency_split);
    println!(
        "direct SQL by clients: {}",
        r.direct_sql_uniform_by_clients.iter().map(|(c, t)| format!("{c}: {t:.0}")).collect::<Vec<_>>().join(", ")
    );
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(&r)?)?;
    }
    let audits_clean = r.audits_clean;
    system.stop_workers().await;
    system.pipeline.stop().await;
    Ok(if audits_clean { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE })
}

/// The open-loop run alone: ingest's p99, 202 → committed p99, the latency split.
async fn latency_only(mut system: System, settings: &Settings, rate: f64) -> anyhow::Result<std::process::ExitCode> {
    let before = system.ingest_metrics().await;
    let (run, cpu) = system.load(plan(Scenario::Uniform, settings, Some(rate)), 10_000).await?;
    let split = harness::bench::latency::split(&before, &system.ingest_metrics().await);
    println!(
        "{rate:.0} orders/s open loop: ingest p50 {:.1} ms p99 {:.1} ms; 202 → committed p99 {:.0} ms; errors {:.3} %",
        run.ingest_latency_ms.p50,
        run.ingest_latency_ms.p99,
        run.end_to_end_ms.p99,
        run.error_rate * 100.0
    );
    println!("as ingest measured it: {split}");
    println!("CPU per order: {}", cpu.line());
    system.stop_workers().await;
    system.pipeline.stop().await;
    Ok(std::process::ExitCode::SUCCESS)
}
