//! Development stand-ins for cloud services, so everything runs offline on a fresh machine.
//!
//! - [`idp`]: an Entra-shaped OpenID provider.
//! - [`model`]: a deterministic OpenAI-compatible chat-completions endpoint (not an AI).
//! - [`start`]: starts the stand-ins the configuration leaves unconfigured: the identity provider when
//!   no `APP_AUTH__AUTHORITY` is set, and then mcp-tools (trusting that provider) when no
//!   `APP_MCP_SERVERS` is set; the development model when no `APP_MODEL__PROVIDER` / `APP_MODEL__BASE_URL` is set.

pub mod idp;
pub mod model;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::{config::Config, mcp::McpServer};

/// The stand-ins started for this process.
#[derive(Default)]
pub struct DevStack {
    pub idp: Option<idp::DevIdp>,
    /// The in-process mcp-tools, as the web app should use it.
    pub mcp: Option<McpServer>,
    /// Base URL (`…/v1`) of the development model.
    pub model: Option<String>,
}

/// The audience and scope of the embedded mcp-tools.
pub const DEV_MCP_AUDIENCE: &str = "api://portcullis-mcp";

/// Starts every stand-in whose real service is not configured; they stop when `shutdown` is cancelled.
pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<DevStack> {
    let model = if config.model.is_configured() {
        None
    } else {
        Some(start_model(config, shutdown.clone()).await?)
    };
    if config.auth.authority.is_some() {
        return Ok(DevStack {
            model,
            ..DevStack::default()
        });
    }
    let listener = idp::bind(&config.dev_idp, config.environment).await?;
    let (idp, _task) = idp::serve(
        listener,
        &config.dev_idp,
        &config.data_dir,
        shutdown.clone().cancelled_owned(),
    )
    .await?;
    let mcp = match config.mcp_servers {
        Some(_) => None,
        None => Some(start_mcp_tools(config, &idp, shutdown).await?),
    };
    Ok(DevStack {
        idp: Some(idp),
        mcp,
        model,
    })
}

async fn start_model(config: &Config, shutdown: CancellationToken) -> anyhow::Result<String> {
    let bind = config.dev_model.bind;
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_MODEL__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev model on APP_DEV_MODEL__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(crate::serve::serve(
        listener,
        model::router(),
        crate::serve::IDLE_TIMEOUT,
        shutdown.cancelled_owned(),
    ));
    Ok(format!("http://{addr}/v1"))
}

async fn start_mcp_tools(
    config: &Config,
    idp: &idp::DevIdp,
    shutdown: CancellationToken,
) -> anyhow::Result<McpServer> {
    let bind = config.dev_mcp.bind;
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_MCP__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev mcp-tools on APP_DEV_MCP__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    let mcp_config = mcp_tools::Config::builder(idp.issuer(), DEV_MCP_AUDIENCE)
        .bind(addr)
        .tenant_id(config.dev_idp.tenant_id.clone())
        .scopes_supported(vec![format!("{DEV_MCP_AUDIENCE}/mcp:tools")])
        .database_url(format!(
            "sqlite://{}",
            config.data_dir.join("mcp-tools.db").display()
        ))
        .build()?;
    let state = mcp_tools::AppState::open(&mcp_config).await?;
    let url = mcp_config.public_url.to_string();
    tokio::spawn(async move {
        if let Err(error) =
            mcp_tools::serve(listener, mcp_config, state, shutdown.cancelled_owned()).await
        {
            tracing::error!(error = format!("{error:#}"), "dev mcp-tools stopped");
        }
    });
    Ok(McpServer {
        name: "Portcullis tools (dev)".to_owned(),
        url,
        scope: format!("{DEV_MCP_AUDIENCE}/mcp:tools"),
        protocol: crate::mcp::Protocol::parse(&config.dev_mcp.protocol).ok_or_else(|| {
            anyhow::anyhow!("APP_DEV_MCP__PROTOCOL: expected auto, legacy or 2026-07-28")
        })?,
    })
}
