//! The configured MCP servers as the Tools page shows them: the agent core's [`McpDirectory`] (which
//! reaches each server with the signed-in user's delegated token) behind the page's `ToolDirectory`.

use std::sync::Arc;

use agent::{
    domain::UserKey,
    mcp::{McpDirectory, McpError, ServerSpec},
};
use app::{
    auth::Identity,
    tools::{
        ServerTools, ToolInfo,
        backend::{ListError, ListFuture, ToolDirectory},
    },
};
use rmcp::model::Tool;

/// The Tools page's view of the directory.
pub struct ToolsPage(pub Arc<McpDirectory>);

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

impl ToolsPage {
    async fn server_tools(
        &self,
        user: &UserKey,
        index: usize,
        spec: &ServerSpec,
    ) -> Result<ServerTools, ListError> {
        let (title, tools) = match self.0.describe(user, index).await {
            Ok(described) => (
                described.title,
                Ok(described.tools.into_iter().map(tool_info).collect()),
            ),
            Err(McpError::SignInRequired) => return Err(ListError::SignInRequired),
            Err(McpError::Failed(message)) => (None, Err(message)),
        };
        Ok(ServerTools {
            name: spec.name.clone(),
            title,
            url: spec.url.to_string(),
            tools,
        })
    }
}

impl ToolDirectory for ToolsPage {
    fn list<'a>(&'a self, user: &'a Identity) -> ListFuture<'a> {
        Box::pin(async move {
            let user = UserKey::from(user.key.as_str());
            let results = futures::future::join_all(
                (self.0.servers().iter().enumerate())
                    .map(|(index, spec)| self.server_tools(&user, index, spec)),
            )
            .await;
            results.into_iter().collect()
        })
    }
}
