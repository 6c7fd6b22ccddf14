//! The Portcullis web server: hosts the Leptos app (SSR + server functions) on axum.
//!
//! Modules:
//! - [`config`]: the typed configuration (`APP_` environment variables, `__` nesting).
//! - [`auth`]: OIDC sign-in, the server-side session's user, and the encrypted token cache.
//! - [`sessions`]: the session store (SQLite, or PostgreSQL by configuration).
//! - [`mcp`]: the configured MCP servers, reached with the user's delegated token.
//! - [`chat`]: the agent chat: loop, model client, approvals, elicitation, persistence, live updates.
//! - [`dev`]: development stand-ins (identity provider, in-process mcp-tools) for offline use.
//! - [`serve`]: serving a router with an idle limit on keep-alive connections (the web app and the dev
//!   stand-ins).
//! - [`support`]: SQLite pools, HTML escaping and owner-only files, shared by the app and the dev
//!   stand-ins.
//! - `state`: assembling [`AppState`] from configuration and the dev stack.
//! - [`telemetry`]: `tracing` set-up; HTTP spans carry method and path only (never query strings, which
//!   can hold authorization codes).
//! - `web`: the axum router (health check, auth routes, Leptos routes, static files, CSRF guard,
//!   security headers).
//!
//! `main.rs` only wires these together; tests build the router with [`router`] and drive it with `oneshot`,
//! or bind `127.0.0.1:0` and call [`run`].

pub mod auth;
pub mod chat;
pub mod config;
pub mod dev;
pub mod mcp;
pub mod serve;
pub mod sessions;
mod state;
pub mod support;
pub mod telemetry;
mod web;

use std::future::Future;

use axum::Router;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

pub use web::router;

/// Everything request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: std::sync::Arc<config::Config>,
    pub auth: std::sync::Arc<auth::AuthState>,
    pub sessions: sessions::AnyStore,
    pub directory: app::tools::backend::SharedDirectory,
    pub chat: std::sync::Arc<chat::Chat>,
    pub settings: std::sync::Arc<WebSettings>,
}

/// Settings of the HTTP layer derived at start-up.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `Secure` + `__Host-` cookies (the public URL is https).
    pub secure_cookies: bool,
    /// The only origin allowed to send state-changing requests.
    pub public_origin: String,
    pub session_idle: std::time::Duration,
    /// Extra CSP `form-action` source: the identity provider's origin (sign-out redirects there).
    pub form_action: String,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve::serve(listener, app, serve::IDLE_TIMEOUT, shutdown).await;
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
