//! Typed configuration of the web server, read once from `APP_*` environment variables (`__` nests).
//!
//! Everything is parsed here (URLs, the MCP server list, the database choice, durations, secrets), so a
//! bad value stops start-up with one line naming the variable. Secrets are `SecretString`s, which
//! never print. The Leptos site settings (`LEPTOS_SITE_ADDR` etc.) are read by Leptos itself;
//! cargo-leptos sets them. Every variable is documented in `.env.example` and the README.
//!
//! Rooms: this file (the sections every build has), `dev` (the stand-ins' section, `dev-stack` feature
//! only), `tests`.

#[cfg(feature = "dev-stack")]
mod dev;

use std::{path::PathBuf, str::FromStr, time::Duration};

use agent::{
    mcp::ServerSpec,
    settings::{AgentSettings, ModelSettings},
};
use openidconnect::{IssuerUrl, RedirectUrl};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use service_kit::config::{env, extract, optional_comma_list, secs};
use url::Url;

#[cfg(feature = "dev-stack")]
pub use dev::{DevMcpConfig, DevSalesConfig};
pub use service_kit::config::ConfigError;

/// The web server's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Folder for local state (SQLite files, keys). `APP_DATA_DIR`, default `.data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `APP_ENVIRONMENT`: `development` (default) or `production`. Development stand-ins refuse to run
    /// in production.
    #[serde(default)]
    pub environment: Environment,
    /// Public base URL of the web app (`APP_PUBLIC_URL`); default `http://<LEPTOS_SITE_ADDR>`. An
    /// `https` URL turns on `Secure` cookies with the `__Host-` prefix.
    pub public_url: Option<Url>,
    /// Session and app database (`APP_DATABASE_URL`); default SQLite at `<data dir>/portcullis.db`.
    /// See [`Config::database`].
    #[serde(rename = "database_url")]
    pub database: Option<Database>,
    /// Base64 of 32 random bytes encrypting the token cache (`APP_TOKEN_CACHE_KEY`). Generated into
    /// `<data dir>/token-cache.key` when unset.
    pub token_cache_key: Option<SecretString>,
    /// Sign-in (`APP_AUTH__*`).
    #[serde(default)]
    pub auth: AuthConfig,
    /// MCP servers as `name=url scope [protocol=…]`, comma-separated (`APP_MCP_SERVERS`). Unset with
    /// the dev stack: its in-process mcp-tools.
    #[serde(default, deserialize_with = "optional_comma_list")]
    pub mcp_servers: Option<Vec<ServerSpec>>,
    /// The chat model (`APP_MODEL__*`).
    #[serde(default)]
    pub model: ModelSettings,
    /// The agent loop (`APP_AGENT__*`).
    #[serde(default)]
    pub agent: AgentSettings,
    /// The dev stack's in-process mcp-tools (`APP_DEV_MCP__*`).
    #[cfg(feature = "dev-stack")]
    #[serde(default)]
    pub dev_mcp: DevMcpConfig,
    /// The dev stack's in-process sales server (`APP_DEV_SALES__*`), started with mcp-tools.
    #[cfg(feature = "dev-stack")]
    #[serde(default)]
    pub dev_sales: DevSalesConfig,
    /// The development model (`APP_DEV_MODEL__*`), started when no model is configured.
    #[cfg(feature = "dev-stack")]
    #[serde(default)]
    pub dev_model: dev_stack::ModelConfig,
    /// The development identity provider (`APP_DEV_IDP__*`), started when no authority is configured.
    #[cfg(feature = "dev-stack")]
    #[serde(default)]
    pub dev_idp: dev_stack::IdpConfig,
    /// The Graph-shaped stand-in (`APP_DEV_GRAPH__*`), started with the dev IdP and the in-process
    /// mcp-tools.
    #[cfg(feature = "dev-stack")]
    #[serde(default)]
    pub dev_graph: dev_stack::GraphConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Where sessions, the token cache and conversations live.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub enum Database {
    /// `sqlite://<path>` (created, WAL mode).
    Sqlite(String),
    /// `postgres://…`: several web instances share sessions and tokens. The URL may hold a password.
    Postgres(SecretString),
}

impl FromStr for Database {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.into()))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else {
            Err("expected sqlite://<path> or postgres://…".to_owned())
        }
    }
}

impl TryFrom<String> for Database {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        url.parse()
    }
}

impl Database {
    /// The URL to connect with.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite(url) => url,
            Self::Postgres(url) => url.expose_secret(),
        }
    }
}

/// Where users sign in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// OIDC issuer (`APP_AUTH__AUTHORITY`), e.g. `https://login.microsoftonline.com/<tenant>/v2.0`,
    /// kept exactly as written (issuers are compared as strings). Unset: the dev identity provider.
    pub authority: Option<IssuerUrl>,
    /// The web app's client id at the provider (`APP_AUTH__CLIENT_ID`).
    pub client_id: Option<String>,
    /// Its client secret (`APP_AUTH__CLIENT_SECRET`).
    pub client_secret: Option<SecretString>,
    /// Redirect URI registered at the provider (`APP_AUTH__REDIRECT_URI`); default
    /// `<public url>/auth/callback`.
    pub redirect_uri: Option<RedirectUrl>,
    /// Scopes requested at sign-in (`APP_AUTH__SCOPES`, space-separated).
    #[serde(deserialize_with = "space_list")]
    pub scopes: Vec<String>,
    /// Sessions end after this much inactivity (`APP_AUTH__SESSION_IDLE_SECS`).
    #[serde(rename = "session_idle_secs", deserialize_with = "secs")]
    pub session_idle: Duration,
    /// …and this long after sign-in whatever the activity (`APP_AUTH__SESSION_ABSOLUTE_SECS`).
    #[serde(rename = "session_absolute_secs", deserialize_with = "secs")]
    pub session_absolute: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            authority: None,
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            scopes: ["openid", "profile", "offline_access"]
                .map(str::to_owned)
                .to_vec(),
            session_idle: Duration::from_secs(8 * 3600),
            session_absolute: Duration::from_secs(24 * 3600),
        }
    }
}

/// `a b  c` → `["a", "b", "c"]`; also accepts a list.
fn space_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(deserializer)? {
        Either::One(s) => s.split_whitespace().map(str::to_owned).collect(),
        Either::Many(v) => v,
    })
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".data")
}

impl Config {
    /// Reads `APP_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        extract(&env("APP_"), "APP_")
    }

    /// The database, with its default under the data folder.
    pub fn database(&self) -> Database {
        self.database.clone().unwrap_or_else(|| {
            Database::Sqlite(format!(
                "sqlite://{}",
                self.data_dir.join("portcullis.db").display()
            ))
        })
    }

    /// A build without the development stand-ins needs an external authority and model: the one line
    /// that says what to set, or `Ok`.
    pub fn require_external_services(&self) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        if self.auth.authority.is_none() {
            missing.push("APP_AUTH__AUTHORITY");
        }
        if !self.model.is_configured() {
            missing.push("APP_MODEL__BASE_URL (or APP_MODEL__PROVIDER)");
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(ConfigError::other(format!(
            "set {}: this build has no development stand-ins (it was built without the dev-stack feature)",
            missing.join(" and ")
        )))
    }
}

#[cfg(test)]
mod tests;
