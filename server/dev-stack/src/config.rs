//! Typed settings of the stand-ins. A front-end embeds them in its own configuration (the web server
//! reads them from `APP_DEV_IDP__*`, `APP_DEV_MODEL__*` and `APP_DEV_GRAPH__*`); every field has a
//! default, so an empty section starts a working stand-in.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{comma_list, secs};

use crate::idp::Resource;

/// A dev user as configured: `name[:Display Name]` (the display name defaults to the capitalised name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// Letters, digits, `-` and `.`; what the sign-in page submits.
    pub username: String,
    pub name: String,
}

impl FromStr for UserEntry {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (username, name) = match entry.split_once(':') {
            Some((u, n)) => (u.trim(), n.trim().to_owned()),
            None => (entry.trim(), capitalize(entry.trim())),
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if username.is_empty() || !username.chars().all(allowed) {
            return Err(format!(
                "bad user name {username:?} (letters, digits, '-', '.')"
            ));
        }
        Ok(Self {
            username: username.to_owned(),
            name,
        })
    }
}

impl fmt::Display for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.username, self.name)
    }
}

/// Delegated Graph scopes a dev user has already consented to for mcp-tools, as configured:
/// `name=Scope Scope` (one entry of `APP_DEV_IDP__GRAPH_CONSENTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEntry {
    pub username: String,
    /// Graph scope names (`User.Read`), checked against the Graph resource when the IdP opens.
    pub scopes: Vec<String>,
}

impl FromStr for ConsentEntry {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (username, scopes) = entry
            .split_once('=')
            .ok_or_else(|| format!("expected user=Scope …, got {entry:?}"))?;
        let username = username.trim();
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if username.is_empty() || scopes.is_empty() {
            return Err(format!("{entry:?} needs a user and at least one scope"));
        }
        Ok(Self {
            username: username.to_owned(),
            scopes,
        })
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Settings of the development identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IdpConfig {
    /// Listen address; loopback only. `APP_DEV_IDP__BIND`.
    pub bind: SocketAddr,
    /// Tenant id in the issuer path and in `tid`. `APP_DEV_IDP__TENANT_ID`.
    pub tenant_id: String,
    /// Dev users as `name[:Display Name]`, comma-separated. `APP_DEV_IDP__USERS`.
    #[serde(deserialize_with = "comma_list")]
    pub users: Vec<UserEntry>,
    /// Resources (APIs) and their delegated scopes as `app-id-uri=scope scope`, comma-separated; an
    /// entry ending in `;consent` makes each user consent per client before tokens carry its scopes.
    /// `APP_DEV_IDP__RESOURCES`.
    #[serde(deserialize_with = "comma_list")]
    pub resources: Vec<Resource>,
    /// Access- and ID-token lifetime. `APP_DEV_IDP__ACCESS_TOKEN_LIFETIME_SECS`.
    #[serde(rename = "access_token_lifetime_secs", deserialize_with = "secs")]
    pub access_token_lifetime: Duration,
    /// Refresh-token lifetime. `APP_DEV_IDP__REFRESH_TOKEN_LIFETIME_SECS`.
    #[serde(rename = "refresh_token_lifetime_secs", deserialize_with = "secs")]
    pub refresh_token_lifetime: Duration,
    /// How long a retired signing key stays in the JWKS. `APP_DEV_IDP__KEY_GRACE_SECS`.
    #[serde(rename = "key_grace_secs", deserialize_with = "secs")]
    pub key_grace: Duration,
    /// How long a device code (and its user code) of the device authorization grant stays valid.
    /// `APP_DEV_IDP__DEVICE_CODE_LIFETIME_SECS`.
    #[serde(rename = "device_code_lifetime_secs", deserialize_with = "secs")]
    pub device_code_lifetime: Duration,
    /// The least time between a device's polls of the token endpoint (`interval`; faster polls get
    /// `slow_down`). Tests lower it so they poll fast. `APP_DEV_IDP__DEVICE_POLL_INTERVAL_SECS`.
    #[serde(rename = "device_poll_interval_secs", deserialize_with = "secs")]
    pub device_poll_interval: Duration,
    /// The web app's client id. `APP_DEV_IDP__WEB_CLIENT_ID`.
    pub web_client_id: String,
    /// The web app's client secret; generated and kept under the data folder when unset.
    /// `APP_DEV_IDP__WEB_CLIENT_SECRET`.
    pub web_client_secret: Option<SecretString>,
    /// The web app's redirect URI. `APP_DEV_IDP__WEB_REDIRECT_URI`.
    pub web_redirect_uri: String,
    /// Where the web app may ask to land after sign-out. `APP_DEV_IDP__WEB_POST_LOGOUT_REDIRECT_URI`.
    pub web_post_logout_redirect_uri: String,
    /// The console client's id (public client, loopback redirect). `APP_DEV_IDP__CONSOLE_CLIENT_ID`.
    pub console_client_id: String,
    /// mcp-tools' client id as a confidential client (the on-behalf-of and token-exchange caller). The
    /// default matches the MCP resource `api://portcullis-mcp`, so the tokens mcp-tools receives have
    /// the audience the exchange requires (`api://{client id}`). `APP_DEV_IDP__MCP_CLIENT_ID`.
    pub mcp_client_id: String,
    /// mcp-tools' client secret; generated and kept under the data folder when unset.
    /// `APP_DEV_IDP__MCP_CLIENT_SECRET`.
    pub mcp_client_secret: Option<SecretString>,
    /// mcp-tools' registered redirect URI (where its consent journey ends); the front-end replaces it
    /// once mcp-tools has bound (`DevIdp::set_mcp_redirect_uri`). `APP_DEV_IDP__MCP_REDIRECT_URI`.
    pub mcp_redirect_uri: String,
    /// Graph consents users have already given mcp-tools, as `name=Scope Scope`, comma-separated;
    /// inserted when missing at start and restored by `POST /dev/reset-consents`.
    /// `APP_DEV_IDP__GRAPH_CONSENTS`.
    #[serde(deserialize_with = "comma_list")]
    pub graph_consents: Vec<ConsentEntry>,
    /// Lets the dev IdP start although the environment says production. The name says what it is for.
    /// `APP_DEV_IDP__ALLOW_IN_PRODUCTION_FOR_DEVELOPMENT_ONLY`.
    pub allow_in_production_for_development_only: bool,
}

impl Default for IdpConfig {
    fn default() -> Self {
        let user = |username: &str, name: &str| UserEntry {
            username: username.to_owned(),
            name: name.to_owned(),
        };
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3400)),
            tenant_id: "7d3c3a8e-5b0f-4c1e-9a52-d1e5f0c0de00".to_owned(),
            users: vec![user("alice", "Alice Smith"), user("bob", "Bob Jones")],
            // mcp-tools and the second MCP server, `sales` (`cargo run -p mcp-tools --bin sales`).
            // Sales data is the user's to share: each client must get the user's consent first (the
            // web app's "Connect"), as for Graph; mcp-tools is granted on request.
            resources: vec![
                Resource::new("api://portcullis-mcp", &["mcp:tools"]),
                Resource::new("api://portcullis-sales", &["sales:read"]).with_consent(),
            ],
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(14 * 24 * 3600),
            key_grace: Duration::from_secs(24 * 3600),
            // Entra's values.
            device_code_lifetime: Duration::from_secs(900),
            device_poll_interval: Duration::from_secs(5),
            web_client_id: "portcullis-web".to_owned(),
            web_client_secret: None,
            web_redirect_uri: "http://127.0.0.1:3000/auth/callback".to_owned(),
            web_post_logout_redirect_uri: "http://127.0.0.1:3000/".to_owned(),
            console_client_id: "portcullis-console".to_owned(),
            mcp_client_id: "portcullis-mcp".to_owned(),
            mcp_client_secret: None,
            mcp_redirect_uri: "http://127.0.0.1:8081/oauth/consent-complete".to_owned(),
            // Bob has not consented to Calendars.Read, so the consent journey has someone to walk it.
            graph_consents: vec![
                consent("alice", &["User.Read", "Calendars.Read"]),
                consent("bob", &["User.Read"]),
            ],
            allow_in_production_for_development_only: false,
        }
    }
}

fn consent(username: &str, scopes: &[&str]) -> ConsentEntry {
    ConsentEntry {
        username: username.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The Graph-shaped stand-in (`/v1.0/me`, `/v1.0/me/calendarView`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GraphConfig {
    /// Listen address; loopback only. `APP_DEV_GRAPH__BIND`.
    pub bind: SocketAddr,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3600)),
        }
    }
}

/// The deterministic model endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Listen address; loopback only. `APP_DEV_MODEL__BIND`.
    pub bind: SocketAddr,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3500)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's `Jail` closures return its (large) error type.
mod tests {
    use figment::Jail;
    use secrecy::ExposeSecret;

    use super::*;

    #[derive(Deserialize)]
    struct Env {
        #[serde(default)]
        dev_idp: IdpConfig,
        #[serde(default)]
        dev_graph: GraphConfig,
    }

    #[test]
    fn settings_read_from_the_environment_with_typed_lists_and_durations() {
        Jail::expect_with(|jail| {
            jail.set_env("T_DEV_IDP__USERS", "carol:Carol King, dan");
            jail.set_env(
                "T_DEV_IDP__RESOURCES",
                "api://a=read write, api://b=use;consent",
            );
            jail.set_env("T_DEV_IDP__KEY_GRACE_SECS", "7");
            jail.set_env("T_DEV_IDP__DEVICE_POLL_INTERVAL_SECS", "1");
            jail.set_env("T_DEV_IDP__WEB_CLIENT_SECRET", "s3cret");
            let env: Env =
                service_kit::config::extract(&service_kit::config::env("T_"), "T_").expect("valid");
            let config = env.dev_idp;
            let users: Vec<_> = config.users.iter().map(ToString::to_string).collect();
            assert_eq!(users, ["carol:Carol King", "dan:Dan"]);
            assert_eq!(config.resources[0].scopes, ["read", "write"]);
            assert!(!config.resources[0].consent);
            assert!(config.resources[1].consent, "{:?}", config.resources[1]);
            assert_eq!(config.key_grace, Duration::from_secs(7));
            assert_eq!(config.device_poll_interval, Duration::from_secs(1));
            assert_eq!(
                config.device_code_lifetime,
                Duration::from_secs(900),
                "default"
            );
            assert!(
                !format!("{config:?}").contains("s3cret"),
                "Debug never shows the secret"
            );
            let secret = config.web_client_secret.expect("set");
            assert_eq!(secret.expose_secret(), "s3cret");
            jail.set_env("T_DEV_IDP__USERS", "bad user");
            let error = service_kit::config::extract::<Env>(&service_kit::config::env("T_"), "T_")
                .err()
                .expect("refused")
                .to_string();
            assert!(error.contains("T_DEV_IDP__USERS"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn mcp_client_graph_consents_and_the_graph_bind_have_defaults_and_read_from_the_environment() {
        Jail::expect_with(|jail| {
            let env: Env =
                service_kit::config::extract(&service_kit::config::env("T_"), "T_").expect("valid");
            let config = env.dev_idp;
            // The sales resource tracks consent; mcp-tools' does not.
            let tracked: Vec<_> = config
                .resources
                .iter()
                .map(|r| (r.app_id_uri.as_str(), r.consent))
                .collect();
            assert_eq!(
                tracked,
                [
                    ("api://portcullis-mcp", false),
                    ("api://portcullis-sales", true)
                ]
            );
            assert_eq!(config.mcp_client_id, "portcullis-mcp");
            assert!(config.mcp_client_secret.is_none());
            assert_eq!(
                config.mcp_redirect_uri,
                "http://127.0.0.1:8081/oauth/consent-complete"
            );
            assert_eq!(
                config.graph_consents,
                [
                    consent("alice", &["User.Read", "Calendars.Read"]),
                    consent("bob", &["User.Read"])
                ]
            );
            assert_eq!(env.dev_graph.bind, SocketAddr::from(([127, 0, 0, 1], 3600)));

            jail.set_env("T_DEV_IDP__MCP_CLIENT_ID", "tools");
            jail.set_env("T_DEV_IDP__MCP_CLIENT_SECRET", "t0ps3cret");
            jail.set_env("T_DEV_IDP__GRAPH_CONSENTS", "bob=User.Read Calendars.Read");
            jail.set_env("T_DEV_GRAPH__BIND", "127.0.0.1:3601");
            let env: Env =
                service_kit::config::extract(&service_kit::config::env("T_"), "T_").expect("valid");
            assert_eq!(env.dev_idp.mcp_client_id, "tools");
            assert!(!format!("{:?}", env.dev_idp).contains("t0ps3cret"));
            assert_eq!(
                env.dev_idp.graph_consents,
                [consent("bob", &["User.Read", "Calendars.Read"])]
            );
            assert_eq!(env.dev_graph.bind.port(), 3601);

            jail.set_env("T_DEV_IDP__GRAPH_CONSENTS", "");
            let env: Env =
                service_kit::config::extract(&service_kit::config::env("T_"), "T_").expect("valid");
            assert!(
                env.dev_idp.graph_consents.is_empty(),
                "nobody has consented"
            );

            jail.set_env("T_DEV_IDP__GRAPH_CONSENTS", "bob");
            let error = service_kit::config::extract::<Env>(&service_kit::config::env("T_"), "T_")
                .err()
                .expect("refused")
                .to_string();
            assert!(error.contains("T_DEV_IDP__GRAPH_CONSENTS"), "{error}");
            Ok(())
        });
    }
}
