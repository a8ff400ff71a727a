//! `Pipeline`: one test's own running system. Its own database (from the
//! template), its own queue prefix, ingest in-process on port 0, workers
//! in-process or as real processes of the `workers` binary. Everything is
//! configured through the same environment variables production uses.

use crate::broker::{TestBroker, amqp_url};
use crate::db;
use common::broker::Topology;
use common::config::Config;
use common::shutdown::Shutdown;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How a test wants its pipeline.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workers started inside the test process.
    pub in_process_workers: usize,
    /// Ingest inside the test process (the benchmark runs it as a process instead).
    pub in_process_ingest: bool,
    /// Extra or overriding environment variables for every component.
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self { in_process_workers: 1, in_process_ingest: true, env: Vec::new() }
    }
}

impl Options {
    pub fn workers(n: usize) -> Self {
        Self { in_process_workers: n, ..Self::default() }
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

pub struct Pipeline {
    pub name: String,
    pub db: PgPool,
    pub broker: TestBroker,
    pub base_url: String,
    pub http: reqwest::Client,
    pub internal_key: String,
    /// The in-process ingest's state (its in-flight map, its publisher), when it runs in this process.
    pub ingest: Option<ingest::state::AppState>,
    env: BTreeMap<String, String>,
    ingest_shutdown: Shutdown,
    worker_shutdowns: Mutex<Vec<Shutdown>>,
    processes: Mutex<Vec<Child>>,
    stopped: bool,
}

/// A worker running as its own OS process.
pub struct WorkerProcess {
    pub child: Child,
}

/// A service process with an HTTP port (ingest's API, or a worker's health and metrics).
pub struct Process {
    pub child: Child,
    pub base_url: String,
}

impl Process {
    /// SIGTERM (graceful shutdown) and wait for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM").await.expect("the process exits after SIGTERM")
    }

    /// Send a signal (`TERM`, `KILL`) and wait up to a minute for the exit.
    pub async fn signal(&mut self, signal: &str) -> anyhow::Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status()?;
        }
        Ok(tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await??)
    }

    /// The `host:port` this process listens on.
    pub fn addr(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Pipeline {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        crate::init_logging();
        let name = format!("wt_{}_{:06x}", chrono::Utc::now().timestamp(), rand::random_range(0..0xff_ffffu32));
        let db = db::create(&name).await.expect("creating the test database");
        let mut env = base_env(&name);
        env.extend(options.env.iter().cloned());
        let config = config(&env, &name, "ingest");
        let broker = TestBroker::new(&name, Topology::from_config(&config.broker));
        broker.sweep().await;
        let ingest_shutdown = Shutdown::new();
        let (base_url, ingest) = if options.in_process_ingest {
            let app =
                ingest::http::app::Application::build(config, ingest_shutdown.clone()).await.expect("starting ingest");
            let base_url = format!("http://{}", app.addr());
            let state = app.state.clone();
            tokio::spawn(app.run());
            (base_url, Some(state))
        } else {
            (String::new(), None)
        };
        let pipeline = Pipeline {
            internal_key: env["INTERNAL_API_KEY"].clone(),
            ingest,
            name,
            db,
            broker,
            base_url,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"),
            env,
            ingest_shutdown,
            worker_shutdowns: Mutex::new(Vec::new()),
            processes: Mutex::new(Vec::new()),
            stopped: false,
        };
        for _ in 0..options.in_process_workers {
            pipeline.start_worker().await;
        }
        pipeline
    }

    /// Start one more worker inside the test process.
    pub async fn start_worker(&self) {
        let index = self.worker_shutdowns.lock().map(|w| w.len()).unwrap_or(0);
        let config = config(&self.env, &self.name, &format!("worker-{index}"));
        let shutdown = Shutdown::new();
        workers::start(&config, shutdown.clone()).await.expect("starting a worker");
        if let Ok(mut shutdowns) = self.worker_shutdowns.lock() {
            shutdowns.push(shutdown);
        }
    }

    /// The configuration `component` would get, with `overrides` on top.
    pub fn component_config(&self, component: &str, overrides: &[(&str, &str)]) -> Config {
        let mut env = self.env.clone();
        env.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        config(&env, &self.name, component)
    }

    /// Stop every in-process worker (their unacknowledged messages go back to the queue).
    pub fn stop_in_process_workers(&self) {
        if let Ok(shutdowns) = self.worker_shutdowns.lock() {
            shutdowns.iter().for_each(Shutdown::cancel);
        }
    }

    /// Start a worker as an OS process of the `workers` binary.
    pub fn spawn_worker_process(&self, label: &str, extra_env: &[(&str, &str)]) -> WorkerProcess {
        let component = format!("proc-{label}");
        let mut command = Command::new(binary("workers"));
        command.arg("run").kill_on_drop(true).stdout(std::process::Stdio::null());
        for (key, value) in component_env(&self.env, &self.name, &component) {
            command.env(key, value);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawning the workers binary (build the workspace first)");
        WorkerProcess { child }
    }

    /// Run the `workers` binary's operator CLI against this pipeline:
    /// (success, stdout, how long it took).
    pub async fn cli(&self, args: &[&str]) -> (bool, String, Duration) {
        self.cli_of(&binary("workers"), args).await
    }

    /// [`cli`](Self::cli) of another build of the workers binary (the previous release's).
    pub async fn cli_of(&self, program: &std::path::Path, args: &[&str]) -> (bool, String, Duration) {
        let mut command = Command::new(program);
        command.args(args).env("USER", "test-operator");
        for (key, value) in component_env(&self.env, &self.name, "operator") {
            command.env(key, value);
        }
        let started = std::time::Instant::now();
        let output = command.output().await.expect("running the workers CLI");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), stdout, started.elapsed())
    }

    /// Start ingest as an OS process of its binary on a free port; its logs
    /// go to `log` when given.
    pub async fn spawn_ingest_process(
        &self,
        label: &str,
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        self.spawn_ingest_at(&format!("127.0.0.1:{}", free_port()), label, extra_env, log).await
    }

    /// Start ingest on `addr` (a restart keeps its address, as behind a load balancer).
    pub async fn spawn_ingest_at(
        &self,
        addr: &str,
        label: &str,
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        let listen = ("INGEST_ADDR", addr);
        self.spawn_listening((&binary("ingest"), &["serve"]), &format!("ingest-{label}"), listen, extra_env, log).await
    }

    /// Start a worker process with its health and metrics on a free port.
    pub async fn spawn_worker_with_port(
        &self,
        label: &str,
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        let addr = format!("127.0.0.1:{}", free_port());
        self.spawn_worker_at(&addr, label, extra_env, log).await
    }

    /// Start a worker process with its health and metrics on `addr`.
    pub async fn spawn_worker_at(
        &self,
        addr: &str,
        label: &str,
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        let listen = ("WORKER_ADDR", addr);
        self.spawn_listening((&binary("workers"), &["run"]), &format!("proc-{label}"), listen, extra_env, log).await
    }

    /// Start a worker process of another build of the workers binary (the
    /// previous release, for the upgrade test) with its health on a free port.
    pub async fn spawn_worker_build(
        &self,
        program: &std::path::Path,
        label: &str,
        log: Option<&std::path::Path>,
    ) -> Process {
        let addr = format!("127.0.0.1:{}", free_port());
        self.spawn_listening((program, &["run"]), &format!("proc-{label}"), ("WORKER_ADDR", &addr), &[], log).await
    }

    /// Start `program args` listening on `listen` (its address variable and
    /// value) and wait until its `/livez` answers.
    async fn spawn_listening(
        &self,
        (program, args): (&std::path::Path, &[&str]),
        component: &str,
        listen: (&str, &str),
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Process {
        let mut env = vec![listen];
        env.extend_from_slice(extra_env);
        let child = self.spawn(program, args, component, &env, log);
        let base_url = format!("http://{}", listen.1);
        crate::checks::eventually(&format!("{} to listen", program.display()), Duration::from_secs(20), || async {
            self.http.get(format!("{base_url}/livez")).send().await.ok().map(|_| ())
        })
        .await;
        Process { child, base_url }
    }

    fn spawn(
        &self,
        program: &std::path::Path,
        args: &[&str],
        component: &str,
        extra_env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Child {
        let mut command = Command::new(program);
        command.args(args).kill_on_drop(true).stdout(std::process::Stdio::null());
        for (key, value) in component_env(&self.env, &self.name, component) {
            command.env(key, value);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        if let Some(path) = log {
            // Appended, so a restarted process keeps its predecessor's lines.
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
            command.stderr(file);
        }
        command.spawn().unwrap_or_else(|e| panic!("spawning {} (build the workspace first): {e}", program.display()))
    }

    /// Keep a process for `stop` to kill.
    pub fn adopt(&self, process: WorkerProcess) {
        if let Ok(mut processes) = self.processes.lock() {
            processes.push(process.child);
        }
    }

    pub fn database_name(&self) -> &str {
        &self.name
    }

    /// Stop everything and remove the test's database and queues.
    pub async fn stop(mut self) {
        self.stopped = true;
        self.shutdown_components();
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.broker.delete().await;
        if let Some(ingest) = self.ingest.take() {
            ingest.db.close().await;
        }
        self.db.close().await;
        db::drop_database(&self.name).await;
    }

    /// Stop everything but keep the test's database and queues for
    /// inspection (the harness sweeps them after two hours).
    pub async fn stop_keeping_data(mut self) {
        self.stopped = true;
        self.shutdown_components();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(ingest) = self.ingest.take() {
            ingest.db.close().await;
        }
        self.db.close().await;
    }

    fn shutdown_components(&self) {
        self.ingest_shutdown.cancel();
        self.stop_in_process_workers();
        if let Ok(mut processes) = self.processes.lock() {
            for child in processes.iter_mut() {
                let _ = child.start_kill();
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // The test failed before `stop`: clean up on a thread of its own.
        self.shutdown_components();
        let name = self.name.clone();
        let topology = self.broker.topology.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Runtime::new() {
                runtime.block_on(async {
                    TestBroker::new(&name, topology).delete().await;
                    db::drop_database(&name).await;
                });
            }
        })
        .join();
    }
}

fn base_env(name: &str) -> BTreeMap<String, String> {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    [
        ("APP_ENV", "test"),
        ("LOG_LEVEL", std::env::var("TEST_LOG").as_deref().unwrap_or("warn")),
        ("LOG_FORMAT", "pretty"),
        ("AMQP_URL", &amqp_url()),
        ("AMQP_PREFIX", name),
        ("REDIS_URL", &redis),
        ("RETRY_DELAYS", "200ms,400ms,800ms"),
        ("WORKER_MAX_ATTEMPTS", "4"),
        ("WORKER_BATCH_LINGER", "2ms"),
        ("INGEST_ADDR", "127.0.0.1:0"),
        ("WORKER_ADDR", "127.0.0.1:0"),
        ("DATABASE_POOL_SIZE", "8"),
        ("PUBLISH_CONFIRM_TIMEOUT", "3s"),
        ("ORDER_TRANSACTION_TIMEOUT", "5s"),
        ("SHUTDOWN_TIMEOUT", "5s"),
        ("INTERNAL_API_KEY", "test-internal-key-0123456789abcdef0123"),
        // Load-shaped tests write hundreds of orders a minute from one user;
        // the security tests set the limits they check.
        ("RATE_LIMIT_USER_WRITES_PER_MIN", "0"),
        ("RATE_LIMIT_TENANT_WRITES_PER_MIN", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The environment of one component: its own database application name
/// and broker connection name, so faults can target it alone.
fn component_env(env: &BTreeMap<String, String>, name: &str, component: &str) -> BTreeMap<String, String> {
    let mut env = env.clone();
    // The services log in as the role that owns nothing (row-level security
    // applies); the operator CLI as the operators' role. A test may point its
    // components at a proxy of the database.
    let userinfo = if component == "operator" { db::platform_userinfo() } else { db::app_userinfo() };
    let url = env.get("DATABASE_URL").cloned().unwrap_or_else(|| db::url_as(name, &userinfo).expect("database url"));
    let separator = if url.contains('?') { '&' } else { '?' };
    env.insert("DATABASE_URL".into(), format!("{url}{separator}application_name={name}-{component}"));
    env.insert("AMQP_CONNECTION_NAME".into(), format!("{name}-{component}"));
    env
}

fn config(env: &BTreeMap<String, String>, name: &str, component: &str) -> Config {
    let env = component_env(env, name, component);
    Config::from_lookup(|key| env.get(key).cloned()).expect("test configuration")
}

/// A binary of this workspace, built next to the test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Test executables live in <profile>/deps, binaries in <profile> itself.
    let parent = exe.parent().expect("target directory");
    let dir = if parent.ends_with("deps") { parent.parent().expect("profile directory") } else { parent };
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` first", path.display());
    path
}
