//! The shutdown signal.

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// # Panics
/// At start-up, when the signal handlers cannot be installed.
pub async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutdown signal received, draining");
}
