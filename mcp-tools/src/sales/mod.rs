//! `sales`: the second MCP server, with its own process, listener, audience
//! (`api://portcullis-sales`), scope (`sales:read`) and SQLite database of per-tenant demo data.
//!
//! It is served by the same resource-server code as mcp-tools ([`crate::mcp_router`]: token validation
//! for its audience, RFC 9728 metadata, Host/Origin checks, session binding, JSON-RPC error answers,
//! both protocol generations) and reuses mcp-tools' elicitation round trips for `flag_order`; only
//! its configuration, data and tools are its own.
//!
//! - `config`: `SALES_*` variables.
//! - `params`: the tools' parameters and structured results.
//! - `seed`: the deterministic demo data of a tenant.
//! - `store`: the database, scoped to the token's tenant.
//! - `summary`: the aggregation behind `sales_summary` and `top_products`.
//! - `tools`: the MCP handler.

mod config;
mod params;
mod seed;
mod store;
pub mod summary;
mod tools;

use std::{future::Future, sync::Arc};

use axum::Router;
use tokio::net::TcpListener;

pub use self::{
    config::{SALES_AUDIENCE, SALES_SCOPE, SalesConfig, SalesConfigBuilder},
    params::{
        CustomerList, CustomerOrders, CustomerOrdersArgs, FlagOrderArgs, ListCustomersArgs,
        MAX_REASON_CHARS, MAX_TOP, SalesSummaryArgs, TopProductsArgs,
    },
    store::{Customer, Order, SalesStore},
    tools::{SalesShared, SalesTools},
};
use crate::ResourceServer;

/// The `resource_name` of the sales server's RFC 9728 metadata.
pub const RESOURCE_NAME: &str = "Portcullis sales";

/// Shared state of a running sales server.
#[derive(Clone)]
pub struct SalesState {
    pub shared: Arc<SalesShared>,
    pub server: ResourceServer,
}

impl SalesState {
    /// Opens the database named by the configuration.
    pub async fn open(config: &SalesConfig) -> anyhow::Result<Self> {
        let store = SalesStore::open(&config.database_url).await?;
        Ok(Self {
            shared: SalesShared::new(store),
            server: ResourceServer::new(&config.resource.auth.authority)?,
        })
    }
}

/// The sales server's router: the shared resource-server router over [`SalesTools`].
pub fn router(config: &SalesConfig, state: &SalesState) -> Router {
    let shared = state.shared.clone();
    crate::mcp_router(
        &config.resource,
        RESOURCE_NAME,
        &state.server,
        move || SalesTools::new(shared.clone()),
        Router::new(),
    )
}

/// Serves the sales server on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: SalesConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = SalesState::open(&config).await?;
    serve(listener, config, state, shutdown).await
}

/// Like [`run`], with state the caller built (and may inspect).
pub async fn serve(
    listener: TcpListener,
    config: SalesConfig,
    state: SalesState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(&config, &state);
    crate::serve_router(listener, app, state.server.shutdown.clone(), shutdown).await;
    Ok(())
}
