//! A TCP proxy a test puts between its own components and a shared
//! service, to make that service look down, hung or slow to them alone
//! (other tests and a running demo keep the real thing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward traffic.
    Up,
    /// Forward traffic, each chunk held back this long (a service that
    /// answers, late); open connections stay open across Up and Slow.
    Slow(Duration),
    /// Close every connection and refuse new ones (a stopped service).
    Down,
    /// Accept connections and never answer (a hung service).
    Hang,
    /// Keep open connections open but pass nothing (a service that hangs
    /// under its clients), and accept new ones without answering.
    Freeze,
}

impl Mode {
    fn forwards(self) -> bool {
        matches!(self, Mode::Up | Mode::Slow(_))
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    upstream_bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address");
        let (sender, _) = watch::channel(Mode::Up);
        let mode = Arc::new(sender);
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let (accepting, counter) = (mode.clone(), upstream_bytes.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changes = accepting.subscribe();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let current = *changes.borrow_and_update();
                    match current {
                        Mode::Down => drop(client),
                        Mode::Hang | Mode::Freeze => hold(client, changes).await,
                        Mode::Up | Mode::Slow(_) => forward(client, upstream, changes, counter).await,
                    }
                });
            }
        });
        Self { addr, mode, upstream_bytes, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Bytes the clients sent on to the service so far (what a test counts
    /// round trips by).
    pub fn upstream_bytes(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Down);
    }
}

async fn hold(client: TcpStream, mut changes: watch::Receiver<Mode>) {
    while changes.changed().await.is_ok() {
        if *changes.borrow() == Mode::Down {
            break;
        }
    }
    drop(client);
}

async fn forward(client: TcpStream, upstream: SocketAddr, mut changes: watch::Receiver<Mode>, sent: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    // The halves live here, not in the pumps: a frozen connection stays open after its pumps stop.
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (up, down) = (changes.clone(), changes.clone());
    let frozen = tokio::select! {
        _ = async {
            tokio::join!(
                pump(&mut client_read, &mut server_write, up, Some(sent)),
                pump(&mut server_read, &mut client_write, down, None)
            )
        } => false,
        frozen = async {
            // Any change to a mode that does not forward ends this
            // connection, Freeze only once it thaws.
            while changes.changed().await.is_ok() {
                let mode = *changes.borrow();
                if !mode.forwards() {
                    return mode == Mode::Freeze;
                }
            }
            false
        } => frozen,
    };
    if frozen {
        while changes.changed().await.is_ok() && *changes.borrow() == Mode::Freeze {}
    }
}

/// Copy one direction, holding each chunk back while the mode is Slow.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
    sent: Option<Arc<AtomicU64>>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = match *mode.borrow() {
            Mode::Slow(delay) => Some(delay),
            _ => None,
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        if let Some(sent) = &sent {
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    let _ = to.shutdown().await;
}
