//! mcp-tools in process, trusting the development identity provider: the offline stand-in for a real
//! MCP server. It is the same code as the standalone binary, configured for the dev IdP's issuer,
//! tenant and the `api://portcullis-mcp` resource; with a Graph stand-in it is also the dev IdP's
//! confidential client `portcullis-mcp` and exchanges its callers' tokens for Graph tokens (on-behalf-of,
//! or RFC 8693 token exchange). Its URL becomes an identifier URI of that resource at the dev IdP, as
//! the README asks of an Entra app registration: MCP SDK clients send it as RFC 8707 `resource`.
//!
//! The second MCP server, `sales`, runs in process the same way ([`start_sales`]): the standalone
//! binary's code for the `api://portcullis-sales` resource, whose scope each user consents to per
//! client at the dev IdP.

use std::{future::Future, net::SocketAddr, path::Path};

use anyhow::Context;
use mcp_tools::config::OboGrant;
use url::Url;

use crate::{graph::GraphStandIn, idp::DevIdp};

/// The audience of the in-process mcp-tools (the dev IdP's default resource).
pub const AUDIENCE: &str = "api://portcullis-mcp";
/// The delegated scope its tokens are requested with.
pub const SCOPE: &str = "api://portcullis-mcp/mcp:tools";

/// The audience of the in-process sales server (a resource of the dev IdP that tracks consent).
pub const SALES_AUDIENCE: &str = mcp_tools::sales::SALES_AUDIENCE;
/// The delegated scope its tokens are requested with.
pub const SALES_SCOPE: &str = "api://portcullis-sales/sales:read";

/// The downstream API the in-process mcp-tools reaches for its users, and how it exchanges tokens.
pub struct Downstream<'a> {
    pub graph: &'a GraphStandIn,
    pub grant: OboGrant,
}

/// Binds `bind` (loopback only), serves mcp-tools until `shutdown` with its notes in
/// `data_dir/mcp-tools.db`, and returns its MCP endpoint URL, which the dev IdP now takes as an
/// identifier URI of [`AUDIENCE`] (`resource=<url>`). With `downstream`, the Graph tools are on: the
/// dev IdP learns the consent landing page of this listener's port.
pub async fn start(
    bind: SocketAddr,
    idp: &DevIdp,
    data_dir: &Path,
    downstream: Option<Downstream<'_>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Url> {
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_MCP__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev mcp-tools on APP_DEV_MCP__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    let mut builder = mcp_tools::Config::builder(idp.issuer(), AUDIENCE)
        .bind(addr)
        .tenant_id(idp.tenant_id())
        .scopes_supported(vec![SCOPE.to_owned()])
        .database_url(format!(
            "sqlite://{}",
            data_dir.join("mcp-tools.db").display()
        ));
    if let Some(downstream) = downstream {
        let client = idp.mcp_client();
        builder = builder
            .obo(
                client.client_id.clone(),
                client.client_secret.clone(),
                downstream.grant,
            )
            .graph_base_url(downstream.graph.base_url());
    }
    let config = builder.build()?;
    // mcp-tools' own default landing page after consent, registered with its client at the dev IdP.
    if let Some(obo) = &config.obo {
        idp.set_mcp_redirect_uri(obo.consent_redirect_uri.as_str())
            .await?;
    }
    let url = config.resource.public_url.clone();
    idp.add_identifier_uri(AUDIENCE, &url)
        .context("registering the dev mcp-tools URL at the dev IdP")?;
    let state = mcp_tools::AppState::open(&config).await?;
    tokio::spawn(async move {
        if let Err(error) = mcp_tools::serve(listener, config, state, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "dev mcp-tools stopped");
        }
    });
    Ok(url)
}

/// Binds `bind` (loopback only), serves the sales MCP server until `shutdown` with its demo data in
/// `data_dir/sales.db`, and returns its MCP endpoint URL, which the dev IdP now takes as an identifier
/// URI of [`SALES_AUDIENCE`] (`resource=<url>`). Its protected-resource metadata advertises
/// [`SALES_SCOPE`], the scope MCP SDK clients then ask the dev IdP for.
pub async fn start_sales(
    bind: SocketAddr,
    idp: &DevIdp,
    data_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Url> {
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_SALES__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev sales server on APP_DEV_SALES__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    let config = mcp_tools::sales::SalesConfig::builder(idp.issuer())
        .bind(addr)
        .audience(SALES_AUDIENCE)
        .tenant_id(idp.tenant_id())
        .scopes_supported(vec![SALES_SCOPE.to_owned()])
        .database_url(format!("sqlite://{}", data_dir.join("sales.db").display()))
        .build()?;
    let url = config.resource.public_url.clone();
    idp.add_identifier_uri(SALES_AUDIENCE, &url)
        .context("registering the dev sales server URL at the dev IdP")?;
    let state = mcp_tools::sales::SalesState::open(&config).await?;
    tokio::spawn(async move {
        if let Err(error) = mcp_tools::sales::serve(listener, config, state, shutdown).await {
            tracing::error!(error = format!("{error:#}"), "dev sales server stopped");
        }
    });
    Ok(url)
}
