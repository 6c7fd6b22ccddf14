//! Portcullis MCP tools: a Model Context Protocol server over Streamable HTTP that is an OAuth 2.0
//! resource server accepting only delegated user tokens.
//!
//! Modules:
//! - [`config`]: typed configuration from `MCP_*` environment variables (read with
//!   `service_kit::config`), or built in code with [`Config::builder`].
//! - [`auth`]: bearer-token validation (JWKS cache, JWT policy, a `moka` cache of validated tokens),
//!   the request's [`auth::Principal`], 401/403 challenges and RFC 9728 metadata.
//! - [`sessions`]: binds each MCP session to the user who opened it.
//! - [`tools`]: the MCP handler, in rooms: the `ServerHandler`, the utility tools, the note tools with
//!   their elicitation round trip, the `about` resource and the `daily_briefing` prompt.
//! - [`notes`]: per-user notes in SQLite.
//! - [`weather`]: the weather provider trait and its offline demo implementation.
//! - `http`: the axum router that puts these together.
//! - `jsonrpc`: JSON-RPC error answers (-32700, -32600, -32602) to bodies rmcp cannot read.
//!
//! Serving (idle limit, graceful shutdown), tracing set-up and the lock-poisoning policy come from the
//! leaf crate `service-kit`; this crate depends on no other Portcullis crate.
//!
//! Embed it with [`router`] (tests use `oneshot`) or serve it with [`run`] on any listener.

pub mod auth;
pub mod config;
mod http;
mod jsonrpc;
pub mod notes;
pub mod sessions;
pub mod tools;
pub mod weather;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use service_kit::serve;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use http::{MAX_BODY_BYTES, MAX_HEADER_BYTES, router};

/// Shared state of a running server.
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<tools::Shared>,
    pub(crate) http: reqwest::Client,
    /// Live sessions and their owners.
    pub sessions: sessions::SessionOwners,
    /// Cancelled at shutdown so open SSE streams end and the server can drain.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Opens the database named by the configuration and sets up the default (offline) providers.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let notes = notes::NoteStore::open(&config.database_url).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            shared: tools::Shared::new(notes, Arc::new(weather::OfflineWeather)),
            http,
            sessions: sessions::SessionOwners::default(),
            shutdown: CancellationToken::new(),
        })
    }
}

/// Serves the MCP server on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::open(&config).await?;
    serve(listener, config, state, shutdown).await
}

/// Like [`run`], with state the caller built (and may inspect).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cancel = state.shutdown.clone();
    let app = router(config, state);
    serve::serve(listener, app, serve::IDLE_TIMEOUT, async move {
        shutdown.await;
        // Ends open SSE streams so in-flight requests can drain.
        cancel.cancel();
    })
    .await;
    Ok(())
}
