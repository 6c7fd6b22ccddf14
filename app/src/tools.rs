//! The Tools page's data: each configured MCP server's tools, fetched live over MCP with the signed-in
//! user's delegated token.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::chat::ChatError;

/// One tool as `tools/list` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// Pretty-printed JSON Schema of the arguments.
    pub input_schema: String,
    pub read_only: bool,
    pub destructive: bool,
}

/// One configured MCP server and what listing its tools gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerTools {
    /// The configured short name (how the console and the model address it).
    pub name: String,
    /// What the server calls itself (`serverInfo`), when it could be reached.
    pub title: Option<String>,
    pub url: String,
    /// The tools, or a message saying why they could not be listed.
    pub tools: Result<Vec<ToolInfo>, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToolsView {
    SignedOut,
    /// The grant is gone (e.g. refresh token revoked): the session was ended.
    SignInRequired,
    Servers(Vec<ServerTools>),
}

/// Server side: how the page's data is produced (implemented by the server crate).
#[cfg(feature = "ssr")]
pub mod backend {
    use std::{future::Future, pin::Pin, sync::Arc};

    use super::ServerTools;
    use crate::{
        auth::Identity,
        chat::ChatError,
        connections::{ServerConnection, WithheldServer},
    };

    pub enum ListError {
        SignInRequired,
    }

    pub type ListFuture<'a> =
        Pin<Box<dyn Future<Output = Result<Vec<ServerTools>, ListError>> + Send + 'a>>;
    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

    /// The configured MCP servers as the pages see them (implemented by the server crate).
    pub trait ToolDirectory: Send + Sync + 'static {
        /// Every server's tools (the Tools page).
        fn list<'a>(&'a self, user: &'a Identity) -> ListFuture<'a>;
        /// Every server's reach and the user's grant for it (the Connections page).
        fn connections<'a>(
            &'a self,
            user: &'a Identity,
        ) -> BoxFuture<'a, Result<Vec<ServerConnection>, ListError>>;
        /// Forgets the user's tokens for `server` (its short name).
        fn disconnect<'a>(
            &'a self,
            user: &'a Identity,
            server: &'a str,
        ) -> BoxFuture<'a, Result<(), ChatError>>;
        /// The servers whose tools the user's agent is not offered now, and why.
        fn withheld<'a>(
            &'a self,
            user: &'a Identity,
        ) -> BoxFuture<'a, Result<Vec<WithheldServer>, ListError>>;
    }

    pub type SharedDirectory = Arc<dyn ToolDirectory>;
}

#[server(endpoint = "list_tools")]
pub async fn list_tools() -> Result<ToolsView, ChatError> {
    use axum::Extension;

    use self::backend::{ListError, SharedDirectory};
    use crate::auth::Identity;

    let user: Option<Extension<Identity>> = leptos_axum::extract()
        .await
        .map_err(|_| ChatError::Unavailable)?;
    let Some(Extension(user)) = user else {
        return Ok(ToolsView::SignedOut);
    };
    let directory = use_context::<SharedDirectory>().ok_or(ChatError::Unavailable)?;
    match directory.list(&user).await {
        Ok(servers) => Ok(ToolsView::Servers(servers)),
        Err(ListError::SignInRequired) => {
            // The grant is gone: end the session so the next page shows "Sign in", with no loop.
            let session: tower_sessions::Session = leptos_axum::extract()
                .await
                .map_err(|_| ChatError::Unavailable)?;
            session.flush().await.map_err(|_| ChatError::Unavailable)?;
            Ok(ToolsView::SignInRequired)
        }
    }
}
