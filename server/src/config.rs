//! Typed configuration of the web server, read from `APP_*` environment variables (`__` nests).
//!
//! The Leptos site settings (`LEPTOS_SITE_ADDR` etc.) are read by Leptos itself; cargo-leptos sets them.
//! Every variable is documented in `.env.example` and the README.

use std::{net::SocketAddr, path::PathBuf};

use figment::{Figment, providers::Env};
use serde::{Deserialize, Deserializer};

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
    pub public_url: Option<String>,
    /// Session database (`APP_DATABASE_URL`): `sqlite://…` (default `<data dir>/portcullis.db`) or
    /// `postgres://…` to share sessions between several web instances.
    pub database_url: Option<String>,
    /// Base64 of 32 random bytes encrypting the token cache (`APP_TOKEN_CACHE_KEY`). Generated into
    /// `<data dir>/token-cache.key` when unset.
    pub token_cache_key: Option<String>,
    /// Sign-in (`APP_AUTH__*`).
    #[serde(default)]
    pub auth: AuthConfig,
    /// MCP servers as `name=url scope`, comma-separated (`APP_MCP_SERVERS`). Unset in the dev stack:
    /// the embedded mcp-tools.
    #[serde(default, deserialize_with = "optional_comma_list")]
    pub mcp_servers: Option<Vec<String>>,
    /// The embedded mcp-tools of the dev stack (`APP_DEV_MCP__*`).
    #[serde(default)]
    pub dev_mcp: DevMcpConfig,
    /// The chat model (`APP_MODEL__*`).
    #[serde(default)]
    pub model: ModelConfig,
    /// The agent loop (`APP_AGENT__*`).
    #[serde(default)]
    pub agent: AgentConfig,
    /// The embedded development model (`APP_DEV_MODEL__*`), started when no model is configured.
    #[serde(default)]
    pub dev_model: DevModelConfig,
    /// The embedded development identity provider (`APP_DEV_IDP__*`).
    #[serde(default)]
    pub dev_idp: DevIdpConfig,
}

/// Where users sign in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// OIDC issuer (`APP_AUTH__AUTHORITY`), e.g. `https://login.microsoftonline.com/<tenant>/v2.0`.
    /// When unset, the server starts the embedded development identity provider and uses it.
    pub authority: Option<String>,
    /// The web app's client id at the provider (`APP_AUTH__CLIENT_ID`).
    pub client_id: Option<String>,
    /// Its client secret (`APP_AUTH__CLIENT_SECRET`).
    pub client_secret: Option<String>,
    /// Redirect URI registered at the provider (`APP_AUTH__REDIRECT_URI`); default
    /// `<public url>/auth/callback`.
    pub redirect_uri: Option<String>,
    /// Scopes requested at sign-in (`APP_AUTH__SCOPES`, space-separated).
    pub scopes: String,
    /// Sessions end after this much inactivity (`APP_AUTH__SESSION_IDLE_SECS`).
    pub session_idle_secs: u64,
    /// …and this long after sign-in whatever the activity (`APP_AUTH__SESSION_ABSOLUTE_SECS`).
    pub session_absolute_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            authority: None,
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            scopes: "openid profile offline_access".to_owned(),
            session_idle_secs: 8 * 3600,
            session_absolute_secs: 24 * 3600,
        }
    }
}

/// The dev stack's in-process mcp-tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevMcpConfig {
    /// Listen address (`APP_DEV_MCP__BIND`).
    pub bind: SocketAddr,
    /// MCP generation the web app speaks to it (`APP_DEV_MCP__PROTOCOL`): `auto` (default), `legacy`
    /// (2025-11-25 sessions) or `2026-07-28`.
    pub protocol: String,
}

impl Default for DevMcpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            protocol: "auto".to_owned(),
        }
    }
}

/// Which kind of model API `APP_MODEL__*` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelProvider {
    /// api.openai.com (or `base_url`), bearer API key.
    Openai,
    /// Azure OpenAI: `base_url` is the resource endpoint, plus `deployment` and `api_version`.
    Azure,
    /// Any OpenAI-compatible server at `base_url` (Ollama, vLLM, llama.cpp server).
    Compatible,
}

/// The chat model. Nothing set: the dev stack's development model.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// `APP_MODEL__PROVIDER`: `openai`, `azure` or `compatible` (the default when `base_url` is set).
    pub provider: Option<ModelProvider>,
    /// `APP_MODEL__BASE_URL`: e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama), or
    /// the Azure resource endpoint `https://<resource>.openai.azure.com`.
    pub base_url: Option<String>,
    /// `APP_MODEL__API_KEY` (never logged).
    pub api_key: Option<String>,
    /// `APP_MODEL__MODEL`: the model name sent with each request (OpenAI-compatible servers).
    pub model: String,
    /// `APP_MODEL__DEPLOYMENT`: Azure OpenAI deployment name.
    pub deployment: Option<String>,
    /// `APP_MODEL__API_VERSION`: Azure OpenAI API version.
    pub api_version: String,
    /// `APP_MODEL__TIMEOUT_SECS`: longest wait for the model's next streamed piece.
    pub timeout_secs: u64,
    /// `APP_MODEL__MAX_ATTEMPTS`: attempts per model turn on a timeout or a cut-off stream (429 and 5xx
    /// are also retried, with backoff, inside each attempt).
    pub max_attempts: u32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            provider: None,
            base_url: None,
            api_key: None,
            model: "portcullis-dev".to_owned(),
            deployment: None,
            api_version: "2024-10-21".to_owned(),
            timeout_secs: 60,
            max_attempts: 3,
        }
    }
}

impl ModelConfig {
    /// A model is configured: the development model is not started.
    pub fn is_configured(&self) -> bool {
        self.provider.is_some() || self.base_url.is_some()
    }
}

/// The agent loop (`APP_AGENT__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// `APP_AGENT__STEP_LIMIT`: model turns per user message before the agent stops.
    pub step_limit: u32,
    /// `APP_AGENT__ELICITATION_TIMEOUT_SECS`: how long an elicitation form waits before it is cancelled.
    pub elicitation_timeout_secs: u64,
    /// `APP_AGENT__TOOL_TIMEOUT_SECS`: longest tool call (elicitation time not counted).
    pub tool_timeout_secs: u64,
    /// `APP_AGENT__SYSTEM_PROMPT`.
    pub system_prompt: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            step_limit: 8,
            elicitation_timeout_secs: 300,
            tool_timeout_secs: 60,
            system_prompt:
                "You are Portcullis, an assistant that uses the tools offered to act for the \
                            signed-in user. Call a tool when it helps; state tool results plainly."
                    .to_owned(),
        }
    }
}

/// The dev stack's deterministic model endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevModelConfig {
    /// Listen address (`APP_DEV_MODEL__BIND`).
    pub bind: SocketAddr,
}

impl Default for DevModelConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3500)),
        }
    }
}

fn optional_comma_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    comma_list(deserializer).map(Some)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Settings of the development identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DevIdpConfig {
    /// Listen address; loopback only. `APP_DEV_IDP__BIND`.
    pub bind: SocketAddr,
    /// Tenant id in the issuer path and in `tid`. `APP_DEV_IDP__TENANT_ID`.
    pub tenant_id: String,
    /// Dev users as `name[:Display Name]`, comma-separated. `APP_DEV_IDP__USERS`.
    #[serde(deserialize_with = "comma_list")]
    pub users: Vec<String>,
    /// Resources (APIs) and their delegated scopes as `app-id-uri=scope scope`, comma-separated.
    /// `APP_DEV_IDP__RESOURCES`.
    #[serde(deserialize_with = "comma_list")]
    pub resources: Vec<String>,
    /// Access- and ID-token lifetime. `APP_DEV_IDP__ACCESS_TOKEN_LIFETIME_SECS`.
    pub access_token_lifetime_secs: u64,
    /// Refresh-token lifetime. `APP_DEV_IDP__REFRESH_TOKEN_LIFETIME_SECS`.
    pub refresh_token_lifetime_secs: u64,
    /// How long a retired signing key stays in the JWKS. `APP_DEV_IDP__KEY_GRACE_SECS`.
    pub key_grace_secs: u64,
    /// The web app's client id. `APP_DEV_IDP__WEB_CLIENT_ID`.
    pub web_client_id: String,
    /// The web app's client secret; generated and kept under the data folder when unset.
    /// `APP_DEV_IDP__WEB_CLIENT_SECRET`.
    pub web_client_secret: Option<String>,
    /// The web app's redirect URI. `APP_DEV_IDP__WEB_REDIRECT_URI`.
    pub web_redirect_uri: String,
    /// Where the web app may ask to land after sign-out. `APP_DEV_IDP__WEB_POST_LOGOUT_REDIRECT_URI`.
    pub web_post_logout_redirect_uri: String,
    /// The console client's id (public client, loopback redirect). `APP_DEV_IDP__CONSOLE_CLIENT_ID`.
    pub console_client_id: String,
    /// Lets the dev IdP start although `APP_ENVIRONMENT=production`. The name says what it is for.
    /// `APP_DEV_IDP__ALLOW_IN_PRODUCTION_FOR_DEVELOPMENT_ONLY`.
    pub allow_in_production_for_development_only: bool,
}

impl Default for DevIdpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3400)),
            tenant_id: "7d3c3a8e-5b0f-4c1e-9a52-d1e5f0c0de00".to_owned(),
            users: vec!["alice:Alice Smith".to_owned(), "bob:Bob Jones".to_owned()],
            resources: vec!["api://portcullis-mcp=mcp:tools".to_owned()],
            access_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 14 * 24 * 3600,
            key_grace_secs: 24 * 3600,
            web_client_id: "portcullis-web".to_owned(),
            web_client_secret: None,
            web_redirect_uri: "http://127.0.0.1:3000/auth/callback".to_owned(),
            web_post_logout_redirect_uri: "http://127.0.0.1:3000/".to_owned(),
            console_client_id: "portcullis-console".to_owned(),
            allow_in_production_for_development_only: false,
        }
    }
}

/// `a, b,c` → `["a", "b", "c"]`; also accepts a list.
fn comma_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    let items = match Either::deserialize(deserializer)? {
        Either::One(s) => s.split(',').map(str::to_owned).collect(),
        Either::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".data")
}

/// Bad configuration: names the variable so the operator can fix it from one line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads `APP_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Env::prefixed("APP_").split("__")))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|error| {
            let key = error
                .path
                .iter()
                .map(|segment| segment.to_uppercase())
                .collect::<Vec<_>>()
                .join("__");
            ConfigError(if key.is_empty() {
                error.to_string()
            } else {
                format!("APP_{key}: {}", error.kind)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_apply_without_variables() {
        Jail::expect_with(|_| {
            let config = Config::from_env().expect("defaults are valid");
            assert_eq!(config.data_dir, PathBuf::from(".data"));
            Ok(())
        });
    }

    #[test]
    fn dev_idp_settings_nest_under_app_dev_idp() {
        Jail::expect_with(|jail| {
            jail.set_env("APP_DEV_IDP__BIND", "127.0.0.1:4400");
            jail.set_env("APP_DEV_IDP__USERS", "carol:Carol King, dan");
            jail.set_env("APP_DEV_IDP__ACCESS_TOKEN_LIFETIME_SECS", "5");
            jail.set_env("APP_ENVIRONMENT", "production");
            let config = Config::from_env().expect("valid");
            assert_eq!(config.dev_idp.bind.port(), 4400);
            assert_eq!(config.dev_idp.users, ["carol:Carol King", "dan"]);
            assert_eq!(config.dev_idp.access_token_lifetime_secs, 5);
            assert_eq!(config.dev_idp.web_client_id, "portcullis-web");
            assert_eq!(config.environment, Environment::Production);
            Ok(())
        });
    }

    #[test]
    fn model_settings_nest_under_app_model() {
        Jail::expect_with(|jail| {
            assert!(!Config::from_env().expect("valid").model.is_configured());
            jail.set_env("APP_MODEL__PROVIDER", "azure");
            jail.set_env("APP_MODEL__BASE_URL", "https://example.openai.azure.com");
            jail.set_env("APP_MODEL__DEPLOYMENT", "gpt-4o");
            jail.set_env("APP_AGENT__STEP_LIMIT", "3");
            let config = Config::from_env().expect("valid");
            assert_eq!(config.model.provider, Some(ModelProvider::Azure));
            assert_eq!(config.model.deployment.as_deref(), Some("gpt-4o"));
            assert!(config.model.is_configured());
            assert_eq!(config.agent.step_limit, 3);
            jail.set_env("APP_MODEL__PROVIDER", "bard");
            let error = Config::from_env().unwrap_err().to_string();
            assert!(error.contains("APP_MODEL__PROVIDER"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("APP_DEV_IDP__BIND", "nowhere");
            let error = Config::from_env().unwrap_err().to_string();
            assert!(error.contains("APP_DEV_IDP__BIND"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn data_dir_comes_from_app_data_dir() {
        Jail::expect_with(|jail| {
            jail.set_env("APP_DATA_DIR", "/var/lib/portcullis");
            let config = Config::from_env().expect("valid");
            assert_eq!(config.data_dir, PathBuf::from("/var/lib/portcullis"));
            Ok(())
        });
    }
}
