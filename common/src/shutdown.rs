//! Graceful shutdown: one cancellation token per process, cancelled by
//! Ctrl-C or SIGTERM; every long-running task watches it.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// Cancel `shutdown` on the first Ctrl-C or SIGTERM.
pub fn cancel_on_signal(shutdown: Shutdown) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
            _ = term => tracing::info!("SIGTERM received; shutting down"),
        }
        shutdown.cancel();
    });
}
