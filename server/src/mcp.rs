//! The MCP servers the web app uses, reached with the signed-in user's delegated token.
//!
//! Tokens come from the token cache by each server's scope. A 401 from a server causes one forced
//! refresh and one retry, never a loop.

use std::{sync::Arc, time::Duration};

use app::{
    auth::Identity,
    tools::{
        ServerTools, ToolInfo,
        backend::{ListError, ListFuture, ToolDirectory},
    },
};
use rmcp::{
    ServiceExt,
    model::Tool,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::auth::token_cache::{TokenCache, TokenError};

/// One configured MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    pub name: String,
    pub url: String,
    /// Scope to request its tokens with, e.g. `api://portcullis-mcp/mcp:tools`.
    pub scope: String,
}

impl McpServer {
    /// `name=url scope`.
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let (name, rest) = entry.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("APP_MCP_SERVERS: expected name=url scope, got {entry:?}")
        })?;
        let mut parts = rest.split_whitespace();
        let (Some(url), Some(scope), None) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("APP_MCP_SERVERS: expected name=url scope, got {entry:?}");
        };
        url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("APP_MCP_SERVERS: {name}: bad URL: {e}"))?;
        Ok(Self {
            name: name.trim().to_owned(),
            url: url.to_owned(),
            scope: scope.to_owned(),
        })
    }
}

enum CallError {
    Unauthorized,
    Failed(String),
}

/// Lists each configured server's tools for a user.
pub struct McpDirectory {
    servers: Vec<McpServer>,
    tokens: Arc<TokenCache>,
}

impl McpDirectory {
    pub fn new(servers: Vec<McpServer>, tokens: Arc<TokenCache>) -> Self {
        Self { servers, tokens }
    }

    async fn list_tools(server: &McpServer, token: String) -> Result<Vec<Tool>, CallError> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(token),
        );
        let client = match tokio::time::timeout(Duration::from_secs(15), ().serve(transport)).await
        {
            Err(_) => {
                return Err(CallError::Failed(
                    "the server did not answer in time".into(),
                ));
            }
            Ok(Err(error)) if error.is_authorization_required() => {
                return Err(CallError::Unauthorized);
            }
            Ok(Err(error)) => return Err(CallError::Failed(format!("could not connect: {error}"))),
            Ok(Ok(client)) => client,
        };
        let tools = client
            .list_all_tools()
            .await
            .map_err(|e| CallError::Failed(format!("tools/list failed: {e}")));
        let _ = client.cancel().await;
        tools
    }

    async fn server_tools(
        &self,
        user: &Identity,
        server: &McpServer,
    ) -> Result<ServerTools, ListError> {
        let mut retried = false;
        let tools = loop {
            let token = match self.tokens.access_token(&user.key, &server.scope).await {
                Ok(token) => token,
                Err(TokenError::SignInRequired) => return Err(ListError::SignInRequired),
                Err(TokenError::Other(error)) => {
                    tracing::warn!(server = %server.name, error = format!("{error:#}"), "no token for MCP server");
                    break Err("could not obtain an access token for this server".to_owned());
                }
            };
            match Self::list_tools(server, token).await {
                Ok(tools) => break Ok(tools),
                Err(CallError::Unauthorized) if !retried => {
                    retried = true;
                    if let Err(error) = self.tokens.forget(&user.key, &server.scope).await {
                        break Err(format!("token cache error: {error}"));
                    }
                }
                Err(CallError::Unauthorized) => {
                    break Err(
                        "the server refused the access token (401) even after a refresh".to_owned(),
                    );
                }
                Err(CallError::Failed(message)) => break Err(message),
            }
        };
        Ok(ServerTools {
            name: server.name.clone(),
            url: server.url.clone(),
            tools: tools.map(|tools| tools.into_iter().map(tool_info).collect()),
        })
    }
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
