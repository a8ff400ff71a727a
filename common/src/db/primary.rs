//! A `DATABASE_URL` that lists a primary and its standbys
//! (`postgres://…@a:5432,b:5432/db?target_session_attrs=read-write`): the
//! API's sqlx pool writes to whichever accepts writes. sqlx connects to
//! one host per pool, so a watcher points the pool at the primary: it
//! checks the server once a second over a connection of its own and, when
//! that server is lost or is in recovery (a standby, or an old primary
//! rejoined as one), finds the server that accepts writes and re-points
//! the pool (`set_connect_options`; sqlx's pending connects retry with the
//! new options). Every new connection refuses a server in recovery, and a
//! connection opened before a switch is closed at its next checkout: no
//! write ever reaches a demoted server through a connection kept from
//! before. The workers' pool (tokio-postgres) does the same natively.

use crate::servers;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often the watcher checks the primary it points at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long one server has to answer the watcher.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The message of a connection refused because its server is in recovery
/// (mapped to `503 database_unavailable` like any failover error).
pub const IN_RECOVERY: &str = "the database server is in recovery (a standby), not the primary";

/// The connect options of each server of `url`, in order.
pub fn server_options(url: &str) -> Result<Vec<PgConnectOptions>, sqlx::Error> {
    servers::split(url)
        .iter()
        .map(|server| PgConnectOptions::from_str(&servers::without_param(server, "target_session_attrs")))
        .collect()
}

/// The single-server URL of the primary among `url`'s servers (`url`
/// itself when it names one): for one-off connections (migrations).
pub async fn primary_url(url: &str) -> Result<String, sqlx::Error> {
    let urls = servers::split(url);
    if urls.len() < 2 {
        return Ok(url.to_owned());
    }
    let options = server_options(url)?;
    for (server, url) in options.iter().zip(&urls) {
        // The database may not exist yet (a first migration): ask the maintenance database then.
        let maintenance = server.clone().database("postgres");
        let primary = match connect_if_primary(server).await {
            Some(conn) => Some(conn),
            None => connect_if_primary(&maintenance).await,
        };
        if let Some(conn) = primary {
            let _ = conn.close().await;
            return Ok(servers::without_param(url, "target_session_attrs"));
        }
    }
    Err(sqlx::Error::Configuration(format!("none of the {} database servers accepts writes", urls.len()).into()))
}

/// A pool over several servers that follows the primary.
pub(super) fn following_pool(servers: Vec<PgConnectOptions>, options: PgPoolOptions) -> PgPool {
    let first = servers[0].clone();
    let primary =
        Arc::new(Primary { servers, current: AtomicUsize::new(0), switched: Mutex::new(None), wake: Notify::new() });
    let (refusing, aging) = (primary.clone(), primary.clone());
    let pool = options
        .after_connect(move |conn, _| {
            let primary = refusing.clone();
            Box::pin(async move {
                if accepts_writes(conn).await? {
                    return Ok(());
                }
                primary.wake.notify_one();
                Err(sqlx::Error::Configuration(IN_RECOVERY.into()))
            })
        })
        .before_acquire(move |_, meta| {
            let opened_since_switch = aging.opened_since_switch(meta.age);
            Box::pin(async move { Ok(opened_since_switch) })
        })
        .connect_lazy_with(first);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(primary.watch(pool.clone()))),
        Err(_) => tracing::warn!("no async runtime: the database pool will not follow a failover"),
    }
    pool
}

struct Primary {
    servers: Vec<PgConnectOptions>,
    /// The server the pool connects to.
    current: AtomicUsize,
    /// When the pool was last pointed at another server.
    switched: Mutex<Option<Instant>>,
    /// A connection found a standby: look for the primary now.
    wake: Notify,
}

impl Primary {
    /// Keep the pool on the primary until the pool is closed.
    async fn watch(self: Arc<Self>, pool: PgPool) {
        let mut probe: Option<PgConnection> = None;
        while !pool.is_closed() {
            let healthy = match probe.as_mut() {
                Some(conn) => matches!(tokio::time::timeout(PROBE_TIMEOUT, accepts_writes(conn)).await, Ok(Ok(true))),
                None => false,
            };
            if !healthy {
                probe = self.find(&pool).await;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(WATCH_EVERY) => {}
            }
        }
    }

    /// The first server, from the current one on, that accepts writes; the
    /// pool is pointed at it. `None` while none does (mid-failover).
    async fn find(&self, pool: &PgPool) -> Option<PgConnection> {
        let start = self.current.load(Ordering::Relaxed);
        for offset in 0..self.servers.len() {
            let index = (start + offset) % self.servers.len();
            let Some(conn) = connect_if_primary(&self.servers[index]).await else { continue };
            if index != start {
                self.current.store(index, Ordering::Relaxed);
                if let Ok(mut switched) = self.switched.lock() {
                    *switched = Some(Instant::now());
                }
                pool.set_connect_options(self.servers[index].clone());
                let (from, to) = (describe(&self.servers[start]), describe(&self.servers[index]));
                tracing::warn!(from, to, "database primary moved; the pool follows it");
                metrics::counter!(crate::metrics::DB_PRIMARY_SWITCHES).increment(1);
            }
            return Some(conn);
        }
        None
    }

    /// A connection `age` old was opened after the last switch (or there was none).
    fn opened_since_switch(&self, age: Duration) -> bool {
        let switched = self.switched.lock().ok().and_then(|s| *s);
        switched.is_none_or(|at| Instant::now().checked_sub(age).is_some_and(|opened| opened >= at))
    }
}

async fn connect_if_primary(server: &PgConnectOptions) -> Option<PgConnection> {
    let connected = tokio::time::timeout(PROBE_TIMEOUT, server.connect()).await;
    let mut conn = connected.ok()?.ok()?;
    match tokio::time::timeout(PROBE_TIMEOUT, accepts_writes(&mut conn)).await {
        Ok(Ok(true)) => Some(conn),
        _ => None,
    }
}

async fn accepts_writes(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT NOT pg_is_in_recovery()").fetch_one(conn).await
}

fn describe(server: &PgConnectOptions) -> String {
    format!("{}:{}", server.get_host(), server.get_port())
}
