//! The MCP servers the web app uses, reached with the signed-in user's delegated token.
//!
//! Tokens come from the token cache by each server's scope. A 401 from a server causes one forced
//! refresh and one retry, never a loop.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::{
    auth::Identity,
    tools::{
        ServerTools, ToolInfo,
        backend::{ListError, ListFuture, ToolDirectory},
    },
};
use rmcp::{
    ClientHandler, RoleClient,
    model::{CallToolRequestParams, CallToolResult, ProtocolVersion, Tool},
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::auth::token_cache::{TokenCache, TokenError};

/// Which MCP protocol generation to speak to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Try 2026-07-28 (`server/discover`, stateless) and fall back to `initialize` (2025-11-25).
    #[default]
    Auto,
    /// `initialize` + session, 2025-11-25: elicitation arrives as server requests.
    Legacy,
    /// 2026-07-28 only: elicitation arrives as input-required results.
    Modern,
}

impl Protocol {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "auto" => Some(Self::Auto),
            "legacy" | "2025-11-25" => Some(Self::Legacy),
            "modern" | "2026-07-28" => Some(Self::Modern),
            _ => None,
        }
    }
}

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    pub name: String,
    pub url: String,
    /// Scope to request its tokens with, e.g. `api://portcullis-mcp/mcp:tools`.
    pub scope: String,
    pub protocol: Protocol,
}

impl McpServer {
    /// `name=url scope [protocol=auto|legacy|2026-07-28]`.
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let bad = || {
            anyhow::anyhow!("APP_MCP_SERVERS: expected name=url scope [protocol=…], got {entry:?}")
        };
        let (name, rest) = entry.split_once('=').ok_or_else(bad)?;
        let mut parts = rest.split_whitespace();
        let (Some(url), Some(scope)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let protocol = match parts.next() {
            None => Protocol::Auto,
            Some(setting) => setting
                .strip_prefix("protocol=")
                .and_then(Protocol::parse)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "APP_MCP_SERVERS: {name}: unknown {setting:?} (protocol=auto, legacy or 2026-07-28)"
                    )
                })?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("APP_MCP_SERVERS: {name}: bad URL: {e}"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            url: url.to_owned(),
            scope: scope.to_owned(),
            protocol,
        })
    }
}

/// Why talking to an MCP server failed.
#[derive(Debug)]
pub enum McpError {
    /// The user's grant is gone; they must sign in again.
    SignInRequired,
    /// A reason safe to show the user (and the model).
    Failed(String),
}

enum ConnectError {
    Unauthorized,
    Failed(String),
}

/// A tool as the model sees it: its function name (namespaced when there are several servers).
#[derive(Debug, Clone)]
pub struct CatalogTool {
    /// Index of its server in the configuration.
    pub server: usize,
    pub server_name: String,
    pub tool: String,
    pub function_name: String,
    pub description: String,
    pub parameters: serde_json::Value,
    pub read_only: bool,
    pub destructive: bool,
}

/// The tools of every server a user can reach right now.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<CatalogTool>,
}

impl Catalog {
    pub fn find(&self, function_name: &str) -> Option<&CatalogTool> {
        self.tools.iter().find(|t| t.function_name == function_name)
    }
}

/// How long a user's tool catalog is reused before it is listed again.
const CATALOG_TTL: Duration = Duration::from_secs(60);

/// Lists each configured server's tools for a user, and calls them.
pub struct McpDirectory {
    servers: Vec<McpServer>,
    tokens: Arc<TokenCache>,
    catalogs: Mutex<HashMap<String, (Instant, Arc<Catalog>)>>,
}

impl McpDirectory {
    pub fn new(servers: Vec<McpServer>, tokens: Arc<TokenCache>) -> Self {
        Self {
            servers,
            tokens,
            catalogs: Mutex::new(HashMap::new()),
        }
    }

    pub fn servers(&self) -> &[McpServer] {
        &self.servers
    }

    async fn connect<H: ClientHandler>(
        server: &McpServer,
        token: String,
        handler: H,
    ) -> Result<RunningService<RoleClient, H>, ConnectError> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(token),
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
            Duration::from_secs(15),
            handler.serve_with_lifecycle(transport, lifecycle),
        )
        .await
        {
            Err(_) => Err(ConnectError::Failed(
                "the server did not answer in time".into(),
            )),
            Ok(Err(error)) if error.is_authorization_required() => Err(ConnectError::Unauthorized),
            Ok(Err(error)) => Err(ConnectError::Failed(format!("could not connect: {error}"))),
            Ok(Ok(client)) => Ok(client),
        }
    }

    /// Connects with the user's token; a 401 forgets the token and tries once more with a fresh one.
    async fn connect_as<H: ClientHandler + Clone>(
        &self,
        user_key: &str,
        server: &McpServer,
        handler: H,
    ) -> Result<RunningService<RoleClient, H>, McpError> {
        let mut retried = false;
        loop {
            let token = match self.tokens.access_token(user_key, &server.scope).await {
                Ok(token) => token,
                Err(TokenError::SignInRequired) => return Err(McpError::SignInRequired),
                Err(TokenError::Other(error)) => {
                    tracing::warn!(server = %server.name, error = format!("{error:#}"), "no token for MCP server");
                    return Err(McpError::Failed(
                        "could not obtain an access token for this server".to_owned(),
                    ));
                }
            };
            match Self::connect(server, token, handler.clone()).await {
                Ok(client) => return Ok(client),
                Err(ConnectError::Unauthorized) if !retried => {
                    retried = true;
                    if let Err(error) = self.tokens.forget(user_key, &server.scope).await {
                        tracing::warn!(error = format!("{error:#}"), "token cache error");
                        return Err(McpError::Failed("token cache error".to_owned()));
                    }
                }
                Err(ConnectError::Unauthorized) => {
                    return Err(McpError::Failed(
                        "the server refused the access token (401) even after a refresh".to_owned(),
                    ));
                }
                Err(ConnectError::Failed(message)) => return Err(McpError::Failed(message)),
            }
        }
    }

    async fn list_tools(&self, user_key: &str, server: &McpServer) -> Result<Vec<Tool>, McpError> {
        let client = self.connect_as(user_key, server, ()).await?;
        let tools = client
            .list_all_tools()
            .await
            .map_err(|e| McpError::Failed(format!("tools/list failed: {e}")));
        let _ = client.cancel().await;
        tools
    }

    async fn server_tools(
        &self,
        user: &Identity,
        server: &McpServer,
    ) -> Result<ServerTools, ListError> {
        let tools = match self.list_tools(&user.key, server).await {
            Ok(tools) => Ok(tools.into_iter().map(tool_info).collect()),
            Err(McpError::SignInRequired) => return Err(ListError::SignInRequired),
            Err(McpError::Failed(message)) => Err(message),
        };
        Ok(ServerTools {
            name: server.name.clone(),
            url: server.url.clone(),
            tools,
        })
    }

    /// The tools the model is offered for this user: every reachable server's, namespaced
    /// `<server>__<tool>` when there are several servers. Unreachable servers are left out (logged).
    pub async fn catalog(&self, user_key: &str) -> Result<Arc<Catalog>, McpError> {
        if let Some((at, catalog)) = self
            .catalogs
            .lock()
            .ok()
            .and_then(|c| c.get(user_key).cloned())
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(catalog);
        }
        let listed = futures::future::join_all(
            self.servers
                .iter()
                .map(|server| self.list_tools(user_key, server)),
        )
        .await;
        let several = self.servers.len() > 1;
        let mut catalog = Catalog::default();
        for (index, (server, tools)) in self.servers.iter().zip(listed).enumerate() {
            let tools = match tools {
                Ok(tools) => tools,
                Err(McpError::SignInRequired) => return Err(McpError::SignInRequired),
                Err(McpError::Failed(message)) => {
                    tracing::warn!(server = %server.name, %message, "MCP server left out of the tool catalog");
                    continue;
                }
            };
            for tool in tools {
                let annotations = tool.annotations.clone().unwrap_or_default();
                let name = tool.name.to_string();
                catalog.tools.push(CatalogTool {
                    server: index,
                    server_name: server.name.clone(),
                    function_name: if several {
                        format!("{}__{name}", slug(&server.name))
                    } else {
                        name.clone()
                    },
                    tool: name,
                    description: tool.description.as_deref().unwrap_or_default().to_owned(),
                    parameters: serde_json::Value::Object((*tool.input_schema).clone()),
                    read_only: annotations.read_only_hint == Some(true),
                    destructive: annotations.destructive_hint == Some(true),
                });
            }
        }
        let catalog = Arc::new(catalog);
        if let Ok(mut catalogs) = self.catalogs.lock() {
            catalogs.insert(user_key.to_owned(), (Instant::now(), catalog.clone()));
        }
        Ok(catalog)
    }

    /// Drops catalogs past their time to live (they would be listed again anyway), so users who have
    /// gone quiet hold no memory.
    fn sweep(&self) {
        if let Ok(mut catalogs) = self.catalogs.lock() {
            catalogs.retain(|_, (at, _)| at.elapsed() < CATALOG_TTL);
        }
    }

    /// Sweeps expired catalogs four times per time to live (so none outlives it by more than a
    /// quarter), for as long as the directory exists.
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
                directory.sweep();
            }
        });
    }

    /// Calls one tool as the user. `handler` answers the server's elicitation requests (either
    /// generation: server requests in 2025-11-25, input-required results in 2026-07-28).
    pub async fn call<H: ClientHandler + Clone>(
        &self,
        user_key: &str,
        server: usize,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        handler: H,
    ) -> Result<CallToolResult, McpError> {
        let server = self
            .servers
            .get(server)
            .ok_or_else(|| McpError::Failed("unknown MCP server".to_owned()))?;
        let client = self.connect_as(user_key, server, handler).await?;
        let result = client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
            .await
            .map_err(|e| McpError::Failed(format!("the tool call failed: {e}")));
        let _ = client.cancel().await;
        result
    }
}

/// A server name as a function-name prefix: `[a-z0-9_]`, at most 24 characters.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    out.chars().take(24).collect()
}

/// A tool result as text for the model and the UI.
pub fn result_text(result: &CallToolResult) -> String {
    let mut parts: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    if parts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        parts.push(structured.to_string());
    }
    parts.join("\n")
}

fn tool_info(tool: Tool) -> ToolInfo {
    let annotations = tool.annotations.clone().unwrap_or_default();
    ToolInfo {
        name: tool.name.to_string(),
        title: tool.title.clone().or(annotations.title.clone()),
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        input_schema: serde_json::to_string_pretty(&*tool.input_schema).unwrap_or_default(),
        read_only: annotations.read_only_hint == Some(true),
        destructive: annotations.destructive_hint == Some(true),
    }
}

impl ToolDirectory for McpDirectory {
    fn list<'a>(&'a self, user: &'a Identity) -> ListFuture<'a> {
        Box::pin(async move {
            let results = futures::future::join_all(
                self.servers
                    .iter()
                    .map(|server| self.server_tools(user, server)),
            )
            .await;
            results.into_iter().collect()
        })
    }
}
