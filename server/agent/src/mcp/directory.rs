//! The configured MCP servers, reached with the user's delegated token: listing tools (cached per user)
//! and calling them. A 401 from a server causes one forced refresh and one retry, never a loop.
//!
//! A server the user has not connected, or that cannot be reached, is left out of the catalog and
//! named in [`Catalog::withheld`]. A catalog missing an unreachable server is kept only briefly
//! ([`RETRY_UNAVAILABLE`]), and a call that cannot reach its server drops the user's catalog, so a
//! server that goes away is withdrawn from the next turn and one that comes back returns by itself.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use rmcp::{
    ClientHandler, RoleClient,
    model::{CallToolRequestParams, CallToolResult, ProtocolVersion, Tool},
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    Catalog, CatalogTool, Protocol, ServerSpec, TokenError, TokenSource, Withheld, WithheldReason,
};
use crate::domain::UserKey;

/// A server as [`McpDirectory::describe`] found it.
#[derive(Debug, Clone)]
pub struct Described {
    /// What the server calls itself, for people (its configured short name stays its address).
    pub title: Option<String>,
    /// The protocol version the connection settled on (`2026-07-28`, `2025-11-25`).
    pub protocol_version: Option<String>,
    pub tools: Vec<Tool>,
}

/// Why talking to an MCP server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpError {
    /// The user's grant is gone; they must sign in again.
    #[error("sign-in required")]
    SignInRequired,
    /// The user has not granted this server's scope (see [`TokenError::NotConnected`]).
    #[error("not connected")]
    NotConnected,
    /// A reason safe to show the user (and the model).
    #[error("{0}")]
    Failed(String),
}

enum ConnectError {
    Unauthorized,
    /// Refused or answered with an error: worth one more try (behind a load balancer, the next attempt
    /// may reach another instance; a server that just restarted answers the second).
    Refused,
    Failed(String),
}

/// The pause before connecting once more after a refused connection.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);

/// How long a user's tool catalog is reused before it is listed again.
const CATALOG_TTL: Duration = Duration::from_secs(60);
/// How long a catalog that lacks an unreachable server is reused: the server is tried again after.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(5);
/// Longest wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Lists each configured server's tools for a user, and calls them.
pub struct McpDirectory {
    servers: Vec<ServerSpec>,
    tokens: Arc<dyn TokenSource>,
    /// Per user; concurrent first lookups share one listing (`try_get_with` is single flight), and
    /// entries past their time to live are dropped by moka, so users who went quiet hold no memory.
    catalogs: Cache<UserKey, Arc<Catalog>>,
}

impl McpDirectory {
    pub fn new(servers: Vec<ServerSpec>, tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            servers,
            tokens,
            catalogs: Cache::builder()
                .max_capacity(100_000)
                .expire_after(CatalogExpiry)
                .build(),
        }
    }

    pub fn servers(&self) -> &[ServerSpec] {
        &self.servers
    }

    /// Runs moka's pending evictions now and then: without cache traffic, expired catalogs would
    /// otherwise stay in memory until the next lookup.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let directory = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(CATALOG_TTL / 4);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(directory) = directory.upgrade() else {
                    return;
                };
                directory.catalogs.run_pending_tasks().await;
            }
        });
    }

    async fn connect<H: ClientHandler>(
        server: &ServerSpec,
        token: &SecretString,
        handler: H,
    ) -> Result<RunningService<RoleClient, H>, ConnectError> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url.as_str())
                .auth_header(token.expose_secret()),
        );
        let lifecycle = match server.protocol {
            Protocol::Legacy => ClientLifecycleMode::Initialize,
            Protocol::Modern => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
            Protocol::Auto => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        };
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            handler.serve_with_lifecycle(transport, lifecycle),
        )
        .await
        {
            Err(_) => Err(ConnectError::Failed(
                "the server did not answer in time".into(),
            )),
            Ok(Err(error)) if error.is_authorization_required() => Err(ConnectError::Unauthorized),
            Ok(Err(error)) => {
                // The details (transport errors, the request rmcp was making) are for the log; the
                // user and the model read only that the server could not be reached.
                tracing::warn!(server = %server.name, %error, "connecting to an MCP server failed");
                Err(ConnectError::Refused)
            }
            Ok(Ok(client)) => Ok(client),
        }
    }

    /// Connects with the user's token; a 401 forgets the token and tries once more with a fresh one.
    async fn connect_as<H: ClientHandler + Clone>(
        &self,
        user: &UserKey,
        server: &ServerSpec,
        handler: H,
    ) -> Result<RunningService<RoleClient, H>, McpError> {
        let (mut retried, mut reconnected) = (false, false);
        loop {
            let token = match self.tokens.access_token(user, &server.scope).await {
                Ok(token) => token,
                Err(TokenError::SignInRequired) => return Err(McpError::SignInRequired),
                Err(TokenError::NotConnected) => return Err(McpError::NotConnected),
                Err(TokenError::Other(error)) => {
                    tracing::warn!(server = %server.name, error = format!("{error:#}"), "no token for MCP server");
                    return Err(McpError::Failed(
                        "could not obtain an access token for this server".to_owned(),
                    ));
                }
            };
            match Self::connect(server, &token, handler.clone()).await {
                Ok(client) => return Ok(client),
                Err(ConnectError::Unauthorized) if !retried => {
                    retried = true;
                    if let Err(error) = self.tokens.forget(user, &server.scope).await {
                        tracing::warn!(error = format!("{error:#}"), "token cache error");
                        return Err(McpError::Failed("token cache error".to_owned()));
                    }
                }
                Err(ConnectError::Unauthorized) => {
                    return Err(McpError::Failed(
                        "the server refused the access token (401) even after a refresh".to_owned(),
                    ));
                }
                // Connecting makes no call (a handshake only), so it is safe to repeat.
                Err(ConnectError::Refused) if !reconnected => {
                    reconnected = true;
                    tokio::time::sleep(RECONNECT_AFTER).await;
                }
                Err(ConnectError::Refused) => {
                    return Err(McpError::Failed(
                        "could not connect: the server refused the connection or answered with an error"
                            .to_owned(),
                    ));
                }
                Err(ConnectError::Failed(message)) => return Err(McpError::Failed(message)),
            }
        }
    }

    /// Forgets the user's catalog, so the next turn lists every server again (after a Connect or a
    /// Disconnect).
    pub async fn refresh_catalog(&self, user: &UserKey) {
        self.catalogs.invalidate(user).await;
    }

    /// One server's tools, listed now (the Tools page).
    pub async fn list_tools(&self, user: &UserKey, server: usize) -> Result<Vec<Tool>, McpError> {
        Ok(self.describe(user, server).await?.tools)
    }

    /// The server's display title (from the `serverInfo` it announces: its title, else its name) and
    /// its tools, as the user reaches them.
    pub async fn describe(&self, user: &UserKey, server: usize) -> Result<Described, McpError> {
        let server = self.server(server)?;
        let client = self.connect_as(user, server, ()).await?;
        let info = client.peer_info();
        let title = (info.as_ref())
            .and_then(|info| info.server_info.clone())
            .map(|info| info.title.unwrap_or(info.name));
        let protocol_version = info.map(|info| info.protocol_version.to_string());
        let tools = client
            .list_all_tools()
            .await
            .map_err(|e| McpError::Failed(format!("tools/list failed: {e}")));
        let _ = client.cancel().await;
        Ok(Described {
            title,
            protocol_version,
            tools: tools?,
        })
    }

    fn server(&self, index: usize) -> Result<&ServerSpec, McpError> {
        self.servers
            .get(index)
            .ok_or_else(|| McpError::Failed("unknown MCP server".to_owned()))
    }

    /// The tools the model is offered for this user, cached for a minute (seconds when a server was
    /// unreachable). Unconnected and unreachable servers are left out and named in `withheld`; a
    /// sign-in that is gone is an error (and not cached).
    pub async fn catalog(&self, user: &UserKey) -> Result<Arc<Catalog>, McpError> {
        self.catalogs
            .try_get_with_by_ref(user, self.list_catalog(user))
            .await
            .map_err(|error| (*error).clone())
    }

    async fn list_catalog(&self, user: &UserKey) -> Result<Arc<Catalog>, McpError> {
        let listed = futures::future::join_all(
            (0..self.servers.len()).map(|index| self.list_tools(user, index)),
        )
        .await;
        let several = self.servers.len() > 1;
        let mut catalog = Catalog::default();
        for (index, (server, tools)) in self.servers.iter().zip(listed).enumerate() {
            let reason = match tools {
                Ok(tools) => {
                    catalog.tools.extend(
                        tools
                            .iter()
                            .map(|tool| CatalogTool::new(index, &server.name, several, tool)),
                    );
                    continue;
                }
                Err(McpError::SignInRequired) => return Err(McpError::SignInRequired),
                Err(McpError::NotConnected) => WithheldReason::NotConnected,
                Err(McpError::Failed(message)) => {
                    tracing::warn!(server = %server.name, %message, "MCP server left out of the tool catalog");
                    WithheldReason::Unavailable(message)
                }
            };
            catalog.withheld.push(Withheld {
                server: index,
                server_name: server.name.clone(),
                reason,
            });
        }
        Ok(Arc::new(catalog))
    }

    /// Calls one tool as the user. `handler` answers the server's elicitation requests (either
    /// generation: server requests in 2025-11-25, input-required results in 2026-07-28).
    pub async fn call<H: ClientHandler + Clone>(
        &self,
        user: &UserKey,
        tool: &CatalogTool,
        arguments: serde_json::Map<String, serde_json::Value>,
        handler: H,
    ) -> Result<CallToolResult, McpError> {
        let server = self.server(tool.server)?;
        let client = match self.connect_as(user, server, handler).await {
            Ok(client) => client,
            Err(error) => {
                // The catalog that offered this tool is out of date: list again next turn.
                self.catalogs.invalidate(user).await;
                return Err(error);
            }
        };
        let result = client
            .call_tool(CallToolRequestParams::new(tool.tool.clone()).with_arguments(arguments))
            .await
            .map_err(|error| match error {
                // The server answered: its words are meant for the caller (bad arguments, say).
                rmcp::ServiceError::McpError(error) => {
                    McpError::Failed(format!("the server refused the call: {}", error.message))
                }
                // The request was sent and no answer came: the server may have acted on it.
                other => {
                    tracing::warn!(server = %server.name, error = %other, "a tool call broke off");
                    McpError::Failed(
                        "the connection to the server broke during the call; it may or may not have taken effect"
                            .to_owned(),
                    )
                }
            });
        let _ = client.cancel().await;
        result
    }
}

/// A catalog lives [`CATALOG_TTL`], or [`RETRY_UNAVAILABLE`] when a server could not be reached.
struct CatalogExpiry;

impl moka::Expiry<UserKey, Arc<Catalog>> for CatalogExpiry {
    fn expire_after_create(
        &self,
        _user: &UserKey,
        catalog: &Arc<Catalog>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match catalog.unavailable().next() {
            Some(_) => RETRY_UNAVAILABLE,
            None => CATALOG_TTL,
        })
    }
}
