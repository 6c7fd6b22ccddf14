//! Typed configuration from `MCP_*` environment variables (`__` nests: `MCP_AUTH__AUDIENCE`).
//!
//! Every variable is documented in `.env.example` and the README. Bad or missing values stop start-up
//! with one line naming the variable. Secrets are `SecretString`s: `Debug` never shows them.
//!
//! This file: the server's own settings (listener, public URL, who may call); `downstream`: the
//! on-behalf-of client and Microsoft Graph; `builder`: the same values set in code.

mod builder;
mod downstream;

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{self, optional_comma_list, secs};
use url::Url;

/// The MCP server's configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`MCP_BIND`).
    pub bind: SocketAddr,
    /// Canonical resource URL of the MCP endpoint (`MCP_PUBLIC_URL`); the `resource` of RFC 9728.
    pub public_url: Url,
    pub auth: AuthConfig,
    /// Origins allowed to call from a browser (`MCP_ALLOWED_ORIGINS`); requests without `Origin` pass.
    pub allowed_origins: Vec<String>,
    /// Accepted `Host` header values (`MCP_ALLOWED_HOSTS`), against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// Database for per-user data (`MCP_DATABASE_URL`): `sqlite://…`, or `postgres://…` for several
    /// instances.
    pub database_url: String,
    /// mcp-tools as a confidential client exchanging the user's token for a Microsoft Graph token
    /// (`MCP_OBO__*`); `None` leaves the Graph tools off.
    pub obo: Option<OboConfig>,
    /// Where Microsoft Graph is and how its scopes are named (`MCP_GRAPH__*`).
    pub graph: GraphConfig,
}

/// Who may call: the token issuer and what its tokens must say.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The issuer (`MCP_AUTH__AUTHORITY`); discovery at `{authority}/.well-known/openid-configuration`.
    pub authority: String,
    /// JWKS URI override (`MCP_AUTH__JWKS_URI`); discovered when unset.
    pub jwks_uri: Option<Url>,
    /// Accepted `aud` values (`MCP_AUTH__AUDIENCE`).
    pub audiences: Vec<String>,
    /// Required `tid` (`MCP_AUTH__TENANT_ID`).
    pub tenant_id: Option<String>,
    /// Delegated scope required in `scp` (`MCP_AUTH__SCOPE`).
    pub scope: String,
    /// Scopes advertised in the protected-resource metadata, as clients must request them
    /// (`MCP_AUTH__SCOPES_SUPPORTED`; for Entra the fully qualified `api://<app-id>/mcp:tools`).
    pub scopes_supported: Vec<String>,
    /// Clock skew tolerated on `exp`/`nbf` (`MCP_AUTH__LEEWAY_SECS`).
    pub leeway: Duration,
    /// Least time between two JWKS refetches caused by unknown key ids (`MCP_AUTH__JWKS_COOLDOWN_SECS`).
    pub jwks_cooldown: Duration,
}

pub use builder::ConfigBuilder;
pub use downstream::{
    CONSENT_COMPLETE_PATH, ClientAuth, GRAPH_DEFAULT, GraphConfig, OboConfig, OboGrant,
};
use downstream::{RawGraph, RawObo};
pub use service_kit::config::ConfigError;

/// The prefix of every variable.
const PREFIX: &str = "MCP_";

/// What every MCP resource server (mcp-tools, sales) is configured with: where it listens, the URL it
/// is known by, and who may call it. Each server reads it under its own prefix (`MCP_`, `SALES_`).
#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// Listen address (`<PREFIX>BIND`).
    pub bind: SocketAddr,
    /// Canonical resource URL of the MCP endpoint (`<PREFIX>PUBLIC_URL`); the `resource` of RFC 9728.
    pub public_url: Url,
    pub auth: AuthConfig,
    /// Origins allowed to call from a browser (`<PREFIX>ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// Accepted `Host` header values (`<PREFIX>ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
}

impl ResourceConfig {
    /// URL of the RFC 9728 metadata document for [`ResourceConfig::public_url`].
    pub fn resource_metadata_url(&self) -> String {
        let mut url = self.public_url.clone();
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        url.set_query(None);
        url.to_string()
    }
}

/// What differs between servers when a [`ResourceConfig`] is read: the variable prefix and defaults.
pub(crate) struct ResourceDefaults {
    pub prefix: &'static str,
    pub port: u16,
    pub scope: &'static str,
    /// `None`: the audience must be configured.
    pub audience: Option<&'static str>,
}

const MCP_DEFAULTS: ResourceDefaults = ResourceDefaults {
    prefix: PREFIX,
    port: 8081,
    scope: "mcp:tools",
    audience: None,
};

/// The raw listener, URL, auth and browser settings of a resource server.
pub(crate) struct RawResource {
    pub bind: Option<SocketAddr>,
    pub public_url: Option<Url>,
    pub auth: RawAuth,
    pub allowed_origins: Option<Vec<String>>,
    pub allowed_hosts: Option<Vec<String>>,
}

impl ResourceConfig {
    /// Validates `raw`, filling in what depends on other fields; errors name `<prefix>VARIABLE`.
    pub(crate) fn from_raw(
        raw: RawResource,
        defaults: &ResourceDefaults,
    ) -> Result<Self, ConfigError> {
        let prefix = defaults.prefix;
        let bind = raw
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], defaults.port)));
        let public_url = match raw.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{bind}/mcp")).map_err(|e| {
                ConfigError::new(
                    format!("{prefix}PUBLIC_URL"),
                    format!("cannot derive from {prefix}BIND: {e}"),
                )
            })?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host_str().is_none() {
            return Err(ConfigError::new(
                format!("{prefix}PUBLIC_URL"),
                "must be an absolute http(s) URL",
            ));
        }
        let auth = AuthConfig::from_raw(raw.auth, defaults)?;
        let allowed_hosts = raw
            .allowed_hosts
            .unwrap_or_else(|| default_hosts(&public_url, bind));
        let allowed_origins = raw
            .allowed_origins
            .unwrap_or_else(|| default_origins(&public_url));
        Ok(Self {
            bind,
            public_url,
            auth,
            allowed_origins,
            allowed_hosts,
        })
    }
}

/// What the environment (or the builder) says, typed; defaults that depend on other fields are filled
/// in by [`Config::from_raw`].
#[derive(Deserialize)]
struct Raw {
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

/// `<PREFIX>AUTH__*`; what is unset keeps [`RawAuth::default`].
#[derive(Deserialize)]
#[serde(default)]
pub(crate) struct RawAuth {
    pub authority: Option<String>,
    pub jwks_uri: Option<Url>,
    #[serde(deserialize_with = "optional_comma_list")]
    pub audience: Option<Vec<String>>,
    pub tenant_id: Option<String>,
    pub scope: Option<String>,
    #[serde(deserialize_with = "optional_comma_list")]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(rename = "leeway_secs", deserialize_with = "secs")]
    pub leeway: Duration,
    #[serde(rename = "jwks_cooldown_secs", deserialize_with = "secs")]
    pub jwks_cooldown: Duration,
}

/// Default clock-skew leeway and JWKS refetch cooldown.
const THIRTY_SECS: Duration = Duration::from_secs(30);

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            authority: None,
            jwks_uri: None,
            audience: None,
            tenant_id: None,
            scope: None,
            scopes_supported: None,
            leeway: THIRTY_SECS,
            jwks_cooldown: THIRTY_SECS,
        }
    }
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
        let ResourceConfig {
            bind,
            public_url,
            auth,
            allowed_origins,
            allowed_hosts,
        } = resource;
        Ok(Self {
            bind,
            public_url,
            auth,
            allowed_origins,
            allowed_hosts,
            database_url: raw
                .database_url
                .unwrap_or_else(|| "sqlite://mcp-tools.db".to_owned()),
            obo,
            graph,
        })
    }

    /// The listener, URL and caller settings, as the shared resource-server code takes them.
    pub fn resource(&self) -> ResourceConfig {
        ResourceConfig {
            bind: self.bind,
            public_url: self.public_url.clone(),
            auth: self.auth.clone(),
            allowed_origins: self.allowed_origins.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
        }
    }

    /// URL of the RFC 9728 metadata document for [`Config::public_url`].
    pub fn resource_metadata_url(&self) -> String {
        self.resource().resource_metadata_url()
    }
}

impl AuthConfig {
    fn from_raw(raw: RawAuth, defaults: &ResourceDefaults) -> Result<Self, ConfigError> {
        let prefix = defaults.prefix;
        let authority = raw
            .authority
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    format!("{prefix}AUTH__AUTHORITY"),
                    "required: the token issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0",
                )
            })?;
        Url::parse(&authority).map_err(|e| {
            ConfigError::new(
                format!("{prefix}AUTH__AUTHORITY"),
                format!("not a URL: {e}"),
            )
        })?;
        let audiences = raw
            .audience
            .or_else(|| defaults.audience.map(|a| vec![a.to_owned()]))
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    format!("{prefix}AUTH__AUDIENCE"),
                    "required: accepted token audiences, e.g. api://portcullis-mcp",
                )
            })?;
        let scope = raw.scope.unwrap_or_else(|| defaults.scope.to_owned());
        if scope.is_empty() || scope.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                format!("{prefix}AUTH__SCOPE"),
                "must be one scope name without spaces",
            ));
        }
        let scopes_supported = raw.scopes_supported.unwrap_or_else(|| vec![scope.clone()]);
        Ok(Self {
            authority,
            jwks_uri: raw.jwks_uri,
            audiences,
            tenant_id: raw.tenant_id.filter(|t| !t.is_empty()),
            scope,
            scopes_supported,
            leeway: raw.leeway,
            jwks_cooldown: raw.jwks_cooldown,
        })
    }
}

/// Loopback aliases of the public URL's host, with and without its port.
fn default_hosts(public_url: &Url, bind: SocketAddr) -> Vec<String> {
    let mut hosts = Vec::new();
    let mut push = |h: String| {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    };
    if let Some(host) = public_url.host_str() {
        match public_url.port_or_known_default() {
            Some(port) => push(format!("{host}:{port}")),
            None => push(host.to_owned()),
        }
        if public_url.port().is_none() {
            push(host.to_owned());
        }
    }
    if bind.ip().is_loopback() {
        for name in ["127.0.0.1", "localhost", "[::1]"] {
            push(format!("{name}:{}", bind.port()));
        }
    }
    hosts
}

/// The public URL's own origin and its loopback aliases.
fn default_origins(public_url: &Url) -> Vec<String> {
    let origin = public_url.origin().ascii_serialization();
    let mut origins = vec![origin];
    if public_url
        .host_str()
        .is_some_and(|h| matches!(h, "127.0.0.1" | "localhost" | "[::1]"))
    {
        let port = public_url
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        for name in ["127.0.0.1", "localhost", "[::1]"] {
            let alias = format!("{}://{name}{port}", public_url.scheme());
            if !origins.contains(&alias) {
                origins.push(alias);
            }
        }
    }
    origins
}

#[cfg(test)]
// `figment::Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
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
            assert_eq!(config.bind.to_string(), "127.0.0.1:8081");
            assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8081/mcp");
            assert_eq!(config.auth.scope, "mcp:tools");
            assert_eq!(config.auth.scopes_supported, ["mcp:tools"]);
            assert!(config.allowed_hosts.contains(&"127.0.0.1:8081".to_owned()));
            assert!(config.allowed_hosts.contains(&"localhost:8081".to_owned()));
            assert!(
                config
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
                config.auth.audiences,
                ["api://a", "11111111-2222-3333-4444-555555555555"]
            );
            assert_eq!(config.auth.tenant_id.as_deref(), Some("t"));
            assert_eq!(config.allowed_hosts, ["mcp.example.com"]);
            assert_eq!(config.allowed_origins, ["https://mcp.example.com"]);
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
            assert_eq!(load().expect("valid").auth.leeway, Duration::from_secs(30));
            jail.set_env("MCP_AUTH__LEEWAY_SECS", "5");
            jail.set_env("MCP_AUTH__JWKS_COOLDOWN_SECS", "7");
            let config = load().expect("valid");
            assert_eq!(config.auth.leeway, Duration::from_secs(5));
            assert_eq!(config.auth.jwks_cooldown, Duration::from_secs(7));
            jail.set_env("MCP_AUTH__LEEWAY_SECS", "soon");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_AUTH__LEEWAY_SECS"), "{error}");
            Ok(())
        });
    }
}
