//! The Portcullis web server: hosts the Leptos app (SSR + server functions) on axum.
//!
//! Modules:
//! - [`config`]: the typed configuration (`APP_` environment variables, `__` nesting), parsed once.
//! - [`auth`]: OIDC sign-in, the server-side session's user, and the encrypted token cache.
//! - [`sessions`]: the session store (SQLite, or PostgreSQL by configuration).
//! - [`chat`]: the web front-end of the `agent` crate's loop over the `chat_store` crate's SQL
//!   conversation store: the live-update hub, the UI's server functions (ownership checks, then the
//!   agent), projections to display data.
//! - [`mcp`]: the configured MCP servers (the agent's directory) and the user's grants for them, as the
//!   Tools and Connections pages and the chat's notices see them.
//! - `dev` (`dev-stack` feature only): starts the development stand-ins of the `dev_stack` crate
//!   (identity provider, model, in-process mcp-tools) for what configuration leaves unset. Without
//!   the feature the binary has none of them and needs an external authority and model.
//! - `state`: assembling [`AppState`] from configuration and the [`StandIns`], one small constructor
//!   per part (databases, sign-in, chat and MCP directory, web settings).
//! - [`serve`], [`telemetry`], [`shutdown_signal`]: re-exported from `service_kit` (serving with an
//!   idle limit on keep-alive connections; `tracing` set-up; SIGINT/SIGTERM).
//! - `web`: the axum router (health check, auth routes, Leptos routes, static files, CSRF guard,
//!   security headers) and `web::live`, the Server-Sent Events endpoint of a conversation.
//!
//! `main.rs` only wires these together; tests build the router with [`router`] and drive it with `oneshot`,
//! or bind `127.0.0.1:0` and call [`run`].

pub mod auth;
pub mod chat;
pub mod config;
#[cfg(feature = "dev-stack")]
pub mod dev;
pub mod mcp;
pub mod sessions;
mod state;
mod web;

use std::future::Future;

use axum::Router;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

pub use service_kit::{serve, shutdown::signal as shutdown_signal, telemetry};

pub use state::{DevSignIn, StandIns};
pub use web::router;

/// Everything request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: std::sync::Arc<config::Config>,
    pub auth: std::sync::Arc<auth::AuthState>,
    pub sessions: sessions::AnyStore,
    /// The MCP servers as the pages see them (the same object as `servers`).
    pub directory: app::tools::backend::SharedDirectory,
    pub servers: std::sync::Arc<mcp::Servers>,
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
