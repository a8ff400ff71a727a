//! A TCP proxy a test puts between its own components and a shared
//! service, to make that service look down or hung to them alone (other
//! tests and a running demo keep the real thing).

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward traffic.
    Up,
    /// Close every connection and refuse new ones (a stopped service).
    Down,
    /// Accept connections and never answer (a hung service).
    Hang,
    /// Keep open connections open but pass nothing (a service that hangs
    /// under its clients), and accept new ones without answering.
    Freeze,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address");
        let (sender, _) = watch::channel(Mode::Up);
        let mode = Arc::new(sender);
        let accepting = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changes = accepting.subscribe();
                tokio::spawn(async move {
                    let current = *changes.borrow_and_update();
                    match current {
                        Mode::Down => drop(client),
                        Mode::Hang | Mode::Freeze => hold(client, changes).await,
                        Mode::Up => forward(client, upstream, changes).await,
                    }
                });
            }
        });
        Self { addr, mode, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
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

async fn forward(mut client: TcpStream, upstream: SocketAddr, mut changes: watch::Receiver<Mode>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let frozen = tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => false,
        frozen = async {
            // Any change away from Up ends this connection, Freeze only once it thaws.
            while changes.changed().await.is_ok() {
                let mode = *changes.borrow();
                if mode != Mode::Up {
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
