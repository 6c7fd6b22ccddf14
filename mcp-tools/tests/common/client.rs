//! rmcp clients against a test [`Server`], in every protocol generation it serves, and the tool-call
//! helpers the client tests share. Each test file brings its own `ClientHandler` (what its user does
//! when asked); everything here is generic over it.

use std::sync::{Arc, Mutex};

use rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceError, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
        ElicitRequestParams, ElicitResult, ElicitationAction, Implementation, ProtocolVersion,
        ReadResourceRequestParams, ResourceContents,
    },
    service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use super::Server;

/// A protocol generation a client speaks: 2025-06-18 and 2025-11-25 initialize and get sessions,
/// 2026-07-28 is stateless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    V2025_06_18,
    V2025_11_25,
    V2026_07_28,
}

pub const ALL: [Generation; 3] = [
    Generation::V2025_06_18,
    Generation::V2025_11_25,
    Generation::V2026_07_28,
];

impl Generation {
    /// The version a client of this generation must end up speaking.
    pub fn protocol_version(self) -> ProtocolVersion {
        match self {
            Generation::V2025_06_18 => ProtocolVersion::V_2025_06_18,
            Generation::V2025_11_25 => ProtocolVersion::V_2025_11_25,
            Generation::V2026_07_28 => ProtocolVersion::V_2026_07_28,
        }
    }

    /// The client info a handler of this generation reports: rmcp's default version is the newest
    /// with `initialize` (2025-11-25, and 2026-07-28 clients discover rather than initialize), so only
    /// 2025-06-18 has to ask for its version.
    pub fn client_config(self, capabilities: ClientCapabilities, name: &str) -> ClientConfig {
        let info = ClientConfig::new(capabilities, Implementation::new(name, "1.0"));
        match self {
            Generation::V2025_06_18 => info.with_protocol_version(ProtocolVersion::V_2025_06_18),
            _ => info,
        }
    }
}

pub type Client<H> = RunningService<RoleClient, H>;

/// Connects `handler` to `server` with `token` as its bearer token, in `generation`: by discovery for
/// 2026-07-28, by `initialize` otherwise. An expired session is an error, never silently replaced.
pub async fn connect_handler<H: ClientHandler>(
    server: &Server,
    token: String,
    generation: Generation,
    handler: H,
) -> Client<H> {
    connect_url_handler(&server.url, token, generation, handler).await
}

/// [`connect_handler`] to any MCP endpoint (the sales server's, for one).
pub async fn connect_url_handler<H: ClientHandler>(
    url: &str,
    token: String,
    generation: Generation,
    handler: H,
) -> Client<H> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned())
            .auth_header(token)
            .reinit_on_expired_session(false),
    );
    match generation {
        Generation::V2026_07_28 => handler
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .unwrap(),
        _ => handler.serve(transport).await.unwrap(),
    }
}

/// Calls `tool` with `args` (a JSON object); protocol errors come back as `Err`.
pub async fn call<H: ClientHandler>(
    client: &Client<H>,
    tool: &'static str,
    args: Value,
) -> Result<CallToolResult, ServiceError> {
    client
        .call_tool(
            CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone()),
        )
        .await
}

/// The result's text blocks, one a line.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A call that must succeed: neither a protocol error nor a tool error.
pub async fn ok<H: ClientHandler>(
    client: &Client<H>,
    tool: &'static str,
    args: Value,
) -> CallToolResult {
    let result = call(client, tool, args).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text_of(&result));
    result
}

/// [`ok`]'s text.
pub async fn ok_text<H: ClientHandler>(
    client: &Client<H>,
    tool: &'static str,
    args: Value,
) -> String {
    text_of(&ok(client, tool, args).await)
}

/// A call that must be a tool error (not a protocol error); its text.
pub async fn tool_error<H: ClientHandler>(
    client: &Client<H>,
    tool: &'static str,
    args: Value,
) -> String {
    let result = call(client, tool, args).await.unwrap();
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} should fail: {}",
        text_of(&result)
    );
    text_of(&result)
}

/// The text of the server's about resource.
pub async fn about_text<H: ClientHandler>(client: &Client<H>) -> String {
    let read = client
        .read_resource(ReadResourceRequestParams::new(mcp_tools::tools::ABOUT_URI))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("text resource expected");
    };
    text.clone()
}

/// A client whose user answers every yes/no form (`confirm`, as mcp-tools and sales ask before a
/// destructive step) with `answer` (accepting confirms); `None` declares no elicitation support.
#[derive(Clone)]
pub struct Confirming {
    pub answer: Option<ElicitationAction>,
    pub generation: Generation,
    /// The questions asked, in order.
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Confirming {
    fn get_info(&self) -> ClientConfig {
        let capabilities = match self.answer {
            Some(_) => ClientCapabilities::builder().enable_elicitation().build(),
            None => ClientCapabilities::default(),
        };
        self.generation
            .client_config(capabilities, "portcullis-test")
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        else {
            panic!("form elicitation expected");
        };
        let schema = serde_json::to_value(&requested_schema).unwrap();
        assert_eq!(
            schema["properties"]["confirm"]["type"], "boolean",
            "{schema}"
        );
        self.asked.lock().unwrap().push(message);
        Ok(
            match self
                .answer
                .clone()
                .expect("asked without declaring support")
            {
                ElicitationAction::Accept => ElicitResult::new(ElicitationAction::Accept)
                    .with_content(json!({ "confirm": true })),
                other => ElicitResult::new(other),
            },
        )
    }
}
