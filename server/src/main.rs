//! The Portcullis web server binary: reads configuration, binds, serves until SIGINT/SIGTERM.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server::telemetry::init();
    let config = server::config::Config::from_env()?;
    let leptos_options = leptos::config::get_configuration(None)
        .context("reading the Leptos site configuration")?
        .leptos_options;
    let addr = leptos_options.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the web listener on {addr}"))?;
    tracing::info!(url = %format!("http://{addr}"), "portcullis web app listening");
    let state = server::AppState::new(config, leptos_options);
    server::run(listener, server::router(state), server::shutdown_signal()).await
}
