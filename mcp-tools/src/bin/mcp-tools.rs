//! The `mcp-tools` binary: reads `MCP_*` configuration, binds, serves until SIGINT/SIGTERM.

use anyhow::Context;

// Each MCP call allocates many small buffers across threads; mimalloc does that markedly cheaper than
// glibc's allocator (measured by the load benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_kit::telemetry::init();
    service_kit::exit::code("mcp-tools", start().await)
}

async fn start() -> anyhow::Result<()> {
    let config = mcp_tools::Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.resource.bind)
        .await
        .with_context(|| format!("binding MCP_BIND={}", config.resource.bind))?;
    tracing::info!(addr = %config.resource.bind, "mcp-tools listening");
    mcp_tools::run(listener, config, service_kit::shutdown::signal()).await
}
