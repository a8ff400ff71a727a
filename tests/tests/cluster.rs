//! Node loss on real clustered engines: three RabbitMQ nodes and a
//! PostgreSQL primary with a synchronous standby (`scripts/cluster up`).
//! Each test is a short fault run with one kind of fault, judged by the
//! fault run's own checker (`harness::chaos`): every order answered 202 is
//! in the books exactly once, stock is conserved, nothing is stuck, no
//! answer is a 500, and no acknowledged order went missing in a failover.
//!
//! They need the cluster and the harness pointed at it, so they are ignored
//! by a plain `cargo test`; `scripts/test` starts the cluster and runs them
//! with `--ignored`, one at a time (they kill nodes every test shares).

#[path = "cluster/pitr.rs"]
mod pitr;

use clap::Parser;
use harness::chaos::{self, Report, Settings};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    settings: Settings,
}

/// A short fault run on the cluster: `args` on top of one fault of each given kind.
async fn fault_run(name: &str, args: &[&str]) -> Report {
    assert!(
        chaos::cluster::in_use(),
        "TEST_DATABASE_URL and TEST_AMQP_URL must list the cluster's servers: run scripts/test, or \
         `scripts/cluster up` and export what `scripts/cluster env` prints (see README: Tests)"
    );
    let out = format!("{}/../target/test-output/cluster-{name}", env!("CARGO_MANIFEST_DIR"));
    let mut argv = vec!["chaos", "--cluster", "--rounds", "1", "--gap", "2s", "--terminals", "2", "--out", &out];
    argv.extend_from_slice(args);
    let report = chaos::run(Args::parse_from(argv).settings).await.expect("the fault run gives a verdict");
    chaos::print(&report);
    report
}

/// (a) The node leading the order queue killed with -9 while 2,000 orders
/// stream in, then restarted: the queue's other members elect a leader,
/// clients on the dead node reconnect to the others, and every 202 is
/// committed exactly once.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/cluster up (scripts/test starts it)"]
async fn cluster_the_order_queues_leader_killed_while_orders_stream_in() {
    let report = fault_run("leader", &["--kinds", "kill-queue-leader", "--min-orders", "2000"]).await;
    assert!(report.faults.iter().all(|f| f.outcome.contains("killed -9")), "{:?}", report.faults);
    assert!(report.verdict.orders_accepted >= 2000, "{} orders accepted", report.verdict.orders_accepted);
    assert!(report.ok(), "see the verdict above");
}

/// (b) The node that ingest and the workers are connected to stopped: they
/// carry on through the others (the fault waits until every connection of
/// the run is listed on another node). With no resends after an answer and
/// the pending sweep off, an order in the books was published by its own
/// request, so none was answered 202 without the broker's confirm.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/cluster up (scripts/test starts it)"]
async fn cluster_a_stopped_node_s_clients_carry_on_through_the_others_and_never_answer_202_unconfirmed() {
    let args = ["--kinds", "stop-node", "--min-orders", "2000", "--no-resends", "--republish-after", "1h"];
    let report = fault_run("stop-node", &args).await;
    assert!(report.faults.iter().all(|f| f.outcome.contains("all back on other nodes")), "{:?}", report.faults);
    assert!(report.ok(), "see the verdict above");
}

/// (c) The primary killed with -9 mid-load, the standby promoted, the old
/// primary rewound and rejoined as the synchronous standby: every 202 is
/// committed exactly once, no answer is a 500, nothing acknowledged went
/// missing, and the demoted server holds no session of the services.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/cluster up (scripts/test starts it)"]
async fn cluster_the_primary_killed_and_the_standby_promoted_mid_load() {
    let report = fault_run("failover", &["--kinds", "failover-postgres", "--min-orders", "2000"]).await;
    assert!(report.faults.iter().all(|f| f.outcome.contains("no session of the run")), "{:?}", report.faults);
    assert_eq!(report.verdict.internal_errors, 0);
    assert_eq!(report.verdict.acknowledged_missing_after_failover, 0);
    assert!(report.ok(), "see the verdict above");
}

/// (d) Point-in-time recovery from the WAL archive (`pitr`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs scripts/cluster up (scripts/test starts it)"]
async fn cluster_point_in_time_recovery_drill() {
    pitr::drill().await;
}
