//! The embedded development identity provider: an OpenID Connect / OAuth 2.0 server shaped like
//! Microsoft Entra ID v2, so that on a machine with no cloud tenant the web app, mcp-tools and any
//! third-party MCP client run their production code paths against it. Point the configuration at Entra
//! ID (or any OIDC provider) and it is simply not started.
//!
//! Modules:
//! - `directory`: dev users, resources (APIs) and the scope grammar.
//! - `store`: SQLite state under the data folder (keys, clients, codes, refresh tokens).
//! - `keys`: RS256 signing keys, JWKS, rotation.
//! - `tokens`: minting access and ID tokens with Entra v2 claims.
//! - `pages`: the HTML pages (maud templates): sign-in, sign-in errors, signed out.
//! - `authorize`: the authorization endpoint (shows the sign-in page, takes the user's choice).
//! - `token`: the token endpoint: client authentication and errors (`token`), the grants
//!   (`token::grants`: code, refresh, client credentials, on-behalf-of).
//! - `discovery`: the OIDC / RFC 8414 metadata (openidconnect's provider-side types) and the JWKS.
//! - `endpoints`: userinfo, logout, key rotation.
//! - `register`: RFC 7591 dynamic registration of public clients.
//!
//! It binds loopback only and refuses to run in production unless a variable whose name says it is for
//! development allows it. It logs no code, token or secret.

mod authorize;
mod directory;
mod discovery;
mod endpoints;
mod keys;
mod pages;
mod register;
mod store;
mod token;
mod tokens;

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use anyhow::{Context, bail};
use axum::{
    Router,
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use service_kit::{db::write_private, serve};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;

pub use directory::{DevUser, GRAPH_AUDIENCE, Resource, stable_guid};
use store::{ClientRow, Store};

use crate::IdpConfig;

/// 32 random bytes, base64url: codes, refresh tokens, secrets.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Everything the handlers share.
pub(crate) struct Inner {
    /// `http://127.0.0.1:3400` (no trailing slash).
    base_url: String,
    tenant_id: String,
    users: Vec<DevUser>,
    resources: Vec<Resource>,
    access_token_lifetime: i64,
    refresh_token_lifetime: i64,
    store: Store,
    keys: keys::Keys,
}

impl Inner {
    /// `{base}/{tenant}/v2.0`, the `iss` of every token.
    pub(crate) fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.base_url, self.tenant_id)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.base_url, self.tenant_id)
    }

    fn user(&self, username: &str) -> Option<&DevUser> {
        self.users.iter().find(|u| u.username == username)
    }
}

/// A running (or ready to run) development IdP.
#[derive(Clone)]
pub struct DevIdp {
    inner: Arc<Inner>,
    web_client: WebClient,
}

/// The web app's registration at the dev IdP (what a relying party needs to sign in with it).
#[derive(Debug, Clone)]
pub struct WebClient {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
}

impl DevIdp {
    /// Opens (or creates) the IdP state under `data_dir/dev-idp/` for an IdP served at `base_url`.
    pub async fn open(config: &IdpConfig, data_dir: &Path, base_url: &str) -> anyhow::Result<Self> {
        let dir = data_dir.join("dev-idp");
        let store = Store::open(&dir.join("dev-idp.db")).await?;
        let keys = keys::Keys::open(store.clone(), config.key_grace).await?;
        let users = directory::users(&config.users, &config.tenant_id)?;
        let mut resources = config.resources.clone();
        // The web app is an API too (Entra: "expose an API"): tokens for it can be exchanged on behalf
        // of the user. Its tokens carry the client id as `aud`, as Entra v2 tokens do.
        resources.push(Resource {
            app_id_uri: format!("api://{}", config.web_client_id),
            audience: config.web_client_id.clone(),
            scopes: vec!["access_as_user".to_owned()],
        });
        let web_client_secret = match &config.web_client_secret {
            Some(secret) if !secret.expose_secret().is_empty() => secret.clone(),
            _ => load_or_create_secret(&dir.join("web-client-secret")).await?,
        };
        let inner = Arc::new(Inner {
            base_url: base_url.trim_end_matches('/').to_owned(),
            tenant_id: config.tenant_id.clone(),
            users,
            resources,
            access_token_lifetime: i64::try_from(config.access_token_lifetime.as_secs())?,
            refresh_token_lifetime: i64::try_from(config.refresh_token_lifetime.as_secs())?,
            store,
            keys,
        });
        let idp = Self {
            inner,
            web_client: WebClient {
                client_id: config.web_client_id.clone(),
                client_secret: web_client_secret,
                redirect_uri: config.web_redirect_uri.clone(),
            },
        };
        idp.register_well_known_clients(config).await?;
        Ok(idp)
    }

    async fn register_well_known_clients(&self, config: &IdpConfig) -> anyhow::Result<()> {
        let store = &self.inner.store;
        store
            .upsert_client(&ClientRow {
                client_id: config.web_client_id.clone(),
                name: "Portcullis web app".to_owned(),
                secret_sha256: Some(store::digest(self.web_client.client_secret.expose_secret())),
                redirect_uris: sqlx::types::Json(vec![config.web_redirect_uri.clone()]),
                post_logout_redirect_uris: sqlx::types::Json(vec![
                    config.web_post_logout_redirect_uri.clone(),
                ]),
                app_roles: sqlx::types::Json(vec!["Tools.ReadWrite.All".to_owned()]),
                dynamic: false,
            })
            .await?;
        store
            .upsert_client(&ClientRow {
                client_id: config.console_client_id.clone(),
                name: "Portcullis console".to_owned(),
                secret_sha256: None,
                // Loopback redirect: any port is accepted (RFC 8252 §7.3).
                redirect_uris: sqlx::types::Json(vec!["http://127.0.0.1/callback".to_owned()]),
                post_logout_redirect_uris: sqlx::types::Json(vec![]),
                app_roles: sqlx::types::Json(vec![]),
                dynamic: false,
            })
            .await
    }

    pub fn issuer(&self) -> String {
        self.inner.issuer()
    }

    /// The tenant id in the issuer path and in `tid`.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    pub fn users(&self) -> &[DevUser] {
        &self.inner.users
    }

    /// The web app's registration; its secret is configured or generated under the data folder.
    pub fn web_client(&self) -> &WebClient {
        &self.web_client
    }

    /// The web app's client secret.
    pub fn web_client_secret(&self) -> &SecretString {
        &self.web_client.client_secret
    }

    /// Revokes every refresh token `username` holds at `client_id` (an administrator's "sign out
    /// everywhere"); returns how many were revoked.
    pub async fn revoke_grants(&self, username: &str, client_id: &str) -> anyhow::Result<u64> {
        self.inner
            .store
            .revoke_user_client(username, client_id)
            .await
    }

    pub fn router(&self) -> Router {
        let t = "/{tenant}";
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(discovery::discovery),
            )
            .route(
                &format!("{t}/v2.0/.well-known/openid-configuration"),
                get(discovery::discovery),
            )
            .route(
                &format!("{t}/v2.0/.well-known/oauth-authorization-server"),
                get(discovery::discovery),
            )
            .route(
                "/.well-known/oauth-authorization-server/{tenant}/v2.0",
                get(discovery::discovery),
            )
            .route(&format!("{t}/discovery/v2.0/keys"), get(discovery::jwks))
            .route(
                &format!("{t}/oauth2/v2.0/authorize"),
                get(authorize::show).post(authorize::submit),
            )
            .route(&format!("{t}/oauth2/v2.0/token"), post(token::token))
            .route(
                &format!("{t}/oauth2/v2.0/logout"),
                get(endpoints::logout_get).post(endpoints::logout_post),
            )
            .route(
                &format!("{t}/openid/v2.0/userinfo"),
                get(endpoints::userinfo).post(endpoints::userinfo),
            )
            .route(
                &format!("{t}/oauth2/v2.0/register"),
                post(register::register),
            )
            .route("/dev/rotate-keys", post(endpoints::rotate_keys))
            .layer(RequestBodyLimitLayer::new(64 * 1024))
            .with_state(self.inner.clone())
    }
}

async fn load_or_create_secret(path: &Path) -> anyhow::Result<SecretString> {
    match tokio::fs::read_to_string(path).await {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().into()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let secret = random_token();
    write_private(path, &secret).await?;
    Ok(secret.into())
}

/// Binds the dev IdP's listener after the safety checks: loopback only, and not in production
/// (`in_production`: the front-end's environment says so) unless explicitly allowed for development.
pub async fn bind(config: &IdpConfig, in_production: bool) -> anyhow::Result<TcpListener> {
    if in_production && !config.allow_in_production_for_development_only {
        bail!(
            "the development identity provider does not run with APP_ENVIRONMENT=production; configure a real \
             authority, or set APP_DEV_IDP__ALLOW_IN_PRODUCTION_FOR_DEVELOPMENT_ONLY=true"
        );
    }
    if !config.bind.ip().is_loopback() {
        bail!(
            "APP_DEV_IDP__BIND must be a loopback address, got {}",
            config.bind
        );
    }
    TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding the dev IdP on APP_DEV_IDP__BIND={}", config.bind))
}

/// Opens the IdP for `listener`'s address and serves it until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    config: &IdpConfig,
    data_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(DevIdp, tokio::task::JoinHandle<()>)> {
    let addr: SocketAddr = listener.local_addr()?;
    let idp = DevIdp::open(config, data_dir, &format!("http://{addr}")).await?;
    let users: Vec<&str> = idp.users().iter().map(|u| u.username.as_str()).collect();
    tracing::warn!(
        issuer = %idp.issuer(),
        users = %users.join(", "),
        "DEVELOPMENT identity provider running: sign-in without passwords, not for production"
    );
    let app = idp.router();
    let handle = tokio::spawn(serve::serve(listener, app, serve::IDLE_TIMEOUT, shutdown));
    Ok((idp, handle))
}
