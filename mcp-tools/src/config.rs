//! Typed configuration from `MCP_*` environment variables (`__` nests: `MCP_AUTH__AUDIENCE`).
//!
//! Every variable is documented in `.env.example` and the README. Bad or missing values stop start-up
//! with one line naming the variable. Secrets are `SecretString`s: `Debug` never shows them.
//!
//! This file: mcp-tools' settings; `resource`: what every resource server has (listener, public URL,
//! who may call), read under a server's prefix; `downstream`: the on-behalf-of client and Microsoft
//! Graph; `builder`: the same values set in code.

mod builder;
mod downstream;
mod resource;

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{self, optional_comma_list};
use url::Url;

/// The MCP server's configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener, public URL, who may call and from where (`MCP_BIND`, `MCP_PUBLIC_URL`, `MCP_AUTH__*`,
    /// `MCP_ALLOWED_ORIGINS`, `MCP_ALLOWED_HOSTS`): what every resource server has.
    pub resource: ResourceConfig,
    /// Database for per-user data (`MCP_DATABASE_URL`): `sqlite://…`, or `postgres://…` for several
    /// instances.
    pub database_url: String,
    /// mcp-tools as a confidential client exchanging the user's token for a Microsoft Graph token
    /// (`MCP_OBO__*`); `None` leaves the Graph tools off.
    pub obo: Option<OboConfig>,
    /// Where Microsoft Graph is and how its scopes are named (`MCP_GRAPH__*`).
    pub graph: GraphConfig,
}

pub use builder::ConfigBuilder;
pub use downstream::{
    CONSENT_COMPLETE_PATH, ClientAuth, GRAPH_DEFAULT, GraphConfig, OboConfig, OboGrant,
};
use downstream::{RawGraph, RawObo};
pub use resource::{AuthConfig, ResourceConfig};
pub(crate) use resource::{RawAuth, RawResource, ResourceDefaults};
pub use service_kit::config::ConfigError;

/// The prefix of every variable.
const PREFIX: &str = "MCP_";

const MCP_DEFAULTS: ResourceDefaults = ResourceDefaults {
    prefix: PREFIX,
    port: 8081,
    scope: "mcp:tools",
    audience: None,
};

/// What the environment (or the builder) says, typed; defaults that depend on other fields are filled
/// in by [`Config::from_raw`].
#[derive(Deserialize)]
struct Raw {
    // Listed here, not a flattened `RawResource`: serde's `flatten` hides which variable a bad value
    // came from, and every error must name it.
    bind: Option<SocketAddr>,
    public_url: Option<Url>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default, deserialize_with = "optional_comma_list")]
    allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "optional_comma_list")]
    allowed_hosts: Option<Vec<String>>,
    database_url: Option<String>,
    #[serde(default)]
    obo: RawObo,
    #[serde(default)]
    graph: RawGraph,
}

impl Config {
    /// Reads `MCP_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut raw: Raw = config::extract(&config::env(PREFIX), PREFIX)?;
        // figment types values (`0042` would become the number 42); credentials are taken verbatim.
        if let Ok(id) = std::env::var("MCP_OBO__CLIENT_ID") {
            raw.obo.client_id = Some(id);
        }
        if let Ok(secret) = std::env::var("MCP_OBO__CLIENT_SECRET") {
            raw.obo.client_secret = Some(SecretString::from(secret));
        }
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, ConfigError> {
        let resource = ResourceConfig::from_raw(
            RawResource {
                bind: raw.bind,
                public_url: raw.public_url,
                auth: raw.auth,
                allowed_origins: raw.allowed_origins,
                allowed_hosts: raw.allowed_hosts,
            },
            &MCP_DEFAULTS,
        )?;
        let obo = OboConfig::from_raw(raw.obo, &resource.public_url)?;
        let graph = GraphConfig::from_raw(raw.graph)?;
        Ok(Self {
            resource,
            database_url: raw
                .database_url
                .unwrap_or_else(|| "sqlite://mcp-tools.db".to_owned()),
            obo,
            graph,
        })
    }

    /// URL of the RFC 9728 metadata document for the public URL.
    pub fn resource_metadata_url(&self) -> String {
        self.resource.resource_metadata_url()
    }
}

#[cfg(test)]
// `figment::Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use std::time::Duration;

    use super::*;
    use figment::Jail;

    fn load() -> Result<Config, ConfigError> {
        Config::from_env()
    }

    #[test]
    fn minimal_configuration_gets_loopback_defaults() {
        Jail::expect_with(|jail| {
            jail.set_env("MCP_AUTH__AUTHORITY", "http://127.0.0.1:3400/dev/v2.0");
            jail.set_env("MCP_AUTH__AUDIENCE", "api://portcullis-mcp");
            let config = load().expect("valid");
            assert_eq!(config.resource.bind.to_string(), "127.0.0.1:8081");
            assert_eq!(
                config.resource.public_url.as_str(),
                "http://127.0.0.1:8081/mcp"
            );
            assert_eq!(config.resource.auth.scope, "mcp:tools");
            assert_eq!(config.resource.auth.scopes_supported, ["mcp:tools"]);
            assert!(
                config
                    .resource
                    .allowed_hosts
                    .contains(&"127.0.0.1:8081".to_owned())
            );
            assert!(
                config
                    .resource
                    .allowed_hosts
                    .contains(&"localhost:8081".to_owned())
            );
            assert!(
                config
                    .resource
                    .allowed_origins
                    .contains(&"http://localhost:8081".to_owned())
            );
            assert_eq!(
                config.resource_metadata_url(),
                "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp"
            );
            Ok(())
        });
    }

    #[test]
    fn lists_split_on_commas_and_nesting_uses_double_underscore() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "MCP_AUTH__AUTHORITY",
                "https://login.microsoftonline.com/t/v2.0",
            );
            jail.set_env(
                "MCP_AUTH__AUDIENCE",
                "api://a, 11111111-2222-3333-4444-555555555555",
            );
            jail.set_env("MCP_AUTH__TENANT_ID", "t");
            jail.set_env("MCP_PUBLIC_URL", "https://mcp.example.com/mcp");
            jail.set_env("MCP_ALLOWED_HOSTS", "mcp.example.com");
            let config = load().expect("valid");
            assert_eq!(
                config.resource.auth.audiences,
                ["api://a", "11111111-2222-3333-4444-555555555555"]
            );
            assert_eq!(config.resource.auth.tenant_id.as_deref(), Some("t"));
            assert_eq!(config.resource.allowed_hosts, ["mcp.example.com"]);
            assert_eq!(config.resource.allowed_origins, ["https://mcp.example.com"]);
            Ok(())
        });
    }

    #[test]
    fn missing_authority_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("MCP_AUTH__AUDIENCE", "api://a");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_AUTH__AUTHORITY"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn bad_bind_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("MCP_BIND", "not-an-address");
            jail.set_env("MCP_AUTH__AUTHORITY", "http://127.0.0.1:3400/dev/v2.0");
            jail.set_env("MCP_AUTH__AUDIENCE", "api://a");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_BIND"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn durations_are_whole_seconds_and_a_bad_one_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("MCP_AUTH__AUTHORITY", "http://127.0.0.1:3400/dev/v2.0");
            jail.set_env("MCP_AUTH__AUDIENCE", "api://a");
            assert_eq!(
                load().expect("valid").resource.auth.leeway,
                Duration::from_secs(30)
            );
            jail.set_env("MCP_AUTH__LEEWAY_SECS", "5");
            jail.set_env("MCP_AUTH__JWKS_COOLDOWN_SECS", "7");
            let config = load().expect("valid");
            assert_eq!(config.resource.auth.leeway, Duration::from_secs(5));
            assert_eq!(config.resource.auth.jwks_cooldown, Duration::from_secs(7));
            jail.set_env("MCP_AUTH__LEEWAY_SECS", "soon");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_AUTH__LEEWAY_SECS"), "{error}");
            Ok(())
        });
    }
}
