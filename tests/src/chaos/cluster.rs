//! The fault run on a cluster (`scripts/chaos --cluster`): three RabbitMQ
//! nodes and a PostgreSQL primary with a synchronous standby, started by
//! `scripts/cluster up` beside the machine's own services. The engine
//! faults go through `scripts/cluster`'s verbs, which wait until each step
//! has happened (a node rejoined, a standby is synchronous again); the
//! components find their way by themselves (`common::broker::Nodes`,
//! `common::db` following the primary, tokio-postgres' read-write hosts).

use crate::broker::TestBroker;
use anyhow::{Context, bail};
use rand::RngExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `scripts/cluster` of this checkout.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster")
}

/// Whether the harness points at a cluster: several broker nodes and database servers.
pub fn in_use() -> bool {
    common::servers::split(&crate::broker::amqp_url()).len() > 1
        && common::servers::split(&crate::db::server_url()).len() > 1
}

/// Run `scripts/cluster args…`; what it printed.
pub async fn verb(args: &[&str]) -> anyhow::Result<String> {
    let run = tokio::process::Command::new(script()).args(args).output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .with_context(|| format!("scripts/cluster {args:?} took over 5 minutes"))?
        .context("running scripts/cluster")?;
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        bail!(
            "scripts/cluster {args:?}: {} {printed} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(printed)
}

/// kill -9 the node that leads the order queue, restart it, wait until it rejoined.
pub async fn kill_queue_leader(broker: &TestBroker) -> anyhow::Result<String> {
    let queue = broker.topology.orders_queue();
    let leader = verb(&["rmq-leader", &queue]).await?;
    verb(&["rmq-kill", &leader]).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    verb(&["rmq-start", &leader]).await?;
    Ok(format!("node {leader} (leader of {queue}) killed -9, restarted and rejoined"))
}

/// Stop (gracefully) the node most of the run's connections are on; wait
/// until they are all on the other nodes, then start it again. `expected`:
/// the connections the run's processes hold (the management API lists new
/// ones only at its next statistics round).
pub async fn stop_node(broker: &TestBroker, expected: usize) -> anyhow::Result<String> {
    let listed = Instant::now();
    let mut before = broker.connections_by_node().await?;
    while before.len() < expected && listed.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        before = broker.connections_by_node().await?;
    }
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for (node, _) in &before {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    let Some((node, on_it)) = per_node.into_iter().max_by_key(|(_, n)| *n) else {
        bail!("the management API lists no connection of this run");
    };
    let number = node_number(&node)?;
    let stopping = Instant::now();
    verb(&["rmq-stop", &number]).await?;
    let stop_took = stopping.elapsed().as_secs_f64();
    let moved = moved_off(broker, &node, before.len()).await;
    verb(&["rmq-start", &number]).await?;
    let listed_after = moved?;
    Ok(format!(
        "node {number} stopped ({stop_took:.1} s) with {on_it} of the run's {} connections on it; \
         all back on other nodes, listed {listed_after:.1} s after the stop ended; restarted",
        before.len(),
    ))
}

/// Wait until at least `count` of the run's connections are listed on nodes other than `node`.
async fn moved_off(broker: &TestBroker, node: &str, count: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        if let Ok(now) = broker.connections_by_node().await
            && now.iter().filter(|(n, _)| n != node).count() >= count
            && now.iter().all(|(n, _)| n != node)
        {
            return Ok(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("the run's {count} connections did not all move off {node} within 90 s")
}

/// SIGSTOP a random node for 20–30 s, then SIGCONT.
pub async fn freeze_node(rng: &mut impl rand::Rng) -> anyhow::Result<String> {
    let number = rng.random_range(1..=3).to_string();
    let frozen_for = Duration::from_millis(rng.random_range(20_000..=30_000));
    verb(&["rmq-freeze", &number]).await?;
    tokio::time::sleep(frozen_for).await;
    verb(&["rmq-thaw", &number]).await?;
    Ok(format!("node {number} frozen (SIGSTOP) for {:.1} s, then thawed", frozen_for.as_secs_f64()))
}

/// kill -9 the primary, promote the standby, rejoin the old primary as the new standby.
pub async fn failover_postgres(database: &str) -> anyhow::Result<String> {
    let old = verb(&["pg-primary"]).await?;
    let done = verb(&["pg-failover"]).await?;
    Ok(format!("{done}; {}", sessions_line(&old, database).await?))
}

/// A planned switchover: the primary stopped cleanly, the standby promoted, the old primary rejoined.
pub async fn switchover_postgres(database: &str) -> anyhow::Result<String> {
    let old = verb(&["pg-primary"]).await?;
    let done = verb(&["pg-switchover"]).await?;
    Ok(format!("{done}; {}", sessions_line(&old, database).await?))
}

/// After a rejoin: the demoted server is a standby, and none of the run's
/// services hold a session on it (a write could not land there anyway;
/// this says the clients went to the new primary, not to a read-only server).
async fn sessions_line(old_primary: &str, database: &str) -> anyhow::Result<String> {
    let port = old_primary.split_whitespace().last().context("pg-primary prints `<node> <port>`")?;
    let sessions = sessions_on(port, database).await?;
    if sessions > 0 {
        bail!("{sessions} sessions of the run's services on the demoted server (port {port})");
    }
    Ok(format!("demoted server on port {port} is a standby with no session of the run"))
}

/// Sessions of the run's services (application names `<database>-…`) on the server at `port`, which must be a standby.
pub async fn sessions_on(port: &str, database: &str) -> anyhow::Result<i64> {
    let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await?;
    let (in_recovery, sessions): (bool, i64) = sqlx::query_as(
        "SELECT pg_is_in_recovery(),
                (SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE $1 || '-%')",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await?;
    if !in_recovery {
        bail!("the server on port {port} is not in recovery: two primaries");
    }
    Ok(sessions)
}

/// `rabbitmqctl close_all_connections` on every node of the cluster (a node that is down is skipped).
pub async fn close_all_connections() -> anyhow::Result<String> {
    let mut closed_on = Vec::new();
    for number in 1..=3 {
        let node = format!("warungin-{number}@localhost");
        let output = tokio::process::Command::new("rabbitmqctl")
            .args(["-n", &node, "close_all_connections", "chaos: fault injection"])
            .output()
            .await
            .context("rabbitmqctl")?;
        if output.status.success() {
            closed_on.push(number.to_string());
        }
    }
    if closed_on.is_empty() {
        bail!("no node of the cluster answered rabbitmqctl");
    }
    Ok(format!("closed every connection on nodes {}", closed_on.join(", ")))
}

/// `warungin-2@localhost` → `2`.
fn node_number(node: &str) -> anyhow::Result<String> {
    node.strip_prefix("warungin-")
        .and_then(|rest| rest.split('@').next())
        .map(str::to_owned)
        .with_context(|| format!("{node} is not a node of scripts/cluster"))
}
