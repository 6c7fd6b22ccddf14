//! The `mcp-tools` binary: reads `MCP_*` configuration, binds, serves until SIGINT/SIGTERM.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

// Each MCP call allocates many small buffers across threads; mimalloc does that markedly cheaper than
// glibc's allocator (measured by the load benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match start().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line an operator can act on (it names the variable for configuration errors).
            eprintln!("mcp-tools: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let config = mcp_tools::Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding MCP_BIND={}", config.bind))?;
    tracing::info!(addr = %config.bind, "mcp-tools listening");
    mcp_tools::run(listener, config, shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}
