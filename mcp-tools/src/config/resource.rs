//! What every MCP resource server (mcp-tools, sales) is configured with, read under its own prefix
//! (`MCP_`, `SALES_`): where it listens, the URL it is known by, who may call it and from where.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use service_kit::config::{ConfigError, optional_comma_list, secs};
use url::Url;

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

impl RawAuth {
    /// Settings with only the issuer given (the builders' start).
    pub fn with_authority(authority: String) -> Self {
        Self {
            authority: Some(authority),
            ..Self::default()
        }
    }
}

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
