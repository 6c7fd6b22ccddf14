//! Typed configuration from `MCP_*` environment variables (`__` nests: `MCP_AUTH__AUDIENCE`).
//!
//! Every variable is documented in `.env.example` and the README. Bad or missing values stop start-up
//! with one line naming the variable. Secrets are `SecretString`s: `Debug` never shows them.

mod builder;

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, de};
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
    /// SQLite database for per-user data (`MCP_DATABASE_URL`).
    pub database_url: String,
    /// mcp-tools as a confidential client exchanging the user's token for a Microsoft Graph token
    /// (`MCP_OBO__*`); `None` leaves the Graph tools off.
    pub obo: Option<OboConfig>,
    /// Where Microsoft Graph is and how its scopes are named (`MCP_GRAPH__*`).
    pub graph: GraphConfig,
}

/// The confidential client that exchanges a user's inbound token (audience mcp-tools) for a token for
/// Microsoft Graph, for the same user.
#[derive(Debug, Clone)]
pub struct OboConfig {
    /// mcp-tools' client id at the authority (`MCP_OBO__CLIENT_ID`).
    pub client_id: String,
    /// Its client secret (`MCP_OBO__CLIENT_SECRET`).
    pub client_secret: SecretString,
    /// Which grant exchanges the token (`MCP_OBO__GRANT`).
    pub grant: OboGrant,
    /// How the client authenticates at the token endpoint (`MCP_OBO__CLIENT_AUTH`); `None` picks from
    /// the discovery document's `token_endpoint_auth_methods_supported`.
    pub client_auth: Option<ClientAuth>,
    /// Where the provider sends the user after a consent page (`MCP_OBO__CONSENT_REDIRECT_URI`); must
    /// be registered with the client.
    pub consent_redirect_uri: Url,
}

/// The token-exchange grant mcp-tools speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OboGrant {
    /// Microsoft Entra ID on-behalf-of: `urn:ietf:params:oauth:grant-type:jwt-bearer` with
    /// `requested_token_use=on_behalf_of`.
    #[default]
    EntraObo,
    /// RFC 8693 token exchange (Keycloak, Okta, Auth0, ...).
    TokenExchange,
}

impl OboGrant {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EntraObo => "entra-obo",
            Self::TokenExchange => "token-exchange",
        }
    }
}

impl fmt::Display for OboGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OboGrant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "entra-obo" => Ok(Self::EntraObo),
            "token-exchange" => Ok(Self::TokenExchange),
            other => Err(format!(
                "unknown grant {other:?}: use entra-obo or token-exchange"
            )),
        }
    }
}

/// Client authentication at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret.
    ClientSecretBasic,
}

impl ClientAuth {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            other => Err(format!(
                "unknown client authentication {other:?}: use client_secret_post or client_secret_basic"
            )),
        }
    }
}

/// Microsoft Graph (or a stand-in with its shape).
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Base URL the `/v1.0/...` paths are appended to (`MCP_GRAPH__BASE_URL`).
    pub base_url: Url,
    /// Resource that prefixes the delegated scopes (`MCP_GRAPH__RESOURCE`), without a trailing slash.
    pub resource: String,
}

impl GraphConfig {
    /// The fully qualified delegated scope, e.g. `https://graph.microsoft.com/User.Read`.
    pub fn scope(&self, permission: &str) -> String {
        format!("{}/{permission}", self.resource)
    }
}

/// Microsoft Graph's public endpoint, which is also its resource identifier.
pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com";

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
pub use service_kit::config::ConfigError;

/// The prefix of every variable.
const PREFIX: &str = "MCP_";

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

/// `MCP_OBO__*`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawObo {
    #[serde(deserialize_with = "scalar_string")]
    client_id: Option<String>,
    #[serde(deserialize_with = "scalar_secret")]
    client_secret: Option<SecretString>,
    #[serde(deserialize_with = "parsed")]
    grant: Option<OboGrant>,
    #[serde(deserialize_with = "parsed")]
    client_auth: Option<ClientAuth>,
    consent_redirect_uri: Option<Url>,
}

/// `MCP_GRAPH__*`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawGraph {
    base_url: Option<Url>,
    resource: Option<String>,
}

/// A value the environment may have typed as a number or boolean (figment parses `12345` as a number),
/// taken as the text it was written as.
fn scalar_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Scalar;
    impl de::Visitor<'_> for Scalar {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(Scalar).map(Some)
}

fn scalar_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(scalar_string(deserializer)?.map(SecretString::from))
}

/// A value parsed with its `FromStr`.
fn parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    match scalar_string(deserializer)? {
        Some(text) => text.parse().map(Some).map_err(de::Error::custom),
        None => Ok(None),
    }
}

/// `MCP_AUTH__*`; what is unset keeps [`RawAuth::default`].
#[derive(Deserialize)]
#[serde(default)]
struct RawAuth {
    authority: Option<String>,
    jwks_uri: Option<Url>,
    #[serde(deserialize_with = "optional_comma_list")]
    audience: Option<Vec<String>>,
    tenant_id: Option<String>,
    scope: Option<String>,
    #[serde(deserialize_with = "optional_comma_list")]
    scopes_supported: Option<Vec<String>>,
    #[serde(rename = "leeway_secs", deserialize_with = "secs")]
    leeway: Duration,
    #[serde(rename = "jwks_cooldown_secs", deserialize_with = "secs")]
    jwks_cooldown: Duration,
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
        let bind = raw
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
        let public_url = match raw.public_url {
            Some(url) => url,
            None => Url::parse(&format!("http://{bind}/mcp")).map_err(|e| {
                ConfigError::new(
                    "MCP_PUBLIC_URL",
                    format!("cannot derive from MCP_BIND: {e}"),
                )
            })?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host_str().is_none() {
            return Err(ConfigError::new(
                "MCP_PUBLIC_URL",
                "must be an absolute http(s) URL",
            ));
        }
        let auth = AuthConfig::from_raw(raw.auth)?;
        let allowed_hosts = raw
            .allowed_hosts
            .unwrap_or_else(|| default_hosts(&public_url, bind));
        let allowed_origins = raw
            .allowed_origins
            .unwrap_or_else(|| default_origins(&public_url));
        let obo = OboConfig::from_raw(raw.obo, &public_url)?;
        let graph = GraphConfig::from_raw(raw.graph)?;
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

    /// URL of the RFC 9728 metadata document for [`Config::public_url`].
    pub fn resource_metadata_url(&self) -> String {
        let mut url = self.public_url.clone();
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
        url.set_query(None);
        url.to_string()
    }
}

impl OboConfig {
    /// Both the id and the secret, or neither; one alone is a mistake worth stopping for.
    fn from_raw(raw: RawObo, public_url: &Url) -> Result<Option<Self>, ConfigError> {
        let client_id = raw.client_id.filter(|id| !id.trim().is_empty());
        let client_secret = raw.client_secret.filter(|secret| {
            use secrecy::ExposeSecret;
            !secret.expose_secret().is_empty()
        });
        let (client_id, client_secret) = match (client_id, client_secret) {
            (None, None) => return Ok(None),
            (Some(id), Some(secret)) => (id.trim().to_owned(), secret),
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "MCP_OBO__CLIENT_ID",
                    "required with MCP_OBO__CLIENT_SECRET: mcp-tools' client id at the authority",
                ));
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "MCP_OBO__CLIENT_SECRET",
                    "required with MCP_OBO__CLIENT_ID: mcp-tools' client secret at the authority",
                ));
            }
        };
        let consent_redirect_uri = match raw.consent_redirect_uri {
            Some(url) => url,
            None => public_url.join("/oauth/consent-complete").map_err(|e| {
                ConfigError::new(
                    "MCP_OBO__CONSENT_REDIRECT_URI",
                    format!("cannot derive from MCP_PUBLIC_URL: {e}"),
                )
            })?,
        };
        if !matches!(consent_redirect_uri.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "MCP_OBO__CONSENT_REDIRECT_URI",
                "must be an absolute http(s) URL",
            ));
        }
        Ok(Some(Self {
            client_id,
            client_secret,
            grant: raw.grant.unwrap_or_default(),
            client_auth: raw.client_auth,
            consent_redirect_uri,
        }))
    }
}

impl GraphConfig {
    fn from_raw(raw: RawGraph) -> Result<Self, ConfigError> {
        let base_url = match raw.base_url {
            Some(url) => url,
            None => {
                Url::parse(GRAPH_DEFAULT).map_err(|e| ConfigError::new("MCP_GRAPH__BASE_URL", e))?
            }
        };
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(ConfigError::new(
                "MCP_GRAPH__BASE_URL",
                "must be an absolute http(s) URL",
            ));
        }
        let resource = raw
            .resource
            .unwrap_or_else(|| GRAPH_DEFAULT.to_owned())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if resource.is_empty() || resource.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "MCP_GRAPH__RESOURCE",
                "must be one resource identifier without spaces, e.g. https://graph.microsoft.com",
            ));
        }
        Ok(Self { base_url, resource })
    }
}

impl AuthConfig {
    fn from_raw(raw: RawAuth) -> Result<Self, ConfigError> {
        let authority = raw
            .authority
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "MCP_AUTH__AUTHORITY",
                    "required: the token issuer, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0",
                )
            })?;
        Url::parse(&authority)
            .map_err(|e| ConfigError::new("MCP_AUTH__AUTHORITY", format!("not a URL: {e}")))?;
        let audiences = raw.audience.filter(|a| !a.is_empty()).ok_or_else(|| {
            ConfigError::new(
                "MCP_AUTH__AUDIENCE",
                "required: accepted token audiences, e.g. api://portcullis-mcp",
            )
        })?;
        let scope = raw.scope.unwrap_or_else(|| "mcp:tools".to_owned());
        if scope.is_empty() || scope.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "MCP_AUTH__SCOPE",
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

    fn minimal(jail: &mut Jail) {
        jail.set_env("MCP_AUTH__AUTHORITY", "http://127.0.0.1:3400/dev/v2.0");
        jail.set_env("MCP_AUTH__AUDIENCE", "api://a");
    }

    #[test]
    fn without_obo_credentials_there_is_no_exchange_and_graph_has_its_defaults() {
        Jail::expect_with(|jail| {
            minimal(jail);
            let config = load().expect("valid");
            assert!(config.obo.is_none());
            assert_eq!(
                config.graph.base_url.as_str(),
                "https://graph.microsoft.com/"
            );
            assert_eq!(config.graph.resource, "https://graph.microsoft.com");
            assert_eq!(
                config.graph.scope("Calendars.Read"),
                "https://graph.microsoft.com/Calendars.Read"
            );
            Ok(())
        });
    }

    #[test]
    fn obo_credentials_give_a_client_with_defaults_and_a_secret_debug_never_shows() {
        Jail::expect_with(|jail| {
            minimal(jail);
            jail.set_env("MCP_PUBLIC_URL", "https://mcp.example.com/mcp");
            jail.set_env("MCP_ALLOWED_HOSTS", "mcp.example.com");
            jail.set_env("MCP_OBO__CLIENT_ID", "11111111-2222-3333-4444-555555555555");
            jail.set_env("MCP_OBO__CLIENT_SECRET", "s3cr3t~value");
            let config = load().expect("valid");
            let obo = config.obo.clone().expect("obo configured");
            assert_eq!(obo.client_id, "11111111-2222-3333-4444-555555555555");
            assert_eq!(obo.grant, OboGrant::EntraObo);
            assert_eq!(obo.client_auth, None);
            assert_eq!(
                obo.consent_redirect_uri.as_str(),
                "https://mcp.example.com/oauth/consent-complete"
            );
            {
                use secrecy::ExposeSecret;
                assert_eq!(obo.client_secret.expose_secret(), "s3cr3t~value");
            }
            let debug = format!("{config:?}");
            assert!(!debug.contains("s3cr3t"), "{debug}");
            assert!(debug.contains("client_id"), "{debug}");
            Ok(())
        });
    }

    #[test]
    fn obo_grant_client_auth_redirect_and_graph_are_read_and_numbers_stay_text() {
        Jail::expect_with(|jail| {
            minimal(jail);
            jail.set_env("MCP_OBO__CLIENT_ID", "12345");
            jail.set_env("MCP_OBO__CLIENT_SECRET", "0042");
            jail.set_env("MCP_OBO__GRANT", "token-exchange");
            jail.set_env("MCP_OBO__CLIENT_AUTH", "client_secret_basic");
            jail.set_env(
                "MCP_OBO__CONSENT_REDIRECT_URI",
                "http://localhost:9000/done",
            );
            jail.set_env("MCP_GRAPH__BASE_URL", "http://127.0.0.1:3600");
            jail.set_env("MCP_GRAPH__RESOURCE", "https://graph.microsoft.com/");
            let config = load().expect("valid");
            let obo = config.obo.expect("obo configured");
            assert_eq!(obo.client_id, "12345");
            {
                use secrecy::ExposeSecret;
                assert_eq!(obo.client_secret.expose_secret(), "0042");
            }
            assert_eq!(obo.grant, OboGrant::TokenExchange);
            assert_eq!(obo.client_auth, Some(ClientAuth::ClientSecretBasic));
            assert_eq!(
                obo.consent_redirect_uri.as_str(),
                "http://localhost:9000/done"
            );
            assert_eq!(config.graph.base_url.as_str(), "http://127.0.0.1:3600/");
            assert_eq!(
                config.graph.scope("User.Read"),
                "https://graph.microsoft.com/User.Read"
            );
            Ok(())
        });
    }

    #[test]
    fn one_obo_credential_alone_names_the_missing_variable() {
        Jail::expect_with(|jail| {
            minimal(jail);
            jail.set_env("MCP_OBO__CLIENT_ID", "mcp-tools");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_OBO__CLIENT_SECRET"), "{error}");
            jail.set_env("MCP_OBO__CLIENT_ID", "");
            jail.set_env("MCP_OBO__CLIENT_SECRET", "secret");
            let error = load().unwrap_err().to_string();
            assert!(error.contains("MCP_OBO__CLIENT_ID"), "{error}");
            assert!(!error.contains("secret\""), "{error}");
            Ok(())
        });
    }

    #[test]
    fn bad_obo_and_graph_values_name_their_variable() {
        for (variable, value) in [
            ("MCP_OBO__GRANT", "password"),
            ("MCP_OBO__CLIENT_AUTH", "private_key_jwt"),
            ("MCP_OBO__CONSENT_REDIRECT_URI", "not a url"),
            ("MCP_GRAPH__BASE_URL", "ftp://graph.example"),
            ("MCP_GRAPH__RESOURCE", "two words"),
        ] {
            Jail::expect_with(|jail| {
                minimal(jail);
                jail.set_env("MCP_OBO__CLIENT_ID", "mcp-tools");
                jail.set_env("MCP_OBO__CLIENT_SECRET", "secret");
                jail.set_env(variable, value);
                let error = load().unwrap_err().to_string();
                assert!(error.contains(variable), "{variable}: {error}");
                Ok(())
            });
        }
    }

    #[test]
    fn grant_names_round_trip() {
        for grant in [OboGrant::EntraObo, OboGrant::TokenExchange] {
            assert_eq!(grant.to_string().parse::<OboGrant>(), Ok(grant));
        }
        for auth in [ClientAuth::ClientSecretPost, ClientAuth::ClientSecretBasic] {
            assert_eq!(auth.to_string().parse::<ClientAuth>(), Ok(auth));
        }
        assert!("jwt-bearer".parse::<OboGrant>().is_err());
    }

    #[test]
    fn the_builder_sets_obo_graph_and_the_consent_redirect() {
        let config = Config::builder("http://127.0.0.1:3400/dev/v2.0", "api://a")
            .obo(
                "mcp-tools",
                SecretString::from("builder-secret"),
                OboGrant::TokenExchange,
            )
            .graph_base_url(Url::parse("http://127.0.0.1:3600/").unwrap())
            .consent_redirect_uri(Url::parse("http://127.0.0.1:3000/consent").unwrap())
            .build()
            .expect("valid");
        let obo = config.obo.clone().expect("obo configured");
        assert_eq!(obo.client_id, "mcp-tools");
        assert_eq!(obo.grant, OboGrant::TokenExchange);
        assert_eq!(
            obo.consent_redirect_uri.as_str(),
            "http://127.0.0.1:3000/consent"
        );
        assert_eq!(config.graph.base_url.as_str(), "http://127.0.0.1:3600/");
        assert!(!format!("{config:?}").contains("builder-secret"));
        // Without `.obo(...)` the consent redirect alone configures nothing.
        let plain = Config::builder("http://127.0.0.1:3400/dev/v2.0", "api://a")
            .build()
            .expect("valid");
        assert!(plain.obo.is_none());
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
