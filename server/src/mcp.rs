//! The configured MCP servers as the pages see them: the agent core's [`McpDirectory`] (which reaches
//! each server with the signed-in user's delegated token) and the token cache, behind the app's
//! `ToolDirectory` — the Tools page, the Connections page (each server's grant, Connect/Disconnect),
//! and the chat's notices about withheld servers.

use std::sync::Arc;

use agent::{
    domain::UserKey,
    mcp::{McpDirectory, McpError, ServerSpec, WithheldReason},
};
use app::{
    auth::Identity,
    chat::ChatError,
    connections::{GrantView, Reach, ServerConnection, WithheldServer},
    tools::{
        ServerTools, ToolInfo,
        backend::{BoxFuture, ListError, ListFuture, ToolDirectory},
    },
};
use axum::{
    Extension, Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rmcp::model::Tool;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::token_cache::{Grant, TokenCache};

/// The MCP servers and the user's grants for them.
pub struct Servers {
    pub directory: Arc<McpDirectory>,
    pub tokens: Arc<TokenCache>,
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

const NOT_CONNECTED: &str =
    "Not connected: grant access on the Connections page to use this server's tools.";

/// What an access token says about itself, for people: audience, scopes. Read from the JWT payload
/// without verifying it (it is our own cached copy, shown to its owner, never trusted for access);
/// `None` for a token that is not a JWT.
fn claims_of(token: &SecretString) -> Option<(String, Vec<String>)> {
    let payload = token.expose_secret().split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let audience = match &claims["aud"] {
        serde_json::Value::String(aud) => aud.clone(),
        serde_json::Value::Array(auds) => auds
            .iter()
            .filter_map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let scopes = claims["scp"]
        .as_str()
        .or(claims["scope"].as_str())
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some((audience, scopes))
}

/// `2026-12-02 21:04:05 UTC (in 59 min)`, or `(expired …)`: a refresh renews it on next use.
fn expiry_text(expires_at: i64, now: i64) -> String {
    let when = chrono::DateTime::from_timestamp(expires_at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    let minutes = (expires_at - now).unsigned_abs().div_ceil(60);
    if expires_at > now {
        format!("{when} (in {minutes} min)")
    } else {
        format!("{when} (expired {minutes} min ago; renewed when next used)")
    }
}

impl Servers {
    pub fn new(directory: Arc<McpDirectory>, tokens: Arc<TokenCache>) -> Self {
        Self { directory, tokens }
    }

    /// The configured server named `name`.
    pub fn spec(&self, name: &str) -> Option<&ServerSpec> {
        self.directory.servers().iter().find(|s| s.name == name)
    }

    async fn server_tools(
        &self,
        user: &UserKey,
        index: usize,
        spec: &ServerSpec,
    ) -> Result<ServerTools, ListError> {
        let (title, tools) = match self.directory.describe(user, index).await {
            Ok(described) => (
                described.title,
                Ok(described.tools.into_iter().map(tool_info).collect()),
            ),
            Err(McpError::SignInRequired) => return Err(ListError::SignInRequired),
            Err(McpError::NotConnected) => (None, Err(NOT_CONNECTED.to_owned())),
            Err(McpError::Failed(message)) => (None, Err(message)),
        };
        Ok(ServerTools {
            name: spec.name.clone(),
            title,
            url: spec.url.to_string(),
            tools,
        })
    }

    async fn connection(
        &self,
        user: &UserKey,
        index: usize,
        spec: &ServerSpec,
    ) -> Result<ServerConnection, ListError> {
        // Asked first: reaching the server obtains a token where the user's consent allows it.
        let (title, reach) = match self.directory.describe(user, index).await {
            Ok(described) => (
                described.title,
                Reach::Reached {
                    protocol_version: described.protocol_version,
                    tools: described.tools.len(),
                },
            ),
            Err(McpError::SignInRequired) => return Err(ListError::SignInRequired),
            Err(McpError::NotConnected) => (None, Reach::NotConnected),
            Err(McpError::Failed(message)) => (None, Reach::Unreachable(message)),
        };
        let grant = match self.tokens.grant(user.as_str(), &spec.scope).await {
            Ok(Grant::Held { token, expires_at }) => {
                let (audience, scopes) =
                    claims_of(&token).unwrap_or_else(|| ("(not a JWT)".to_owned(), Vec::new()));
                GrantView::Connected {
                    audience,
                    scopes,
                    expires: expiry_text(expires_at, chrono::Utc::now().timestamp()),
                }
            }
            Ok(Grant::Disconnected) => GrantView::Disconnected,
            Ok(Grant::None) => GrantView::NotConnected,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "reading a grant failed");
                GrantView::NotConnected
            }
        };
        Ok(ServerConnection {
            name: spec.name.clone(),
            title,
            url: spec.url.to_string(),
            reach,
            grant,
        })
    }
}

impl ToolDirectory for Servers {
    fn list<'a>(&'a self, user: &'a Identity) -> ListFuture<'a> {
        Box::pin(async move {
            let user = UserKey::from(user.key.as_str());
            let results = futures::future::join_all(
                (self.directory.servers().iter().enumerate())
                    .map(|(index, spec)| self.server_tools(&user, index, spec)),
            )
            .await;
            results.into_iter().collect()
        })
    }

    fn connections<'a>(
        &'a self,
        user: &'a Identity,
    ) -> BoxFuture<'a, Result<Vec<ServerConnection>, ListError>> {
        Box::pin(async move {
            let user = UserKey::from(user.key.as_str());
            let results = futures::future::join_all(
                (self.directory.servers().iter().enumerate())
                    .map(|(index, spec)| self.connection(&user, index, spec)),
            )
            .await;
            results.into_iter().collect()
        })
    }

    fn disconnect<'a>(
        &'a self,
        user: &'a Identity,
        server: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let spec = self.spec(server).ok_or(ChatError::NotFound)?;
            self.tokens
                .disconnect(&user.key, &spec.scope)
                .await
                .map_err(|error| {
                    tracing::error!(error = format!("{error:#}"), "disconnecting failed");
                    ChatError::Unavailable
                })?;
            self.directory
                .refresh_catalog(&UserKey::from(user.key.as_str()))
                .await;
            tracing::info!(server, "MCP server disconnected by the user");
            Ok(())
        })
    }

    fn withheld<'a>(
        &'a self,
        user: &'a Identity,
    ) -> BoxFuture<'a, Result<Vec<WithheldServer>, ListError>> {
        Box::pin(async move {
            let catalog = match self
                .directory
                .catalog(&UserKey::from(user.key.as_str()))
                .await
            {
                Ok(catalog) => catalog,
                Err(McpError::SignInRequired) => return Err(ListError::SignInRequired),
                Err(_) => return Ok(Vec::new()),
            };
            Ok(catalog
                .withheld
                .iter()
                .map(|w| WithheldServer {
                    name: w.server_name.clone(),
                    unavailable: match &w.reason {
                        WithheldReason::NotConnected => None,
                        WithheldReason::Unavailable(why) => Some(why.clone()),
                    },
                })
                .collect())
        })
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct DisconnectForm {
    server: String,
}

/// `POST /connections/disconnect` (the Connections page's form; same-origin only, as every write):
/// forgets the user's tokens for that server, then back to the page.
pub async fn disconnect(
    State(servers): State<Arc<Servers>>,
    user: Option<Extension<Identity>>,
    Form(form): Form<DisconnectForm>,
) -> Response {
    let Some(Extension(user)) = user else {
        return Redirect::to("/connections").into_response();
    };
    match servers.disconnect(&user, &form.server).await {
        Ok(()) => Redirect::to("/connections").into_response(),
        Err(ChatError::NotFound) => {
            (StatusCode::NOT_FOUND, "No MCP server of that name.").into_response()
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. Please try again.",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use secrecy::SecretString;

    use super::{claims_of, expiry_text};

    #[test]
    fn grants_show_audience_and_scopes_from_the_token_claims() {
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"aud":"api://portcullis-sales","scp":"sales:read other","exp":1}"#);
        let token = SecretString::from(format!("e30.{payload}.sig"));
        assert_eq!(
            claims_of(&token),
            Some((
                "api://portcullis-sales".to_owned(),
                vec!["sales:read".to_owned(), "other".to_owned()]
            ))
        );
        assert_eq!(claims_of(&SecretString::from("opaque-token")), None);
    }

    #[test]
    fn expiry_reads_as_a_time_and_a_distance() {
        assert_eq!(
            expiry_text(1_800_000_000, 1_800_000_000 - 3_540),
            "2027-01-15 08:00:00 UTC (in 59 min)"
        );
        assert!(expiry_text(100, 200).contains("expired 2 min ago"));
    }
}
