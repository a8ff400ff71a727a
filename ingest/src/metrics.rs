//! Every metric ingest exports, declared here with bounded labels, and
//! served at `GET /metrics`. Ingest also exports the operator's view of the
//! pipeline, polled every few seconds: queue depths and consumers (from the
//! broker: passive declares for ready messages and consumers, the
//! management API for unacknowledged ones), open failed syncs by reason and
//! the age of the oldest pending order (from Postgres), so the alerts work
//! without extra exporters.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use common::broker::{Publisher, Topology};
use common::config::Config;
use metrics::{counter, gauge, histogram};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ORDERS_TOTAL: &str = "warungin_orders_total";
pub const API_REQUEST_DURATION: &str = "warungin_api_request_duration_seconds";
pub const ERRORS_TOTAL: &str = "warungin_errors_total";
/// Recorded by the publisher (`common::broker`) under this name.
pub const PUBLISH_CONFIRM: &str = common::metrics::PUBLISH_CONFIRM;
pub const QUEUE_DEPTH: &str = "warungin_queue_depth";
pub const QUEUE_CONSUMERS: &str = "warungin_queue_consumers";
pub const FAILED_SYNCS_OPEN: &str = "warungin_failed_syncs_open";
pub const OLDEST_PENDING: &str = "warungin_oldest_pending_order_seconds";
pub const DB_POOL: &str = "warungin_db_pool_connections";
pub const DB_POOL_MAX: &str = "warungin_db_pool_max_connections";
pub const DISK_FREE: &str = "warungin_disk_free_bytes";
/// WAL archiving (point-in-time recovery), from `pg_stat_archiver`: the
/// age of the newest archived segment, archiving failures and whether the
/// last attempt failed, and WAL written (an idle database archives nothing,
/// so an old archive alone is no alarm). The age is −1 while archiving is
/// off or nothing was archived yet.
pub const PG_ARCHIVE_AGE: &str = "warungin_pg_archive_last_archived_age_seconds";
pub const PG_ARCHIVE_FAILED: &str = "warungin_pg_archive_failed_total";
pub const PG_ARCHIVE_FAILING: &str = "warungin_pg_archive_failing";
pub const PG_WAL_WRITTEN: &str = "warungin_pg_wal_written_bytes_total";
/// Probes `/api/health` and `/readyz` made (not calls: callers share probes).
pub const HEALTH_PROBES: &str = "warungin_health_probes_total";

/// Requests and orders per admission group (group commit of pending rows).
pub const ADMISSION_GROUP_REQUESTS: &str = "warungin_admission_group_requests";
pub const ADMISSION_GROUP_ORDERS: &str = "warungin_admission_group_orders";
/// How long a group's transaction took (the WAL flush included).
pub const ADMISSION_WRITE: &str = "warungin_admission_write_seconds";
/// Groups written again in halves because one row failed them.
pub const ADMISSION_SPLITS: &str = "warungin_admission_splits_total";

/// Error kinds ingest counts (`warungin_errors_total{kind}`).
pub const ERROR_KINDS: &[&str] = &["broker_unavailable", "database_unavailable", "internal", "metrics_poll"];

/// Register every bounded series at zero, so dashboards and alerts see them from the start.
pub fn register() {
    common::metrics::install();
    for status in ["accepted", "duplicate"] {
        counter!(ORDERS_TOTAL, "status" => status).absolute(0);
    }
    for kind in ERROR_KINDS {
        counter!(ERRORS_TOTAL, "kind" => *kind).absolute(0);
    }
    counter!(HEALTH_PROBES).absolute(0);
    counter!(ADMISSION_SPLITS).absolute(0);
}

pub fn admission_group(requests: usize, orders: usize) {
    histogram!(ADMISSION_GROUP_REQUESTS).record(requests as f64);
    histogram!(ADMISSION_GROUP_ORDERS).record(orders as f64);
}

pub fn admission_written(took: Duration) {
    histogram!(ADMISSION_WRITE).record(took.as_secs_f64());
}

pub fn admission_split() {
    counter!(ADMISSION_SPLITS).increment(1);
}

pub fn health_probe() {
    counter!(HEALTH_PROBES).increment(1);
}

pub fn order_accepted(duplicate: bool) {
    counter!(ORDERS_TOTAL, "status" => if duplicate { "duplicate" } else { "accepted" }).increment(1);
}

pub fn error(kind: &'static str) {
    counter!(ERRORS_TOTAL, "kind" => kind).increment(1);
}

/// Times every request by route template (never the raw path: ids would
/// make the label set unbounded).
pub async fn http(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!(API_REQUEST_DURATION, "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

pub async fn render() -> String {
    common::metrics::render()
}

/// Poll the broker and Postgres for the pipeline gauges every
/// `METRICS_POLL_INTERVAL` until shutdown.
pub async fn poll(db: PgPool, publisher: Publisher, config: Arc<Config>) {
    let topology = publisher.topology().clone();
    let management = Management::from_amqp_url(&config.broker.url);
    let mut reasons_seen: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(config.ingest.metrics_poll);
    loop {
        tick.tick().await;
        let (queues, database) =
            tokio::join!(queues(&publisher, &topology, &management), database(&db, &mut reasons_seen));
        if queues.is_err() || database.is_err() {
            error("metrics_poll");
        }
        let idle = u32::try_from(db.num_idle()).unwrap_or(0);
        gauge!(DB_POOL, "state" => "in_use").set(f64::from(db.size().saturating_sub(idle)));
        gauge!(DB_POOL, "state" => "idle").set(f64::from(idle));
        gauge!(DB_POOL_MAX).set(f64::from(config.database.pool_size));
        if let Ok(stats) = rustix::fs::statvfs(".") {
            gauge!(DISK_FREE).set(stats.f_bavail.saturating_mul(stats.f_frsize) as f64);
        }
    }
}

async fn queues(publisher: &Publisher, topology: &Topology, management: &Management) -> Result<(), String> {
    let names = topology.all_queues();
    // One queue at a time: a queue whose node is down (the classic overflow
    // queue on a cluster) must not blank the others' gauges.
    let live = futures::future::join_all(names.iter().map(|q| publisher.queue_states(std::slice::from_ref(q))));
    let (live, unacked) = tokio::join!(live, management.unacked(&names));
    if live.iter().all(Result::is_err) {
        return Err("no queue could be read".to_owned());
    }
    let live = live.into_iter().map(|states| states.ok().and_then(|s| s.first().copied()));
    for (queue, (ready, consumers)) in names.into_iter().zip(live).filter_map(|(q, s)| Some((q, s?))) {
        gauge!(QUEUE_DEPTH, "queue" => queue.clone(), "state" => "ready").set(f64::from(ready));
        gauge!(QUEUE_CONSUMERS, "queue" => queue.clone()).set(f64::from(consumers));
        if let Some(unacked) = unacked.as_ref().and_then(|u| u.get(&queue)) {
            gauge!(QUEUE_DEPTH, "queue" => queue, "state" => "unacked").set(*unacked as f64);
        }
    }
    Ok(())
}

async fn database(db: &PgPool, seen: &mut HashSet<String>) -> Result<(), sqlx::Error> {
    // Platform-wide by nature: counts over every tenant, through functions
    // that return counts only (the services' role sees one tenant's rows).
    let open: Vec<(String, i64)> =
        sqlx::query_as("SELECT reason_code, open FROM platform_open_failed_syncs()").fetch_all(db).await?;
    let now_seen: HashSet<String> = open.iter().map(|(r, _)| r.clone()).collect();
    for (reason, count) in open {
        gauge!(FAILED_SYNCS_OPEN, "reason" => reason).set(count as f64);
    }
    for gone in seen.difference(&now_seen) {
        gauge!(FAILED_SYNCS_OPEN, "reason" => gone.clone()).set(0.0);
    }
    *seen = now_seen;
    let oldest: Option<f64> = sqlx::query_scalar("SELECT platform_oldest_pending_seconds()").fetch_one(db).await?;
    gauge!(OLDEST_PENDING).set(oldest.unwrap_or(0.0));
    archiving(db).await
}

/// `pg_stat_archiver` and the WAL position (readable by the services' role).
async fn archiving(db: &PgPool) -> Result<(), sqlx::Error> {
    let (mode, failed, age, failing, wal): (String, i64, Option<f64>, bool, f64) = sqlx::query_as(
        "SELECT current_setting('archive_mode'), failed_count,
                extract(epoch FROM now() - last_archived_time)::float8,
                last_failed_time IS NOT NULL AND last_failed_time > coalesce(last_archived_time, '-infinity'),
                pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8
         FROM pg_stat_archiver",
    )
    .fetch_one(db)
    .await?;
    let archiving = mode != "off";
    counter!(PG_WAL_WRITTEN).absolute(wal as u64);
    counter!(PG_ARCHIVE_FAILED).absolute(u64::try_from(failed).unwrap_or(0));
    gauge!(PG_ARCHIVE_FAILING).set(if archiving && failing { 1.0 } else { 0.0 });
    gauge!(PG_ARCHIVE_AGE).set(age.filter(|_| archiving).unwrap_or(-1.0));
    Ok(())
}

/// The RabbitMQ management API (unacknowledged counts), best effort.
/// `RABBITMQ_MANAGEMENT_URL` may list every node of a cluster (commas):
/// any node answers for the whole cluster, so the first that answers does.
struct Management {
    bases: Vec<String>,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Management {
    fn from_amqp_url(amqp: &str) -> Self {
        let bases = std::env::var("RABBITMQ_MANAGEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:15672".to_owned());
        let bases = bases.split(',').map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect();
        let credentials = amqp.split("://").nth(1).and_then(|rest| rest.split_once('@')).map(|(c, _)| c.to_owned());
        let (user, password) = credentials.as_deref().and_then(|c| c.split_once(':')).unwrap_or(("guest", "guest"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_default();
        Self { bases, user: user.to_owned(), password: password.to_owned(), http }
    }

    async fn unacked(&self, queues: &[String]) -> Option<std::collections::HashMap<String, u64>> {
        for base in &self.bases {
            if let Some(listed) = self.queues(base).await {
                return Some(
                    listed
                        .into_iter()
                        .filter_map(|q| {
                            let name = q.get("name")?.as_str()?.to_owned();
                            let unacked =
                                q.get("messages_unacknowledged").and_then(serde_json::Value::as_u64).unwrap_or(0);
                            queues.contains(&name).then_some((name, unacked))
                        })
                        .collect(),
                );
            }
        }
        None
    }

    async fn queues(&self, base: &str) -> Option<Vec<serde_json::Value>> {
        let url = format!("{base}/api/queues/%2f?columns=name,messages_unacknowledged");
        let response = self.http.get(url).basic_auth(&self.user, Some(&self.password)).send().await.ok()?;
        response.json().await.ok()
    }
}
