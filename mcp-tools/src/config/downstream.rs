//! The downstream side of the configuration: mcp-tools as a confidential client that exchanges the
//! user's token (`MCP_OBO__*`), and Microsoft Graph, where the exchanged token is used (`MCP_GRAPH__*`).

use std::{fmt, str::FromStr};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use service_kit::config::{optional_parsed, optional_text};
use url::Url;

use super::ConfigError;

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
/// Where the identity provider sends the user after a consent page (the default
/// `MCP_OBO__CONSENT_REDIRECT_URI`, on mcp-tools' own origin; the HTTP layer serves it).
pub const CONSENT_COMPLETE_PATH: &str = "/oauth/consent-complete";

pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com";

/// `MCP_OBO__*`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawObo {
    #[serde(deserialize_with = "optional_text")]
    pub(super) client_id: Option<String>,
    #[serde(deserialize_with = "scalar_secret")]
    pub(super) client_secret: Option<SecretString>,
    #[serde(deserialize_with = "optional_parsed")]
    pub(super) grant: Option<OboGrant>,
    #[serde(deserialize_with = "optional_parsed")]
    pub(super) client_auth: Option<ClientAuth>,
    pub(super) consent_redirect_uri: Option<Url>,
}

/// `MCP_GRAPH__*`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawGraph {
    pub(super) base_url: Option<Url>,
    pub(super) resource: Option<String>,
}

fn scalar_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(optional_text(deserializer)?.map(SecretString::from))
}

impl OboConfig {
    /// Both the id and the secret, or neither; one alone is a mistake worth stopping for.
    pub(super) fn from_raw(raw: RawObo, public_url: &Url) -> Result<Option<Self>, ConfigError> {
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
            None => public_url.join(CONSENT_COMPLETE_PATH).map_err(|e| {
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
    pub(super) fn from_raw(raw: RawGraph) -> Result<Self, ConfigError> {
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's `Jail` closures return its (large) error type.
mod tests {
    use figment::Jail;

    use super::*;
    use crate::config::Config;

    fn load() -> Result<Config, ConfigError> {
        Config::from_env()
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
}
