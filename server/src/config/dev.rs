//! The dev stack's own section (`dev-stack` feature only); the dev IdP's, dev model's and Graph
//! stand-in's sections are `dev_stack`'s types.

use std::net::SocketAddr;

use agent::mcp::Protocol;
use mcp_tools::config::OboGrant;
use serde::Deserialize;

/// The dev stack's in-process mcp-tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevMcpConfig {
    /// Listen address (`APP_DEV_MCP__BIND`); loopback only.
    pub bind: SocketAddr,
    /// MCP generation the web app speaks to it (`APP_DEV_MCP__PROTOCOL`): `auto` (default), `legacy`
    /// (2025-11-25 sessions) or `2026-07-28`.
    pub protocol: Protocol,
    /// How it exchanges its callers' tokens for Graph tokens at the dev IdP (`APP_DEV_MCP__OBO_GRANT`):
    /// `entra-obo` (default, Entra's on-behalf-of) or `token-exchange` (RFC 8693).
    #[serde(deserialize_with = "service_kit::config::parsed")]
    pub obo_grant: OboGrant,
}

impl Default for DevMcpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            protocol: Protocol::Auto,
            obo_grant: OboGrant::EntraObo,
        }
    }
}

/// The dev stack's in-process sales server (a second MCP server, its own audience and scope).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevSalesConfig {
    /// Start it (`APP_DEV_SALES__ENABLED`, default `true`).
    pub enabled: bool,
    /// Listen address (`APP_DEV_SALES__BIND`); loopback only.
    pub bind: SocketAddr,
}

impl Default for DevSalesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 8082)),
        }
    }
}
