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
//! - [`graph`]: Microsoft Graph for the signed-in user through an on-behalf-of token exchange (only
//!   with `MCP_OBO__*`): the exchange, its per-user cache, consent links, the Graph calls.
//! - [`notes`]: per-user notes in SQLite.
//! - [`weather`]: the weather provider trait and its offline demo implementation.
//! - `http`: the axum router that puts these together (and the consent-complete page).
//! - `jsonrpc`: JSON-RPC error answers (-32700, -32600, -32602) to bodies rmcp cannot read.
//!
//! Serving (idle limit, graceful shutdown), tracing set-up and the lock-poisoning policy come from the
//! leaf crate `service-kit`; this crate depends on no other Portcullis crate.
//!
//! Embed it with [`router`] (tests use `oneshot`) or serve it with [`run`] on any listener.

pub mod auth;
pub mod config;
pub mod graph;
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
pub use http::{MAX_HEADER_BYTES, router};
pub use jsonrpc::MAX_BODY_BYTES;

/// Shared state of a running server.
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<tools::Shared>,
    pub(crate) http: reqwest::Client,
    /// The issuer's discovery document, shared by token validation and the token exchange.
    pub(crate) discovery: Arc<auth::Discovery>,
    /// Live sessions and their owners.
    pub sessions: sessions::SessionOwners,
    /// Cancelled at shutdown so open SSE streams end and the server can drain.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Opens the database named by the configuration and sets up the default (offline) providers, and
    /// Microsoft Graph when an on-behalf-of client is configured.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let notes = notes::NoteStore::open(&config.database_url).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let discovery = Arc::new(auth::Discovery::new(
            config.auth.authority.clone(),
            http.clone(),
        ));
        let graph = match &config.obo {
            Some(obo) => {
                tracing::info!(
                    client_id = %obo.client_id,
                    grant = %obo.grant,
                    graph = %config.graph.base_url,
                    "Microsoft Graph tools on: user tokens are exchanged on behalf of the user"
                );
                Some(Arc::new(graph::Graph::new(
                    obo.clone(),
                    config.graph.clone(),
                    discovery.clone(),
                )?))
            }
            None => {
                tracing::info!(
                    "Microsoft Graph tools off: set MCP_OBO__CLIENT_ID and MCP_OBO__CLIENT_SECRET so \
                     mcp-tools can exchange user tokens for Graph tokens"
                );
                None
            }
        };
        Ok(Self {
            shared: tools::Shared::new(notes, Arc::new(weather::OfflineWeather), graph),
            http,
            discovery,
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
