//! The Portcullis web server binary: reads configuration, starts the development stand-ins that are not
//! replaced by configured services (`dev-stack` feature; without it an external authority and model
//! are required), binds, serves until SIGINT/SIGTERM.

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
    service_kit::exit::code("server", start().await)
}

async fn start() -> anyhow::Result<()> {
    let config = server::config::Config::from_env()?;
    #[cfg(not(feature = "dev-stack"))]
    config.require_external_services()?;
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
    let stand_ins = stand_ins(&config, &shutdown).await?;
    let addr = leptos_options.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the web listener on {addr}"))?;
    let state = server::AppState::build(config, leptos_options, stand_ins).await?;
    tracing::info!(web = %format!("http://{addr}"), "portcullis listening");
    server::run(listener, server::router(state), shutdown.cancelled_owned()).await
}

/// Starts the development stand-ins configuration leaves unconfigured.
#[cfg(feature = "dev-stack")]
async fn stand_ins(
    config: &server::config::Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<server::StandIns> {
    let dev = server::dev::start(config, shutdown.clone()).await?;
    let off = || "off".to_owned();
    tracing::info!(
        dev_idp = %dev.idp.as_ref().map(|i| i.issuer()).unwrap_or_else(off),
        dev_mcp = %dev.mcp.iter().map(|m| format!("{}={}", m.name, m.url)).collect::<Vec<_>>().join(" "),
        dev_model = %dev.model.as_ref().map(|m| m.to_string()).unwrap_or_else(off),
        "development stand-ins"
    );
    Ok((&dev).into())
}

/// A build without the `dev-stack` feature has no stand-ins (start-up checked the configuration).
#[cfg(not(feature = "dev-stack"))]
async fn stand_ins(
    _config: &server::config::Config,
    _shutdown: &CancellationToken,
) -> anyhow::Result<server::StandIns> {
    Ok(server::StandIns::default())
}
