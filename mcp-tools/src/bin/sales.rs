//! The `sales` binary: reads `SALES_*` configuration, binds, serves until SIGINT/SIGTERM.

use anyhow::Context;

// As mcp-tools: many small allocations per call, cheaper with mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_kit::telemetry::init();
    service_kit::exit::code("sales", start().await)
}

async fn start() -> anyhow::Result<()> {
    let config = mcp_tools::sales::SalesConfig::from_env()?;
    let bind = config.resource.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding SALES_BIND={bind}"))?;
    tracing::info!(addr = %bind, "sales listening");
    mcp_tools::sales::run(listener, config, service_kit::shutdown::signal()).await
}
