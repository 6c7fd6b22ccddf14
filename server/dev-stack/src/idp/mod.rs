//! The embedded development identity provider: an OpenID Connect / OAuth 2.0 server shaped like
//! Microsoft Entra ID v2, so that on a machine with no cloud tenant the web app, mcp-tools and any
//! third-party MCP client run their production code paths against it. Point the configuration at Entra
//! ID (or any OIDC provider) and it is simply not started.
//!
//! Modules:
//! - `directory`: dev users, resources (APIs, Microsoft Graph among them) and the scope grammar.
//! - `indicators`: RFC 8707 `resource` parameters checked against each resource's identifier URIs
//!   (`invalid_target`, Entra's AADSTS9010010).
//! - `store`: SQLite state under the data folder (keys, clients, codes, refresh tokens, consents).
//! - `consent`: users' per-client consent to the scopes of resources that track it (Graph, sales):
//!   seeds (Graph), checks, consent-page tickets.
//! - `keys`: RS256 signing keys, JWKS, rotation.
//! - `tokens`: minting access and ID tokens with Entra v2 claims.
//! - `pages`: the HTML pages (maud templates): sign-in, consent, sign-in errors, signed out.
//! - `authorize`: the authorization endpoint (shows the sign-in page, takes the user's choice, asks
//!   for consent where a resource tracks it).
//! - `token`: the token endpoint: client authentication and errors (`token`), the grants
//!   (`token::grants`: code, refresh, client credentials, on-behalf-of, RFC 8693 token exchange,
//!   device code).
//! - `discovery`: the OIDC / RFC 8414 metadata (openidconnect's provider-side types) and the JWKS.
//! - `device`: the device authorization grant (RFC 8628): the `devicecode` endpoint, user codes, and
//!   the verification page (code, user, Accept); the polling grant is in `token::grants`.
//! - `endpoints`: userinfo, logout, key rotation, consent reset.
//! - `register`: RFC 7591 dynamic registration of public clients.
//!
//! It binds loopback only and refuses to run in production unless a variable whose name says it is for
//! development allows it. It logs no code, token or secret.

mod authorize;
mod consent;
mod device;
mod directory;
mod discovery;
mod endpoints;
mod indicators;
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
use url::Url;

pub use directory::{DevUser, GRAPH_AUDIENCE, GRAPH_RESOURCE, GRAPH_SCOPES, Resource, stable_guid};
use store::{ClientRow, ConsentRow, Store};
pub(crate) use tokens::AccessClaims;

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
    /// Identifier URIs registered while running (the MCP servers' URLs), beyond each resource's own.
    identifier_uris: indicators::IdentifierUris,
    access_token_lifetime: i64,
    refresh_token_lifetime: i64,
    /// RFC 8628: how long a device code lives, and the least seconds between polls.
    device_code_lifetime: i64,
    device_poll_interval: i64,
    store: Store,
    keys: keys::Keys,
    /// The configured consents (`APP_DEV_IDP__GRAPH_CONSENTS`), restored by a reset.
    consent_seed: Vec<ConsentRow>,
    /// Consent pages awaiting the user's answer.
    consent_tickets: consent::Tickets,
    /// Device verification pages awaiting the user's next step.
    device_tickets: consent::Tickets<device::Step>,
}

impl Inner {
    /// An access token this IdP issued: its signature (by `kid`), issuer, `exp` and `nbf` (30 s
    /// leeway), and, when given, one of `audiences`. The one check the Graph stand-in and the exchange
    /// grants share.
    pub(crate) fn verify_access_token(
        &self,
        token: &str,
        audiences: Option<&[String]>,
    ) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
        let header = jsonwebtoken::decode_header(token)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.decoding_key(kid))
            .ok_or_else(|| jsonwebtoken::errors::Error::from(ErrorKind::InvalidSignature))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.issuer()]);
        match audiences {
            Some(audiences) => validation.set_audience(audiences),
            None => validation.validate_aud = false,
        }
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Ok(jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)?.claims)
    }

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

    /// RFC 8707: every `resource` parameter of a request must identify the resource its scopes name.
    pub(crate) fn check_target(
        &self,
        indicators: &[String],
        request: &directory::ScopeRequest,
    ) -> Result<(), indicators::InvalidTarget> {
        let checked = self.identifier_uris.check(indicators, request);
        if let Err(error) = &checked {
            tracing::info!(error = %error, "dev IdP refused a resource parameter");
        }
        checked
    }

    /// Deletes every consent and restores the configured ones.
    async fn reset_consents(&self) -> anyhow::Result<()> {
        let deleted = self.store.reset_consents(&self.consent_seed).await?;
        tracing::info!(
            deleted,
            seeded = self.consent_seed.len(),
            "dev IdP consents reset"
        );
        Ok(())
    }
}

/// A running (or ready to run) development IdP.
#[derive(Clone)]
pub struct DevIdp {
    inner: Arc<Inner>,
    web_client: WebClient,
    mcp_client: ConfidentialClient,
}

/// A confidential client's credentials at the dev IdP.
#[derive(Debug, Clone)]
pub struct ConfidentialClient {
    pub client_id: String,
    pub client_secret: SecretString,
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
            consent: false,
        });
        // Microsoft Graph is always there (as in every Entra tenant): mcp-tools exchanges its users'
        // tokens for Graph tokens, given their consent.
        if resources.iter().any(|r| r.app_id_uri == GRAPH_RESOURCE) {
            bail!("APP_DEV_IDP__RESOURCES: {GRAPH_RESOURCE} is built in; leave it out");
        }
        resources.push(Resource::graph());
        let web_client_secret =
            configured_or_stored_secret(&config.web_client_secret, &dir.join("web-client-secret"))
                .await?;
        let mcp_client_secret =
            configured_or_stored_secret(&config.mcp_client_secret, &dir.join("mcp-client-secret"))
                .await?;
        let consent_seed = consent::seed_rows(
            &config.graph_consents,
            &users,
            &resources,
            &config.mcp_client_id,
        )?;
        let inner = Arc::new(Inner {
            base_url: base_url.trim_end_matches('/').to_owned(),
            tenant_id: config.tenant_id.clone(),
            users,
            resources,
            identifier_uris: indicators::IdentifierUris::default(),
            access_token_lifetime: i64::try_from(config.access_token_lifetime.as_secs())?,
            refresh_token_lifetime: i64::try_from(config.refresh_token_lifetime.as_secs())?,
            device_code_lifetime: i64::try_from(config.device_code_lifetime.as_secs())?,
            device_poll_interval: i64::try_from(config.device_poll_interval.as_secs())?,
            store,
            keys,
            consent_seed,
            consent_tickets: consent::Tickets::default(),
            device_tickets: consent::Tickets::default(),
        });
        let idp = Self {
            inner,
            web_client: WebClient {
                client_id: config.web_client_id.clone(),
                client_secret: web_client_secret,
                redirect_uri: config.web_redirect_uri.clone(),
            },
            mcp_client: ConfidentialClient {
                client_id: config.mcp_client_id.clone(),
                client_secret: mcp_client_secret,
            },
        };
        idp.register_well_known_clients(config).await?;
        // Configured consents are added when missing; consents users gave on the page stay.
        idp.inner
            .store
            .grant_consents(&idp.inner.consent_seed)
            .await?;
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
            .await?;
        store
            .upsert_client(&ClientRow {
                client_id: config.mcp_client_id.clone(),
                name: MCP_CLIENT_NAME.to_owned(),
                secret_sha256: Some(store::digest(self.mcp_client.client_secret.expose_secret())),
                redirect_uris: sqlx::types::Json(vec![checked_redirect(&config.mcp_redirect_uri)?]),
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

    /// mcp-tools' registration as a confidential client (on-behalf-of, token exchange); its secret is
    /// configured or generated under the data folder.
    pub fn mcp_client(&self) -> &ConfidentialClient {
        &self.mcp_client
    }

    /// Registers another redirect URI for mcp-tools (where its consent journey ends,
    /// `<mcp origin>/oauth/consent-complete`): mcp-tools binds after the IdP, on a port known only then.
    /// Earlier ones stay registered, so several mcp-tools instances can share one IdP.
    pub async fn set_mcp_redirect_uri(&self, uri: &str) -> anyhow::Result<()> {
        let uri = checked_redirect(uri)?;
        let client_id = &self.mcp_client.client_id;
        let store = &self.inner.store;
        let Some(client) = store.client(client_id).await? else {
            bail!("the mcp-tools client {client_id} is not registered");
        };
        let mut uris = client.redirect_uris.0.clone();
        if !uris.contains(&uri) {
            uris.push(uri.clone());
        }
        store.set_redirect_uris(client_id, &uris).await?;
        tracing::info!(client = %client_id, redirect_uri = %uri, "dev IdP mcp-tools redirect URI added");
        Ok(())
    }

    /// Registers `uri` as one more identifier URI of the resource whose `aud` or App ID URI is `resource`
    /// (Entra: the app registration's `identifierUris`), so an RFC 8707 `resource=uri` is accepted for
    /// that resource's scopes; any other `resource` is refused with `invalid_target`. The dev stack's
    /// MCP servers register their URL once bound, because MCP SDK clients send it as `resource`.
    /// Earlier ones stay, so several servers of one resource can share one IdP. Refused: an unknown
    /// resource, a URI with a fragment (RFC 8707 §2), a URI that already identifies another resource.
    pub fn add_identifier_uri(&self, resource: &str, uri: &Url) -> anyhow::Result<()> {
        let inner = &self.inner;
        let Some(target) = inner
            .resources
            .iter()
            .find(|r| r.audience == resource || r.app_id_uri == resource)
        else {
            bail!("the dev IdP has no resource {resource} (APP_DEV_IDP__RESOURCES)");
        };
        if uri.fragment().is_some() {
            bail!("identifier URI {uri} must not have a fragment");
        }
        if let Some(other) = inner
            .resources
            .iter()
            .find(|r| r != &target && inner.identifier_uris.identifies(r, uri.as_str()))
        {
            bail!(
                "{uri} already identifies {}; an identifier URI names one resource",
                other.app_id_uri
            );
        }
        if inner.identifier_uris.add(target, uri.clone()) {
            tracing::info!(resource = %target.app_id_uri, identifier_uri = %uri, "dev IdP identifier URI added");
        }
        Ok(())
    }

    /// Deletes every user's consents and restores the configured ones (`APP_DEV_IDP__GRAPH_CONSENTS`),
    /// so a consent journey can be walked again.
    pub async fn reset_consents(&self) -> anyhow::Result<()> {
        self.inner.reset_consents().await
    }

    /// Validates an access token this IdP issued: signature (a published key), issuer, `exp` and `nbf`.
    /// The audience and scopes are the caller's to check (the Graph stand-in uses it).
    pub(crate) fn validate_access_token(
        &self,
        token: &str,
    ) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        self.inner.verify_access_token(token, None)
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
                &format!("{t}/oauth2/v2.0/devicecode"),
                post(device::device_authorization),
            )
            .route(
                &format!("{t}/oauth2/v2.0/deviceauth"),
                get(device::show).post(device::submit),
            )
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
            .route("/dev/reset-consents", post(endpoints::reset_consents))
            .layer(RequestBodyLimitLayer::new(64 * 1024))
            .with_state(self.inner.clone())
    }
}

/// The display name of mcp-tools' registration (consent page, AADSTS65001 messages).
const MCP_CLIENT_NAME: &str = "Portcullis MCP tools";

/// A redirect URI fit to register: an absolute http(s) URL without a fragment.
fn checked_redirect(uri: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(uri).with_context(|| format!("redirect URI {uri:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
        bail!("redirect URI {uri:?} must be http(s) without a fragment");
    }
    Ok(uri.to_owned())
}

async fn configured_or_stored_secret(
    configured: &Option<SecretString>,
    path: &Path,
) -> anyhow::Result<SecretString> {
    match configured {
        Some(secret) if !secret.expose_secret().is_empty() => Ok(secret.clone()),
        _ => load_or_create_secret(path).await,
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
