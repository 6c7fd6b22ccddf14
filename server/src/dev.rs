//! The development stand-ins for this process (`dev-stack` feature only): [`start`] runs, from the
//! `dev_stack` crate, the ones the configuration leaves unconfigured: the identity provider when no
//! `APP_AUTH__AUTHORITY` is set, and then mcp-tools (trusting that provider) when no `APP_MCP_SERVERS`
//! is set, with the Graph stand-in it reads the user's profile and calendar from (on-behalf-of), and
//! the sales server (its own audience and scope, consented to separately); the development model when
//! no `APP_MODEL__PROVIDER` / `APP_MODEL__BASE_URL` is set.

use agent::mcp::ServerSpec;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use dev_stack::idp::DevIdp;

use crate::{
    config::{Config, Environment},
    state::{DevSignIn, StandIns},
};

/// The stand-ins started for this process.
#[derive(Default)]
pub struct DevStack {
    pub idp: Option<DevIdp>,
    /// The in-process MCP servers (mcp-tools, then sales), as the web app should use them.
    pub mcp: Vec<ServerSpec>,
    /// Base URL (`…/v1`) of the development model.
    pub model: Option<Url>,
}

/// Starts every stand-in whose real service is not configured; they stop when `shutdown` is cancelled.
pub async fn start(config: &Config, shutdown: CancellationToken) -> anyhow::Result<DevStack> {
    let model = match config.model.is_configured() {
        true => None,
        false => {
            let stop = shutdown.clone().cancelled_owned();
            Some(dev_stack::model::start(&config.dev_model, stop).await?)
        }
    };
    if config.auth.authority.is_some() {
        return Ok(DevStack {
            model,
            ..DevStack::default()
        });
    }
    let in_production = config.environment == Environment::Production;
    let listener = dev_stack::idp::bind(&config.dev_idp, in_production).await?;
    let stop = shutdown.clone().cancelled_owned();
    let (idp, _task) =
        dev_stack::idp::serve(listener, &config.dev_idp, &config.data_dir, stop).await?;
    let mut mcp = Vec::new();
    if config.mcp_servers.is_none() {
        mcp.push(start_mcp_tools(config, &idp, shutdown.clone()).await?);
        if config.dev_sales.enabled {
            mcp.push(start_sales(config, &idp, shutdown).await?);
        }
    }
    Ok(DevStack {
        idp: Some(idp),
        mcp,
        model,
    })
}

async fn start_mcp_tools(
    config: &Config,
    idp: &DevIdp,
    shutdown: CancellationToken,
) -> anyhow::Result<ServerSpec> {
    let graph = dev_stack::graph::start(
        config.dev_graph.bind,
        idp,
        shutdown.clone().cancelled_owned(),
    )
    .await?;
    let downstream = dev_stack::mcp::Downstream {
        graph: &graph,
        grant: config.dev_mcp.obo_grant,
    };
    let stop = shutdown.cancelled_owned();
    let url = dev_stack::mcp::start(
        config.dev_mcp.bind,
        idp,
        &config.data_dir,
        Some(downstream),
        stop,
    )
    .await?;
    Ok(ServerSpec {
        // The short name the console uses too (`portcullis-console call tools …`); the title people
        // see comes from the server's own `serverInfo`.
        name: "tools".to_owned(),
        url,
        scope: dev_stack::mcp::SCOPE.to_owned(),
        protocol: config.dev_mcp.protocol,
    })
}

async fn start_sales(
    config: &Config,
    idp: &DevIdp,
    shutdown: CancellationToken,
) -> anyhow::Result<ServerSpec> {
    let url = dev_stack::mcp::start_sales(
        config.dev_sales.bind,
        idp,
        &config.data_dir,
        shutdown.cancelled_owned(),
    )
    .await?;
    Ok(ServerSpec {
        name: "sales".to_owned(),
        url,
        scope: dev_stack::mcp::SALES_SCOPE.to_owned(),
        protocol: config.dev_mcp.protocol,
    })
}

impl From<&DevStack> for StandIns {
    fn from(dev: &DevStack) -> Self {
        Self {
            sign_in: dev.idp.as_ref().map(|idp| {
                let client = idp.web_client();
                DevSignIn {
                    issuer: idp.issuer(),
                    client_id: client.client_id.clone(),
                    client_secret: client.client_secret.clone(),
                    redirect_uri: client.redirect_uri.clone(),
                }
            }),
            mcp: dev.mcp.clone(),
            model: dev.model.clone(),
        }
    }
}
