//! Building a [`Config`] in code (embedding, tests): the same raw values the environment gives, so the
//! same defaults and validation apply.

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use url::Url;

use super::{ClientAuth, Config, ConfigError, OboGrant, Raw, RawAuth, RawGraph, RawObo};

impl Config {
    /// Builds a configuration in code; [`ConfigBuilder::build`] validates it like [`Config::from_env`].
    pub fn builder(authority: impl Into<String>, audience: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            raw: Raw {
                bind: None,
                public_url: None,
                auth: RawAuth {
                    audience: Some(vec![audience.into()]),
                    ..RawAuth::with_authority(authority.into())
                },
                allowed_origins: None,
                allowed_hosts: None,
                database_url: None,
                obo: RawObo::default(),
                graph: RawGraph::default(),
            },
        }
    }
}

/// Code-side construction of a [`Config`].
pub struct ConfigBuilder {
    raw: Raw,
}

impl ConfigBuilder {
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.raw.bind = Some(bind);
        self
    }
    pub fn public_url(mut self, url: Url) -> Self {
        self.raw.public_url = Some(url);
        self
    }
    pub fn jwks_uri(mut self, url: Url) -> Self {
        self.raw.auth.jwks_uri = Some(url);
        self
    }
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.raw.auth.tenant_id = Some(tenant.into());
        self
    }
    pub fn scopes_supported(mut self, scopes: Vec<String>) -> Self {
        self.raw.auth.scopes_supported = Some(scopes);
        self
    }
    pub fn jwks_cooldown_secs(mut self, secs: u64) -> Self {
        self.raw.auth.jwks_cooldown = Duration::from_secs(secs);
        self
    }
    pub fn allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.raw.allowed_origins = Some(origins);
        self
    }
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.raw.database_url = Some(url.into());
        self
    }
    /// Turns on the Graph tools: mcp-tools exchanges user tokens as this confidential client.
    pub fn obo(
        mut self,
        client_id: impl Into<String>,
        client_secret: SecretString,
        grant: OboGrant,
    ) -> Self {
        self.raw.obo.client_id = Some(client_id.into());
        self.raw.obo.client_secret = Some(client_secret);
        self.raw.obo.grant = Some(grant);
        self
    }
    /// Client authentication at the token endpoint; by default chosen from discovery.
    pub fn obo_client_auth(mut self, auth: ClientAuth) -> Self {
        self.raw.obo.client_auth = Some(auth);
        self
    }
    /// Where the provider returns the user after consent (default `<public origin>/oauth/consent-complete`).
    pub fn consent_redirect_uri(mut self, url: Url) -> Self {
        self.raw.obo.consent_redirect_uri = Some(url);
        self
    }
    /// Microsoft Graph's base URL (default `https://graph.microsoft.com`).
    pub fn graph_base_url(mut self, url: Url) -> Self {
        self.raw.graph.base_url = Some(url);
        self
    }
    /// The resource that prefixes Graph scopes (default `https://graph.microsoft.com`).
    pub fn graph_resource(mut self, resource: impl Into<String>) -> Self {
        self.raw.graph.resource = Some(resource.into());
        self
    }
    pub fn build(self) -> Result<Config, ConfigError> {
        Config::from_raw(self.raw)
    }
}
