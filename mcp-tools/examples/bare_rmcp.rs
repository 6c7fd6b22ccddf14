//! A bare rmcp server for the load benchmark's side-by-side run: the same `get_random_number` tool as
//! mcp-tools, on rmcp's Streamable HTTP service with its in-memory sessions (stateful, SSE answers,
//! as mcp-tools), and nothing else: no authentication, no session binding, no guard, no tracing layer.
//! It is the ceiling mcp-tools is measured against.
//!
//! `MCP_BIND=127.0.0.1:8090 cargo run --release --example bare_rmcp` (the benchmark builds and starts it).
//! Same allocator and TCP_NODELAY as mcp-tools, so the difference the benchmark shows is mcp-tools' own.

use std::net::SocketAddr;

use axum::{Router, routing::get, serve::ListenerExt};
use rand::Rng;
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use serde::Deserialize;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Deserialize, JsonSchema)]
struct RandomNumberArgs {
    /// Smallest number that may be returned (inclusive).
    min: i64,
    /// Largest number that may be returned (inclusive).
    max: i64,
}

#[derive(Clone)]
struct Bare {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bare {
    #[tool(description = "Returns a random integer between min and max, both inclusive.")]
    async fn get_random_number(
        &self,
        Parameters(args): Parameters<RandomNumberArgs>,
    ) -> CallToolResult {
        if args.min > args.max {
            return CallToolResult::error(vec![ContentBlock::text("min must not exceed max")]);
        }
        let n = rand::rng().random_range(args.min..=args.max);
        CallToolResult::success(vec![ContentBlock::text(n.to_string())])
    }
}

// The router is built once per session, as mcp-tools shares one (the macro's default rebuilds it per call).
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bind: SocketAddr = std::env::var("MCP_BIND")
        .unwrap_or_else(|_| "127.0.0.1:8090".into())
        .parse()?;
    let service = StreamableHttpService::new(
        || {
            Ok(Bare {
                tool_router: Bare::tool_router(),
            })
        },
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(bind).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
