//! The Portcullis web server binary: reads configuration, starts the development stand-ins that are not
//! replaced by configured services, binds, serves until SIGINT/SIGTERM.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

// jemalloc returns memory freed after a burst of users to the system (background purging); glibc keeps
// it in per-thread arenas, so the process stayed at its peak long after the users left.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    server::telemetry::init();
    match start().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line an operator can act on (it names the variable for configuration errors).
            eprintln!("server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    let config = server::config::Config::from_env()?;
    let leptos_options = leptos::config::get_configuration(None)
        .context("reading the Leptos site configuration")?
        .leptos_options;
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            server::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    let dev = server::dev::start(&config, shutdown.clone()).await?;
    let addr = leptos_options.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the web listener on {addr}"))?;
    tracing::info!(
        web = %format!("http://{addr}"),
        dev_idp = %dev.idp.as_ref().map(|i| i.issuer()).unwrap_or_else(|| "off".into()),
        dev_mcp = %dev.mcp.as_ref().map(|m| m.url.clone()).unwrap_or_else(|| "off".into()),
        dev_model = %dev.model.clone().unwrap_or_else(|| "off".into()),
        "portcullis listening"
    );
    let state = server::AppState::build(config, leptos_options, &dev).await?;
    server::run(listener, server::router(state), shutdown.cancelled_owned()).await
}
