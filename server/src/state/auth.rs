//! Sign-in: the relying party's settings (the configured authority, or the development identity
//! provider), the token-cache key, and the auth state handlers share.

use std::sync::Arc;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use service_kit::db::write_private;

use super::DevSignIn;
use crate::{
    auth::{
        AuthState,
        oidc::{Oidc, RpSettings},
        token_cache::TokenCache,
    },
    config::Config,
};

/// The web app's registration at the provider users sign in with.
pub(super) fn relying_party(
    config: &Config,
    public_base: &str,
    dev: Option<&DevSignIn>,
) -> anyhow::Result<RpSettings> {
    let auth = &config.auth;
    let scopes = auth.scopes.clone();
    let rp = match (&auth.authority, dev) {
        (Some(authority), _) => RpSettings {
            issuer: authority.to_string(),
            client_id: auth
                .client_id
                .clone()
                .context("APP_AUTH__CLIENT_ID is required with APP_AUTH__AUTHORITY")?,
            client_secret: auth
                .client_secret
                .as_ref()
                .context("APP_AUTH__CLIENT_SECRET is required with APP_AUTH__AUTHORITY")?
                .expose_secret()
                .to_owned(),
            redirect_uri: match &auth.redirect_uri {
                Some(uri) => uri.to_string(),
                None => format!("{public_base}/auth/callback"),
            },
            scopes,
        },
        (None, Some(dev)) => RpSettings {
            issuer: dev.issuer.clone(),
            client_id: dev.client_id.clone(),
            client_secret: dev.client_secret.expose_secret().to_owned(),
            redirect_uri: dev.redirect_uri.clone(),
            scopes,
        },
        (None, None) => {
            bail!("APP_AUTH__AUTHORITY is not set and the dev identity provider is not running")
        }
    };
    Ok(rp)
}

/// The configured key, or the one generated into the data folder on first start.
async fn encoded_key(config: &Config) -> anyhow::Result<SecretString> {
    if let Some(key) = &config.token_cache_key {
        return Ok(key.clone());
    }
    let path = config.data_dir.join("token-cache.key");
    match tokio::fs::read_to_string(&path).await {
        Ok(key) => Ok(key.trim().into()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let encoded = STANDARD.encode(key);
            write_private(&path, &encoded).await?;
            tracing::info!(path = %path.display(), "generated a token-cache key");
            Ok(encoded.into())
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

async fn token_cache_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    let encoded = encoded_key(config).await?;
    let bytes = STANDARD
        .decode(encoded.expose_secret().trim())
        .context("APP_TOKEN_CACHE_KEY: not base64")?;
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!("APP_TOKEN_CACHE_KEY: must be 32 bytes (base64 of 32 random bytes)")
    })
}

/// The OIDC client, the encrypted token cache on the app database, and the session limits.
pub(super) async fn auth_state(
    config: &Config,
    public_base: &str,
    rp: RpSettings,
    app_db: &sqlx::AnyPool,
) -> anyhow::Result<Arc<AuthState>> {
    let sign_in_scope = rp.scopes.join(" ");
    let oidc = Arc::new(Oidc::new(rp)?);
    let key = token_cache_key(config).await?;
    let tokens = Arc::new(TokenCache::new(app_db.clone(), &key, oidc.clone()));
    Ok(Arc::new(AuthState {
        oidc,
        tokens,
        sign_in_scope,
        post_logout_redirect_uri: format!("{public_base}/"),
        absolute_timeout_secs: i64::try_from(config.auth.session_absolute.as_secs())
            .unwrap_or(i64::MAX),
    }))
}
