//! The Portcullis web server: hosts the Leptos app (SSR + server functions) on axum.
//!
//! Modules:
//! - [`config`]: the typed configuration (`APP_` environment variables, `__` nesting).
//! - [`telemetry`]: `tracing` set-up; HTTP spans carry method and path only (never query strings, which
//!   can hold authorization codes).
//! - `web`: the axum router (health check, Leptos routes, static files, security headers).
//!
//! `main.rs` only wires these together; tests build the router with [`router`] and drive it with `oneshot`,
//! or bind `127.0.0.1:0` and call [`run`].

pub mod config;
pub mod dev;
pub mod telemetry;
mod web;

use std::future::Future;

use axum::Router;
use axum::extract::FromRef;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

pub use web::router;

/// Everything request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: std::sync::Arc<config::Config>,
}

impl AppState {
    pub fn new(config: config::Config, leptos_options: LeptosOptions) -> Self {
        Self {
            leptos_options,
            config: std::sync::Arc::new(config),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Without TCP_NODELAY, small streamed responses stall on Nagle + delayed ACK (~40 ms each).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("web server stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// # Panics
/// At start-up, when the signal handlers cannot be installed.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutdown signal received, draining");
}
