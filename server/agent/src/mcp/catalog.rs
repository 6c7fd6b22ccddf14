//! The tools a user's agent is offered: every reachable server's, under the names the model calls them.

use rmcp::model::{CallToolResult, Tool};

/// A tool as the model sees it.
#[derive(Debug, Clone)]
pub struct CatalogTool {
    /// Index of its server in the configuration.
    pub server: usize,
    pub server_name: String,
    pub tool: String,
    /// `<server>__<tool>` when there are several servers, else the tool's name.
    pub function_name: String,
    pub description: String,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub read_only: bool,
    pub destructive: bool,
}

impl CatalogTool {
    pub fn new(server: usize, server_name: &str, several: bool, tool: &Tool) -> Self {
        let annotations = tool.annotations.clone().unwrap_or_default();
        let name = tool.name.to_string();
        Self {
            server,
            server_name: server_name.to_owned(),
            function_name: if several {
                format!("{}__{name}", slug(server_name))
            } else {
                name.clone()
            },
            tool: name,
            description: tool.description.as_deref().unwrap_or_default().to_owned(),
            parameters: (*tool.input_schema).clone(),
            read_only: annotations.read_only_hint == Some(true),
            destructive: annotations.destructive_hint == Some(true),
        }
    }
}

/// The tools of every server a user can reach right now, and the servers left out with why.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<CatalogTool>,
    pub withheld: Vec<Withheld>,
}

/// A configured server whose tools are not offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    /// Index of the server in the configuration.
    pub server: usize,
    pub server_name: String,
    pub reason: WithheldReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithheldReason {
    /// The user has not granted its scope: a Connect grants it.
    NotConnected,
    /// It could not be reached or listed (the reason is safe to show); it is tried again soon.
    Unavailable(String),
}

impl Catalog {
    /// By the name the model used.
    pub fn find(&self, function_name: &str) -> Option<&CatalogTool> {
        self.tools.iter().find(|t| t.function_name == function_name)
    }

    /// The unreachable servers (not the unconnected ones), which a turn reports.
    pub fn unavailable(&self) -> impl Iterator<Item = (&str, &str)> {
        self.withheld.iter().filter_map(|w| match &w.reason {
            WithheldReason::Unavailable(why) => Some((w.server_name.as_str(), why.as_str())),
            WithheldReason::NotConnected => None,
        })
    }

    /// By server and tool name (a stored call).
    pub fn find_tool(&self, server_name: &str, tool: &str) -> Option<&CatalogTool> {
        self.tools
            .iter()
            .find(|t| t.server_name == server_name && t.tool == tool)
    }
}

/// A server name as a function-name prefix: `[a-z0-9_]`, at most 24 characters.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').chars().take(24).collect()
}

/// A tool result as text for the model and the user: its text parts, else its structured content.
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

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_function_name_safe() {
        assert_eq!(slug("Portcullis tools (dev)"), "portcullis_tools_dev");
        assert_eq!(slug("--Sales--"), "sales");
        assert_eq!(slug(&"x".repeat(40)).len(), 24);
    }
}
