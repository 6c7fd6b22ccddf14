//! The sales server's typed configuration from `SALES_*` environment variables (`__` nests:
//! `SALES_AUTH__AUDIENCE`), or built in code. The listener, URL and caller settings are the same
//! [`ResourceConfig`] mcp-tools reads under `MCP_`, with the sales defaults: `127.0.0.1:8082`, audience
//! `api://portcullis-sales`, scope `sales:read`. Bad or missing values stop start-up with one line
//! naming the variable. The sales server holds no secrets.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use service_kit::config::{self, ConfigError, optional_comma_list};
use url::Url;

use crate::config::{RawAuth, RawResource, ResourceConfig, ResourceDefaults};

/// The prefix of every variable.
const PREFIX: &str = "SALES_";

/// The sales server's default audience (resource identifier URI).
pub const SALES_AUDIENCE: &str = "api://portcullis-sales";
/// The delegated scope its tokens must carry.
pub const SALES_SCOPE: &str = "sales:read";

const DEFAULTS: ResourceDefaults = ResourceDefaults {
    prefix: PREFIX,
    port: 8082,
    scope: SALES_SCOPE,
    audience: Some(SALES_AUDIENCE),
};

/// The sales server's configuration, validated.
#[derive(Debug, Clone)]
pub struct SalesConfig {
    /// `SALES_BIND`, `SALES_PUBLIC_URL`, `SALES_AUTH__*`, `SALES_ALLOWED_ORIGINS`, `SALES_ALLOWED_HOSTS`.
    pub resource: ResourceConfig,
    /// The SQLite database of demo data (`SALES_DATABASE_URL`, default `sqlite://sales.db`).
    pub database_url: String,
}

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
}

impl SalesConfig {
    /// Reads `SALES_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_raw(config::extract(&config::env(PREFIX), PREFIX)?)
    }

    /// Builds a configuration in code; [`SalesConfigBuilder::build`] validates like
    /// [`SalesConfig::from_env`].
    pub fn builder(authority: impl Into<String>) -> SalesConfigBuilder {
        SalesConfigBuilder {
            raw: Raw {
                bind: None,
                public_url: None,
                auth: RawAuth::with_authority(authority.into()),
                allowed_origins: None,
                allowed_hosts: None,
                database_url: None,
            },
        }
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
            &DEFAULTS,
        )?;
        let database_url = raw
            .database_url
            .unwrap_or_else(|| "sqlite://sales.db".to_owned());
        if !database_url.starts_with("sqlite:") {
            return Err(ConfigError::new(
                "SALES_DATABASE_URL",
                "must be a sqlite: URL, e.g. sqlite://sales.db",
            ));
        }
        Ok(Self {
            resource,
            database_url,
        })
    }
}

/// Code-side construction of a [`SalesConfig`].
pub struct SalesConfigBuilder {
    raw: Raw,
}

impl SalesConfigBuilder {
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.raw.bind = Some(bind);
        self
    }
    pub fn public_url(mut self, url: Url) -> Self {
        self.raw.public_url = Some(url);
        self
    }
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.raw.auth.audience = Some(vec![audience.into()]);
        self
    }
    pub fn tenant_id(mut self, tenant: impl Into<String>) -> Self {
        self.raw.auth.tenant_id = Some(tenant.into());
        self
    }
    /// The scopes the RFC 9728 metadata advertises, as clients must request them (for Entra the
    /// qualified `api://portcullis-sales/sales:read`; MCP SDK clients ask for exactly these).
    pub fn scopes_supported(mut self, scopes: Vec<String>) -> Self {
        self.raw.auth.scopes_supported = Some(scopes);
        self
    }
    pub fn jwks_cooldown_secs(mut self, secs: u64) -> Self {
        self.raw.auth.jwks_cooldown = Duration::from_secs(secs);
        self
    }
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.raw.database_url = Some(url.into());
        self
    }
    pub fn build(self) -> Result<SalesConfig, ConfigError> {
        SalesConfig::from_raw(self.raw)
    }
}

#[cfg(test)]
// `figment::Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_are_the_sales_resource_on_port_8082() {
        Jail::expect_with(|jail| {
            jail.set_env("SALES_AUTH__AUTHORITY", "http://127.0.0.1:3400/dev/v2.0");
            // mcp-tools' variables are not the sales server's.
            jail.set_env("MCP_AUTH__AUDIENCE", "api://portcullis-mcp");
            let config = SalesConfig::from_env().expect("valid");
            let resource = &config.resource;
            assert_eq!(resource.bind.to_string(), "127.0.0.1:8082");
            assert_eq!(resource.public_url.as_str(), "http://127.0.0.1:8082/mcp");
            assert_eq!(resource.auth.audiences, [SALES_AUDIENCE]);
            assert_eq!(resource.auth.scope, SALES_SCOPE);
            assert_eq!(resource.auth.scopes_supported, [SALES_SCOPE]);
            assert!(
                resource
                    .allowed_hosts
                    .contains(&"localhost:8082".to_owned())
            );
            assert_eq!(config.database_url, "sqlite://sales.db");
            Ok(())
        });
    }

    #[test]
    fn nesting_uses_double_underscores_and_errors_name_sales_variables() {
        Jail::expect_with(|jail| {
            let error = SalesConfig::from_env().unwrap_err().to_string();
            assert!(error.contains("SALES_AUTH__AUTHORITY"), "{error}");
            jail.set_env("SALES_AUTH__AUTHORITY", "https://login.example.com/t/v2.0");
            jail.set_env("SALES_AUTH__AUDIENCE", "api://sales-a, api://sales-b");
            jail.set_env("SALES_DATABASE_URL", "sqlite:///var/lib/sales/sales.db");
            let config = SalesConfig::from_env().expect("valid");
            assert_eq!(
                config.resource.auth.audiences,
                ["api://sales-a", "api://sales-b"]
            );
            jail.set_env("SALES_AUTH__LEEWAY_SECS", "soon");
            let error = SalesConfig::from_env().unwrap_err().to_string();
            assert!(error.contains("SALES_AUTH__LEEWAY_SECS"), "{error}");
            Ok(())
        });
    }
}
