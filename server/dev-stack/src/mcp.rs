//! mcp-tools in process, trusting the development identity provider: the offline stand-in for a real
//! MCP server. It is the same code as the standalone binary, configured for the dev IdP's issuer,
//! tenant and the `api://portcullis-mcp` resource.

use std::{future::Future, net::SocketAddr, path::Path};

use anyhow::Context;
use url::Url;

use crate::idp::DevIdp;

/// The audience of the in-process mcp-tools (the dev IdP's default resource).
pub const AUDIENCE: &str = "api://portcullis-mcp";
/// The delegated scope its tokens are requested with.
pub const SCOPE: &str = "api://portcullis-mcp/mcp:tools";

/// Binds `bind` (loopback only), serves mcp-tools until `shutdown` with its notes in
/// `data_dir/mcp-tools.db`, and returns its MCP endpoint URL.
pub async fn start(
    bind: SocketAddr,
    idp: &DevIdp,
    data_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Url> {
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_MCP__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev mcp-tools on APP_DEV_MCP__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    let config = mcp_tools::Config::builder(idp.issuer(), AUDIENCE)
        .bind(addr)
        .tenant_id(idp.tenant_id())
        .scopes_supported(vec![SCOPE.to_owned()])
        .database_url(format!(
            "sqlite://{}",
            data_dir.join("mcp-tools.db").display()
        ))
        .build()?;
    let state = mcp_tools::AppState::open(&config).await?;
    let url = config.public_url.clone();
    tokio::spawn(async move {
        if let Err(error) = mcp_tools::serve(listener, config, state, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "dev mcp-tools stopped");
        }
    });
    Ok(url)
}
