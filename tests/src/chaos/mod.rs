//! Fault injection, Jepsen style (`scripts/chaos`; its short run is the
//! last step of `scripts/test`). The load generator's persistent terminals,
//! one client's worth per ingest process, and a back office sell, resend
//! and cancel against several worker processes, while a seeded schedule
//! injects every kind of fault; after a bounded drain the checker compares
//! the terminals' history with the books.

pub mod backoffice;
pub mod checker;
pub mod closed_day;
pub mod cluster;
pub mod drain;
pub mod faults;
pub mod outlets;
pub mod refund_checks;
pub mod review;
pub mod shifts;
pub mod system;
pub mod verdict;

use crate::loadgen::{self, Plan, Scenario, Target};
use anyhow::Context;
use faults::{FaultKind, Load};
use rand::SeedableRng;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use system::System;

#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Seed of the schedule and of the terminals (random when absent; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults of each kind.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// The kinds to inject (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kinds: Vec<FaultKind>,
    /// Pause between two faults.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub gap: Duration,
    /// Keep the load going (after the schedule) until this many orders are in the books.
    #[arg(long, default_value_t = 0)]
    pub min_orders: i64,
    #[arg(long, default_value_t = 2)]
    pub ingests: usize,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Terminals per ingest process.
    #[arg(long, default_value_t = 3)]
    pub terminals: usize,
    #[arg(long, default_value_t = 200)]
    pub products: usize,
    /// Opening stock of each product (the 5 hot ones get a tenth of it, so they run out).
    #[arg(long, default_value_t = 5_000)]
    pub stock: i64,
    /// Longest wait for the pipeline to drain before checking.
    #[arg(long, default_value = "240s", value_parser = parse_duration)]
    pub drain: Duration,
    /// The workers' pending sweep (`REPUBLISH_PENDING_AFTER`).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub republish_after: Duration,
    /// A test-only `WORKER_FAULT` for the workers (a deliberately broken build).
    #[arg(long)]
    pub worker_fault: Option<String>,
    /// History, logs and the report go here.
    #[arg(long, default_value = "target/chaos")]
    pub out: PathBuf,
    /// Against `scripts/cluster` (the harness's TEST_DATABASE_URL and TEST_AMQP_URL list its servers;
    /// `scripts/chaos --cluster` sets them): node losses instead of service restarts.
    #[arg(long)]
    pub cluster: bool,
    /// Terminals never resend an order once answered: with the sweep off (a long
    /// `--republish-after`), every accepted order was confirmed by the broker before its 202.
    #[arg(long)]
    pub no_resends: bool,
    /// Keep the run's database and queues afterwards (a failed run always keeps them).
    #[arg(long)]
    pub keep: bool,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    common::config::parse_duration(text).ok_or_else(|| format!("{text:?} is not a duration"))
}

#[derive(Debug, Serialize)]
pub struct FaultRecord {
    pub kind: FaultKind,
    pub at_s: f64,
    pub took_s: f64,
    pub outcome: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub seed: u64,
    pub seconds: f64,
    pub faults: Vec<FaultRecord>,
    pub fault_errors: usize,
    pub drained: bool,
    pub verdict: checker::Verdict,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.verdict.ok() && self.fault_errors == 0 && self.drained
    }
}

pub async fn run(settings: Settings) -> anyhow::Result<Report> {
    if settings.cluster != cluster::in_use() {
        anyhow::bail!(
            "--cluster and the harness's servers disagree: run `scripts/chaos --cluster` (it points \
             TEST_DATABASE_URL, TEST_AMQP_URL and RABBITMQ_MANAGEMENT_URL at scripts/cluster), or neither"
        );
    }
    let kinds = if settings.kinds.is_empty() { faults::kinds(settings.cluster) } else { settings.kinds.clone() };
    if let Some(kind) = kinds.iter().find(|k| k.needs_cluster() && !settings.cluster) {
        anyhow::bail!("{kind:?} needs --cluster");
    }
    let seed = settings.seed.unwrap_or_else(rand::random);
    eprintln!("chaos: seed {seed}, output in {}", settings.out.display());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    std::fs::create_dir_all(&settings.out)?;
    let history_path = settings.out.join("history.jsonl");
    let history = Arc::new(Mutex::new(std::io::BufWriter::new(std::fs::File::create(&history_path)?)));
    let mut system = System::start(&settings).await?;
    let started = Instant::now();
    let p = &system.pipeline;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let shop = loadgen::setup::shop(
        &http,
        &system.ingests[0].base_url,
        &p.internal_key,
        &p.db,
        settings.products,
        settings.stock,
    )
    .await
    .context("the load's shop")?;
    let target_for = |base: &str| {
        Arc::new(Target {
            http: http.clone(),
            base: base.to_owned(),
            token: shop.token.clone(),
            history: Some(history.clone()),
        })
    };
    let mut catalogue = shop.catalogue.clone();
    let stall = outlets::open(&target_for(&system.ingests[0].base_url)).await.context("the load's second outlet")?;
    catalogue.outlets.push(stall);
    let catalogue = Arc::new(catalogue);
    make_hot_products_scarce(&target_for(&system.ingests[0].base_url), &shop.catalogue, settings.stock).await?;
    outlets::stock(&target_for(&system.ingests[0].base_url), &p.db, shop.tenant_id, stall)
        .await
        .context("stocking the second outlet")?;
    let closed_day =
        closed_day::close(&target_for(&system.ingests[0].base_url), &p.db, shop.tenant_id, &shop.catalogue)
            .await
            .map_err(|e| format!("closing a day before the run failed: {e:#}"));

    let stop = Arc::new(AtomicBool::new(false));
    let mut terminals = tokio::task::JoinSet::new();
    for (i, ingest) in system.ingests.iter().enumerate() {
        let plan = Plan {
            scenario: if i % 2 == 0 || settings.no_resends { Scenario::Mixed } else { Scenario::Duplicates },
            terminals: settings.terminals,
            duration: Duration::from_secs(24 * 3600),
            duplicate_share: if settings.no_resends { 0.0 } else { 0.1 },
            self_timeout_share: 0.01,
            persistent: true,
            seed: seed.wrapping_add(i as u64 * 1000),
            stop: Some(stop.clone()),
            ..Plan::default()
        };
        terminals.spawn(loadgen::drive::run(target_for(&ingest.base_url), catalogue.clone(), plan));
    }
    let analyze = tokio::spawn(keep_statistics_fresh(p.db.clone(), stop.clone()));
    let office = tokio::spawn(backoffice::run(
        target_for(&system.ingests[0].base_url),
        p.db.clone(),
        shop.tenant_id,
        stop.clone(),
        seed,
    ));

    let schedule = faults::schedule(&kinds, settings.rounds, &mut rng);
    let load = Load {
        target: target_for(&system.ingests[1 % system.ingests.len()].base_url),
        catalogue,
        tenant: shop.tenant_id,
    };
    let mut records = Vec::new();
    let mut fault_errors = 0;
    tokio::time::sleep(settings.gap * 2).await;
    for (n, kind) in schedule.into_iter().enumerate() {
        let at = started.elapsed();
        let outcome = faults::inject(kind, &mut system, &load, &mut rng).await;
        let took = started.elapsed() - at;
        let outcome = outcome.unwrap_or_else(|e| {
            fault_errors += 1;
            format!("FAILED TO INJECT: {e:#}")
        });
        eprintln!(
            "chaos: [{:>6.1}s] fault {:>2} {kind:?}: {outcome} ({:.1} s)",
            at.as_secs_f64(),
            n + 1,
            took.as_secs_f64()
        );
        records.push(FaultRecord { kind, at_s: at.as_secs_f64(), took_s: took.as_secs_f64(), outcome });
        tokio::time::sleep(settings.gap).await;
    }
    let progressed = reach_min_orders(&system, shop.tenant_id, settings.min_orders).await;
    stop.store(true, Ordering::Relaxed);
    while terminals.join_next().await.is_some() {}
    let activity = office.await.unwrap_or_default();
    let _ = analyze.await;
    if let Ok(mut file) = history.lock() {
        std::io::Write::flush(&mut *file)?;
    }
    eprintln!("chaos: load stopped after {:.0} s ({activity:?}); draining", started.elapsed().as_secs_f64());

    let draining = Instant::now();
    let drained = drain::drain(&system, shop.tenant_id, settings.drain).await;
    eprintln!("chaos: drained: {drained} after {:.1} s; checking", draining.elapsed().as_secs_f64());
    let checking = Instant::now();
    let history = checker::read_history(&history_path)?;
    let p = &system.pipeline;
    let books = verdict::Books {
        db: &p.db,
        broker: &p.broker,
        tenant: shop.tenant_id,
        initial: &shop.initial,
        logs: &system.logs,
    };
    let mut verdict =
        verdict::check(&history, &books, &target_for(&system.ingests[0].base_url), closed_day.as_ref()).await;
    if !progressed {
        fault_errors += 1;
        verdict.note(format!("no progress: the books stopped growing short of {} orders", settings.min_orders));
    }
    eprintln!("chaos: checked in {:.1} s", checking.elapsed().as_secs_f64());
    let report =
        Report { seed, seconds: started.elapsed().as_secs_f64(), faults: records, fault_errors, drained, verdict };
    std::fs::write(settings.out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    let keep = settings.keep || !report.ok();
    let (database, prefix) = (system.pipeline.database_name().to_owned(), system.pipeline.broker.prefix.clone());
    system.stop(keep).await;
    if keep {
        eprintln!(
            "chaos: kept database {database} and the queues {prefix}.* for inspection; drop them with\n  \
             psql \"$TEST_DATABASE_URL\" -c 'DROP DATABASE {database} WITH (FORCE)'\n  \
             and the queues in the management UI (the test harness also sweeps both after two hours)"
        );
    }
    Ok(report)
}

/// What autovacuum would do (this machine's cluster runs without it): the
/// database grows from empty to hundreds of thousands of orders during a
/// long run, and plans made on empty tables stay until statistics change.
async fn keep_statistics_fresh(db: sqlx::PgPool, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(20)).await;
        // A fault may have the database down; the next round tries again.
        let _ = sqlx::query("ANALYZE").execute(&db).await;
    }
}

/// The 5 hot products start with a tenth of the stock, so they run out
/// and the run includes rejections and failed syncs for short stock.
async fn make_hot_products_scarce(target: &Target, catalogue: &loadgen::Catalogue, stock: i64) -> anyhow::Result<()> {
    for (product, _) in catalogue.products.iter().take(5) {
        let response = target
            .http
            .post(format!("{}/api/products/{product}/stock-adjustments", target.base))
            .bearer_auth(&target.token)
            .json(&serde_json::json!({ "delta": -(stock - stock / 10), "reason": "correction" }))
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "adjusting a hot product's stock: {}", response.status());
    }
    Ok(())
}

/// Keep the load going until `min` orders are in the books; false when the
/// books did not grow for `STALL` (the system stopped taking orders: the
/// run goes on to its verdict instead of waiting for ever).
async fn reach_min_orders(system: &System, tenant: uuid::Uuid, min: i64) -> bool {
    const STALL: Duration = Duration::from_secs(180);
    let (mut last, mut grew_at) = (-1, Instant::now());
    loop {
        let now = orders_in_books(system, tenant).await;
        if now >= min {
            return true;
        }
        if now > last {
            (last, grew_at) = (now, Instant::now());
        } else if grew_at.elapsed() > STALL {
            eprintln!("chaos: the books stayed at {now} orders for {} s; stopping the load", STALL.as_secs());
            return false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn orders_in_books(system: &System, tenant: uuid::Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&system.pipeline.db)
        .await
        .unwrap_or(0)
}

/// The report as the README and RELIABILITY.md quote it.
pub fn print(report: &Report) {
    let v = &report.verdict;
    let mut per_kind = std::collections::BTreeMap::new();
    for fault in &report.faults {
        *per_kind.entry(fault.kind).or_insert(0) += 1;
    }
    println!(
        "chaos run, seed {}, {:.0} s, {} faults ({} could not be injected)",
        report.seed,
        report.seconds,
        report.faults.len(),
        report.fault_errors
    );
    for (kind, n) in &per_kind {
        println!("  {kind:<22?} {n}");
    }
    println!(
        "  requests {}, orders sent {}, accepted {}, in the books by status {:?}",
        v.requests, v.orders_sent, v.orders_accepted, v.by_status
    );
    println!(
        "  refunds sent {}, accepted {}, in the books by status {:?}; report mismatches {}; closed days changed {} (its sales refunded {}, cancelled {})",
        v.refunds_sent,
        v.refunds_accepted,
        v.refunds_by_status,
        v.report_mismatches,
        v.closed_day_changes,
        v.closed_day_refunds,
        v.closed_day_cancels
    );
    println!(
        "  orders at the second outlet {}; not at the outlet they were sold at {}; transfers committed {}, failed (for review) {}, with wrong movements {}",
        v.orders_at_other_outlets, v.misplaced_orders, v.transfers_committed, v.transfers_failed, v.transfer_mismatches
    );
    println!(
        "  cash shifts closed {}, with late additions {}, whose Z-report disagrees with their rows {}",
        v.shifts_closed, v.shifts_with_late_additions, v.shift_mismatches
    );
    println!(
        "  lost {}  duplicated {}  unexpected {}  conservation violations {}  stuck {}  failed without review {}  review disagreements {}  unrecorded messages {}  drained {}",
        v.lost,
        v.duplicated,
        v.unexpected,
        v.conservation_violations,
        v.stuck,
        v.failed_without_review,
        v.review_disagreements,
        v.unrecorded_messages,
        report.drained
    );
    println!(
        "  internal errors (500) {}  acknowledged orders missing after a failover {}  checks that failed {}",
        v.internal_errors, v.acknowledged_missing_after_failover, v.failed_checks
    );
    for example in &v.examples {
        println!("    {example}");
    }
    println!("{}", if report.ok() { "chaos: PASS" } else { "chaos: FAIL" });
}
