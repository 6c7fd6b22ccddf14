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
//! - [`sales`]: the second MCP server (`sales`, its own binary, audience and database): per-tenant
//!   demo sales data and its tools, served by the same resource-server code as mcp-tools.
//! - `http`: the resource-server router any MCP handler is served by ([`mcp_router`]), and
//!   mcp-tools' router over it (plus the consent-complete page).
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
pub mod sales;
pub mod sessions;
pub mod tools;
pub mod weather;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use service_kit::serve;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use config::ResourceConfig;
pub use http::{MAX_HEADER_BYTES, mcp_router, router};
pub use jsonrpc::MAX_BODY_BYTES;

/// What every MCP resource server (mcp-tools, sales) runs with besides its handler: the HTTP client
/// and the issuer's discovery document that token validation reads, the session owners, and the
/// shutdown signal that ends open streams.
#[derive(Clone)]
pub struct ResourceServer {
    pub(crate) http: reqwest::Client,
    pub(crate) discovery: Arc<auth::Discovery>,
    /// Live sessions and their owners.
    pub sessions: sessions::SessionOwners,
    /// Cancelled at shutdown so open SSE streams end and the server can drain.
    pub shutdown: CancellationToken,
}

impl ResourceServer {
    /// A server trusting tokens of `authority`, with no sessions yet.
    pub fn new(authority: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let discovery = Arc::new(auth::Discovery::new(authority.to_owned(), http.clone()));
        Ok(Self {
            http,
            discovery,
            sessions: sessions::SessionOwners::default(),
            shutdown: CancellationToken::new(),
        })
    }
}

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
        let ResourceServer {
            http,
            discovery,
            sessions,
            shutdown,
        } = ResourceServer::new(&config.resource.auth.authority)?;
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
            sessions,
            shutdown,
        })
    }

    /// The resource-server part of this state (clones of shared handles).
    pub(crate) fn resource_server(&self) -> ResourceServer {
        ResourceServer {
            http: self.http.clone(),
            discovery: self.discovery.clone(),
            sessions: self.sessions.clone(),
            shutdown: self.shutdown.clone(),
        }
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
    serve_router(listener, router(config, state), cancel, shutdown).await;
    Ok(())
}

/// Serves any resource server's router on `listener` until `shutdown` completes; then cancels
/// `cancel` (the server's [`ResourceServer::shutdown`]) so open SSE streams end and requests drain.
pub async fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    cancel: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve::serve(listener, app, serve::IDLE_TIMEOUT, async move {
        shutdown.await;
        cancel.cancel();
    })
    .await;
}
