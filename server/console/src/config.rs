//! Typed configuration of the console, by the web app's names where they mean the same thing:
//! `APP_MCP_SERVERS`, `APP_AUTH__AUTHORITY`; console-only settings under `APP_CONSOLE__*`. A TOML file
//! (`<home>/config.toml`, or `--config`) gives the same keys without the `APP_` prefix, lower case and
//! nested (`mcp_servers = […]`, `[auth] authority = …`, `[console] client_id = …`); the environment wins
//! over the file. A bad value stops the console with one line naming the variable (exit code 2).
//!
//! `<home>` is `PORTCULLIS_CONSOLE_HOME`, else `<user config dir>/portcullis-console` (Linux
//! `~/.config/portcullis-console`, macOS `~/Library/Application Support/portcullis-console`). It holds
//! the config file, the encrypted token cache and, where no OS keyring is used, the cache's key.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use agent::{
    mcp::{ServerSpec, SpecError},
    settings::{AgentSettings, ModelSettings},
};
use figment::{Figment, providers::Serialized};
use serde::Deserialize;
use service_kit::config::{ConfigError, env, extract, optional_comma_list, secs};
use url::Url;

/// The variable naming the console's folder (tests point it at a temporary one).
pub const HOME_VAR: &str = "PORTCULLIS_CONSOLE_HOME";
const PREFIX: &str = "APP_";

/// The dev stack's mcp-tools, what `make run` starts: the server list when none is configured.
pub const DEFAULT_SERVER: &str = "tools=http://127.0.0.1:8081/mcp api://portcullis-mcp/mcp:tools";

/// The development model `make run` starts (`APP_DEV_MODEL__BIND`'s default): the chat's model when
/// none is configured.
pub const DEV_MODEL_URL: &str = "http://127.0.0.1:3500/v1";

/// The console's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// MCP servers as `name=url [scope] [protocol=…]`, comma-separated (`APP_MCP_SERVERS`, the web app's
    /// syntax; the console also takes an entry without a scope and then asks for the scopes the server's
    /// protected-resource metadata lists). Unset: the dev stack's mcp-tools as `tools`.
    #[serde(default, deserialize_with = "optional_comma_list")]
    pub mcp_servers: Option<Vec<ServerEntry>>,
    /// `APP_AUTH__*`: only the authority is shared with the web app (its client is confidential).
    #[serde(default)]
    pub auth: AuthSection,
    /// `APP_CONSOLE__*`.
    #[serde(default)]
    pub console: ConsoleSection,
    /// The chat's model (`APP_MODEL__*`, as the web app's); nothing set: the dev stack's development
    /// model at [`DEV_MODEL_URL`].
    #[serde(default)]
    pub model: ModelSettings,
    /// The chat loop's limits and instructions (`APP_AGENT__*`, as the web app's).
    #[serde(default)]
    pub agent: AgentSettings,
}

/// Where users sign in.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthSection {
    /// OIDC issuer for every server (`APP_AUTH__AUTHORITY`), compared exactly as written. Unset: each
    /// server's authorization server is discovered from its 401 (RFC 9728 metadata).
    pub authority: Option<String>,
}

/// Settings only the console has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsoleSection {
    /// A pre-registered public client id (`APP_CONSOLE__CLIENT_ID`; the dev IdP's is
    /// `portcullis-console`, Entra: the app registration's client id). Unset: RFC 7591 dynamic
    /// registration where the authorization server offers it.
    pub client_id: Option<String>,
    /// Open the system browser for sign-in (`APP_CONSOLE__OPEN_BROWSER`); the URL is printed anyway.
    pub open_browser: bool,
    /// Where the token cache's key lives (`APP_CONSOLE__KEY_STORE`): `auto` (the OS keyring when it
    /// works, else a key file), `keyring`, or `file`.
    pub key_store: KeyStoreChoice,
    /// The loopback redirect URI as registered, without a port (`APP_CONSOLE__REDIRECT_URI`, default
    /// `http://127.0.0.1/callback`; Entra's portal registers `http://localhost`). Sign-in listens on
    /// that loopback address on a port the OS picks and adds the port (RFC 8252 §7.3).
    pub redirect_uri: LoopbackRedirect,
    /// Longest wait for the browser to come back to the console (`APP_CONSOLE__SIGN_IN_TIMEOUT_SECS`).
    #[serde(rename = "sign_in_timeout_secs", deserialize_with = "secs")]
    pub sign_in_timeout: Duration,
    /// Sign in with the device authorization grant (RFC 8628) instead of the browser
    /// (`APP_CONSOLE__DEVICE`, or `--device`): a page and a code to enter on any device, for SSH.
    pub device: bool,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        Self {
            client_id: None,
            open_browser: true,
            key_store: KeyStoreChoice::Auto,
            redirect_uri: LoopbackRedirect::default(),
            sign_in_timeout: Duration::from_secs(300),
            device: false,
        }
    }
}

/// Where the token cache's key is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStoreChoice {
    /// The OS keyring when one answers, else a key file.
    #[default]
    Auto,
    /// The OS keyring only (fails where there is none).
    Keyring,
    /// A key file beside the cache (mode 0600).
    File,
}

/// A loopback redirect URI without a port: `http://127.0.0.1/…`, `http://[::1]/…` or
/// `http://localhost/…`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LoopbackRedirect {
    /// Exactly as configured (providers compare redirect URIs as strings: `http://localhost` is not
    /// `http://localhost/` everywhere).
    raw: String,
    url: Url,
}

impl Default for LoopbackRedirect {
    fn default() -> Self {
        Self::try_from("http://127.0.0.1/callback".to_owned()).expect("a valid redirect")
    }
}

impl TryFrom<String> for LoopbackRedirect {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        let url = Url::parse(&raw).map_err(|e| format!("not a URL: {e}"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        if url.scheme() != "http" || !loopback {
            return Err("must be http://127.0.0.1/…, http://[::1]/… or http://localhost/…".into());
        }
        if url.port().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "must have no port, query or fragment (the port is chosen at sign-in)".into(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must have no user information".into());
        }
        Ok(Self { raw, url })
    }
}

impl LoopbackRedirect {
    /// As registered (no port).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The address to listen on: IPv6 loopback for `[::1]`, else IPv4's (also for `localhost`, as
    /// RFC 8252 §8.3 advises).
    pub fn listen_ip(&self) -> std::net::IpAddr {
        match self.url.host_str() {
            Some("[::1]") => std::net::Ipv6Addr::LOCALHOST.into(),
            _ => std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    /// The path the listener answers.
    pub fn path(&self) -> &str {
        self.url.path()
    }

    /// As configured, with the port the listener got after the host.
    pub fn with_port(&self, port: u16) -> String {
        let after_scheme = self.raw.find("://").map_or(0, |i| i + 3);
        let host_end = self.raw[after_scheme..]
            .find('/')
            .map_or(self.raw.len(), |i| after_scheme + i);
        format!("{}:{port}{}", &self.raw[..host_end], &self.raw[host_end..])
    }
}

/// One configured server. The scope may be left out: it then comes from the server's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The server with its scope (empty until discovery when none was configured).
    pub spec: ServerSpec,
    pub scope_configured: bool,
}

impl FromStr for ServerEntry {
    type Err = SpecError;

    fn from_str(entry: &str) -> Result<Self, SpecError> {
        // `name=url` or `name=url protocol=…`: no scope. Anything else is the web app's syntax.
        if let Some((name, rest)) = entry.split_once('=') {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let scopeless = match parts.as_slice() {
                [_] => true,
                [_, second] => second.starts_with("protocol="),
                _ => false,
            };
            if scopeless {
                let with_placeholder = format!("{name}={} - {}", parts[0], parts[1..].join(" "));
                let mut spec: ServerSpec = with_placeholder.parse()?;
                spec.scope = String::new();
                return Ok(Self {
                    spec,
                    scope_configured: false,
                });
            }
        }
        Ok(Self {
            spec: entry.parse()?,
            scope_configured: true,
        })
    }
}

impl Config {
    /// Reads the config file (when present) and then `APP_*` from the environment.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let table: toml::Table = toml::from_str(&text).map_err(|e| {
                    ConfigError::other(format!("{}: {}", file.display(), e.message()))
                })?;
                figment = figment.merge(Serialized::defaults(table));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(ConfigError::other(format!("{}: {error}", file.display())));
            }
        }
        let config: Self = extract(&figment.merge(env(PREFIX)), PREFIX)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let servers = self.servers();
        for (i, server) in servers.iter().enumerate() {
            if servers[..i].iter().any(|s| s.spec.name == server.spec.name) {
                return Err(ConfigError::new(
                    "APP_MCP_SERVERS",
                    format!("the name {:?} is used twice", server.spec.name),
                ));
            }
        }
        if let Some(authority) = &self.auth.authority
            && Url::parse(authority).is_err()
        {
            return Err(ConfigError::new("APP_AUTH__AUTHORITY", "not a URL"));
        }
        if self.console.client_id.as_deref() == Some("") {
            return Err(ConfigError::new("APP_CONSOLE__CLIENT_ID", "is empty"));
        }
        Ok(())
    }

    /// The configured servers, or the dev stack's mcp-tools.
    pub fn servers(&self) -> Vec<ServerEntry> {
        match &self.mcp_servers {
            Some(servers) => servers.clone(),
            None => vec![
                DEFAULT_SERVER
                    .parse()
                    .expect("the default server entry is valid"),
            ],
        }
    }
}

/// The console's folder.
#[derive(Debug, Clone)]
pub struct Home(PathBuf);

impl Home {
    /// `PORTCULLIS_CONSOLE_HOME`, else `<user config dir>/portcullis-console`.
    pub fn locate() -> Result<Self, ConfigError> {
        if let Some(dir) = std::env::var_os(HOME_VAR).filter(|d| !d.is_empty()) {
            return Ok(Self(PathBuf::from(dir)));
        }
        dirs::config_dir()
            .map(|dir| Self(dir.join("portcullis-console")))
            .ok_or_else(|| {
                ConfigError::other(format!(
                    "no user configuration folder is known here; set {HOME_VAR}"
                ))
            })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    pub fn config_file(&self) -> PathBuf {
        self.0.join("config.toml")
    }

    /// The chat's conversations (SQLite, mode 0600).
    pub fn conversations(&self) -> PathBuf {
        self.0.join("conversations.db")
    }

    /// The encrypted token cache.
    pub fn token_cache(&self) -> PathBuf {
        self.0.join("tokens.bin")
    }

    /// The cache's key when it is kept in a file.
    pub fn key_file(&self) -> PathBuf {
        self.0.join("tokens.key")
    }
}

#[cfg(test)]
// `figment::Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use agent::mcp::Protocol;
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_are_the_dev_stack() {
        Jail::expect_with(|jail| {
            let config = Config::load(&jail.directory().join("none.toml")).expect("valid");
            let servers = config.servers();
            assert_eq!(servers.len(), 1);
            assert_eq!(servers[0].spec.name, "tools");
            assert_eq!(servers[0].spec.url.as_str(), "http://127.0.0.1:8081/mcp");
            assert_eq!(servers[0].spec.scope, "api://portcullis-mcp/mcp:tools");
            assert!(config.auth.authority.is_none());
            assert!(config.console.client_id.is_none());
            assert!(config.console.open_browser);
            assert_eq!(config.console.key_store, KeyStoreChoice::Auto);
            Ok(())
        });
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "config.toml",
                r#"
mcp_servers = ["sales=http://127.0.0.1:9000/mcp", "tools=http://127.0.0.1:8081/mcp api://x/mcp:tools protocol=legacy"]
[auth]
authority = "https://login.example.com/tenant/v2.0"
[console]
client_id = "from-file"
open_browser = false
"#,
            )?;
            jail.set_env("APP_CONSOLE__CLIENT_ID", "from-env");
            jail.set_env("APP_CONSOLE__KEY_STORE", "file");
            let config = Config::load(&jail.directory().join("config.toml")).expect("valid");
            let servers = config.servers();
            assert_eq!(servers[0].spec.name, "sales");
            assert!(!servers[0].scope_configured);
            assert_eq!(servers[0].spec.scope, "");
            assert_eq!(servers[1].spec.protocol, Protocol::Legacy);
            assert!(servers[1].scope_configured);
            assert_eq!(
                config.auth.authority.as_deref(),
                Some("https://login.example.com/tenant/v2.0")
            );
            assert_eq!(config.console.client_id.as_deref(), Some("from-env"));
            assert!(!config.console.open_browser);
            assert_eq!(config.console.key_store, KeyStoreChoice::File);
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_variable() {
        Jail::expect_with(|jail| {
            let file = jail.directory().join("none.toml");
            jail.set_env("APP_MCP_SERVERS", "tools=not a url");
            let error = Config::load(&file).unwrap_err().to_string();
            assert!(error.contains("APP_MCP_SERVERS"), "{error}");
            jail.set_env(
                "APP_MCP_SERVERS",
                "a=http://h/mcp s, a=http://h2/mcp s protocol=legacy",
            );
            let error = Config::load(&file).unwrap_err().to_string();
            assert!(error.contains("used twice"), "{error}");
            jail.set_env("APP_MCP_SERVERS", "a=http://h/mcp s");
            jail.set_env("APP_CONSOLE__KEY_STORE", "vault");
            let error = Config::load(&file).unwrap_err().to_string();
            assert!(error.contains("APP_CONSOLE__KEY_STORE"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn redirects_must_be_loopback_without_a_port() {
        let parse = |s: &str| LoopbackRedirect::try_from(s.to_owned());
        let default = LoopbackRedirect::default();
        assert_eq!(default.with_port(5000), "http://127.0.0.1:5000/callback");
        let entra = parse("http://localhost").unwrap();
        assert_eq!(entra.with_port(5000), "http://localhost:5000");
        assert_eq!(entra.as_str(), "http://localhost");
        assert_eq!(entra.path(), "/");
        assert!(entra.listen_ip().is_loopback());
        assert!(parse("http://[::1]/cb").unwrap().listen_ip().is_ipv6());
        assert!(parse("https://127.0.0.1/callback").is_err());
        assert!(parse("http://example.com/callback").is_err());
        assert!(parse("http://127.0.0.1:8080/callback").is_err());
    }

    #[test]
    fn entries_without_a_scope_parse() {
        let entry: ServerEntry = "sales=http://127.0.0.1:9/mcp protocol=2026-07-28"
            .parse()
            .unwrap();
        assert!(!entry.scope_configured);
        assert_eq!(entry.spec.protocol, Protocol::Modern);
        assert!("nourl".parse::<ServerEntry>().is_err());
    }
}
