//! Microsoft Graph for the signed-in user, through an on-behalf-of token exchange.
//!
//! mcp-tools never forwards the token it received (its audience is mcp-tools; the MCP specification
//! forbids passthrough). As a confidential client it exchanges that token at the issuer's token
//! endpoint for a Graph token for the same user and only the one scope a call needs, and calls Graph
//! with that.
//!
//! - `exchange`: the grant (Entra OBO or RFC 8693) and the per-user cache of exchanged tokens.
//! - `refusal`: the provider's refusal read: missing consent, and the consent link that fixes it.
//! - `client`: the Graph calls and the shapes the tools return.
//! - this module: [`Graph`], which the tools hold when `MCP_OBO__*` is configured.

mod client;
mod exchange;
mod refusal;

use std::{sync::Arc, time::Duration};

use anyhow::Context;

pub use client::{CallError, Event, Events, GraphClient, MAX_EVENTS, Profile};
pub use exchange::{EXPIRY_MARGIN, ExchangeError, Exchanger, GraphToken};

use crate::{
    auth::Discovery,
    config::{GraphConfig, OboConfig},
};

/// The delegated Graph permissions the tools use; each tool asks for exactly one, so a user who
/// granted only `User.Read` can still read the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    UserRead,
    CalendarsRead,
}

impl Permission {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserRead => "User.Read",
            Self::CalendarsRead => "Calendars.Read",
        }
    }
}

/// The exchange and the Graph client together.
pub struct Graph {
    pub exchanger: Exchanger,
    pub client: GraphClient,
    config: GraphConfig,
}

impl Graph {
    /// `discovery` is the issuer's document the token validation also reads.
    pub fn new(
        obo: OboConfig,
        config: GraphConfig,
        discovery: Arc<Discovery>,
    ) -> anyhow::Result<Self> {
        // Its own client: no redirects, so neither the client secret nor a token is ever re-sent to
        // wherever a redirect points.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the Graph HTTP client")?;
        Ok(Self {
            exchanger: Exchanger::new(obo, discovery, http.clone()),
            client: GraphClient::new(http, &config.base_url),
            config,
        })
    }

    /// The fully qualified scope of `permission`, e.g. `https://graph.microsoft.com/User.Read`.
    pub fn scope(&self, permission: Permission) -> String {
        self.config.scope(permission.as_str())
    }
}
