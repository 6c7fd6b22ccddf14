//! Typed settings of the stand-ins. A front-end embeds them in its own configuration (the web server
//! reads them from `APP_DEV_IDP__*` and `APP_DEV_MODEL__*`); every field has a default, so an empty
//! section starts a working stand-in.

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
    /// Resources (APIs) and their delegated scopes as `app-id-uri=scope scope`, comma-separated.
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
            resources: vec![Resource::new("api://portcullis-mcp", &["mcp:tools"])],
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(14 * 24 * 3600),
            key_grace: Duration::from_secs(24 * 3600),
            web_client_id: "portcullis-web".to_owned(),
            web_client_secret: None,
            web_redirect_uri: "http://127.0.0.1:3000/auth/callback".to_owned(),
            web_post_logout_redirect_uri: "http://127.0.0.1:3000/".to_owned(),
            console_client_id: "portcullis-console".to_owned(),
            allow_in_production_for_development_only: false,
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
    }

    #[test]
    fn settings_read_from_the_environment_with_typed_lists_and_durations() {
        Jail::expect_with(|jail| {
            jail.set_env("T_DEV_IDP__USERS", "carol:Carol King, dan");
            jail.set_env("T_DEV_IDP__RESOURCES", "api://a=read write");
            jail.set_env("T_DEV_IDP__KEY_GRACE_SECS", "7");
            jail.set_env("T_DEV_IDP__WEB_CLIENT_SECRET", "s3cret");
            let env: Env =
                service_kit::config::extract(&service_kit::config::env("T_"), "T_").expect("valid");
            let config = env.dev_idp;
            let users: Vec<_> = config.users.iter().map(ToString::to_string).collect();
            assert_eq!(users, ["carol:Carol King", "dan:Dan"]);
            assert_eq!(config.resources[0].scopes, ["read", "write"]);
            assert_eq!(config.key_grace, Duration::from_secs(7));
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
}
