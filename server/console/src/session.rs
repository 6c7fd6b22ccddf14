//! A console session: the configured servers resolved (scope, authorization server, resource), the
//! token cache, sign-in, and the agent core's [`TokenSource`] over them, so tool listing and calls go
//! through the agent's MCP directory like the web app's do.
//!
//! - **Resolution**: a server's scope is the configured one, else the `scopes_supported` of its RFC 9728
//!   metadata; its authorization server is `APP_AUTH__AUTHORITY`, else the first one the metadata names;
//!   its resource is the metadata's `resource` (the server's URL).
//! - **Client**: `APP_CONSOLE__CLIENT_ID`, else the client id an earlier dynamic registration gave at
//!   that issuer (kept in the encrypted cache), else a new RFC 7591 registration.
//! - **Sign-in**: through the browser (loopback redirect, PKCE S256 required), or with `--device` the
//!   device flow (RFC 8628; no PKCE, the provider must have a device authorization endpoint); either
//!   way the same grant goes into the same cache.
//! - **Tokens**: a cached access token while it is usable (renewed a minute before expiry, or at half
//!   its lifetime when shorter); else the refresh token, by scope, and the rotated refresh token is
//!   stored before the access token is handed out; `invalid_grant` drops the grant and asks for
//!   sign-in. No token reaches the output or the logs.

use std::{collections::HashMap, sync::Arc};

use agent::{
    domain::UserKey,
    mcp::{McpError, ServerSpec, TokenError, TokenSource},
};
use anyhow::anyhow;
use async_trait::async_trait;
use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::{
    auth::{
        device,
        discovery::{self, AuthServerMetadata, DiscoveryError},
        loopback::{self, BrowserSignIn},
        oidc::{Identity, Provider, Refreshed},
        register,
    },
    cache::TokenCache,
    config::{Config, ConsoleSection, Home},
    exit::Failure,
};

/// Scopes asked at every sign-in besides the server's: the ID token (who signed in), the name, and a
/// refresh token.
const SIGN_IN_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// The one user of a console session, as the agent core's directory keys its catalogs.
pub fn console_user() -> UserKey {
    UserKey::from("console")
}

/// A configured server with where its tokens come from.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its configuration; `scope` is resolved.
    pub spec: ServerSpec,
    pub issuer: String,
    /// The RFC 9728 `resource` (the server's URL).
    pub resource: String,
}

struct State {
    cache: Option<TokenCache>,
    metadata: HashMap<String, AuthServerMetadata>,
}

/// The resolved servers, the token cache and sign-in.
pub struct Session {
    /// Itself, so a refresh can run in a task of its own.
    me: std::sync::Weak<Session>,
    servers: Vec<Server>,
    /// Servers left out because their discovery failed (only when several are configured).
    unresolved: Vec<Failure>,
    settings: ConsoleSection,
    authority_configured: bool,
    home: Home,
    http: reqwest::Client,
    state: Mutex<State>,
}

/// Microsoft Entra ID's issuers (public and national clouds), known to support PKCE S256 without
/// advertising it.
fn is_entra(issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|url| {
        url.scheme() == "https"
            && matches!(
                url.host_str(),
                Some(
                    "login.microsoftonline.com"
                        | "login.microsoftonline.us"
                        | "login.partner.microsoftonline.cn"
                )
            )
    })
}

fn discovery_failure(server: &str, error: DiscoveryError) -> Failure {
    Failure::unreachable(format!("{server}: {error}"))
}

impl Session {
    /// Resolves the configured servers (only `only` when given: an unknown name is a usage error).
    pub async fn resolve(
        config: &Config,
        home: Home,
        only: Option<&str>,
    ) -> Result<Arc<Self>, Failure> {
        let http = discovery::http_client().map_err(Failure::Other)?;
        let entries = config.servers();
        let chosen: Vec<_> = match only {
            Some(name) => {
                let entry = entries
                    .iter()
                    .find(|e| e.spec.name == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            entries.iter().map(|e| e.spec.name.as_str()).collect();
                        Failure::usage(format!(
                            "no server named {name:?} (configured: {})",
                            names.join(", ")
                        ))
                    })?;
                vec![entry.clone()]
            }
            None => entries,
        };
        // Among several servers, one that cannot be reached is left out (and said), not fatal.
        let tolerant = chosen.len() > 1;
        let mut servers = Vec::new();
        let mut unresolved = Vec::new();
        for entry in chosen {
            let name = entry.spec.name.clone();
            let metadata = if config.auth.authority.is_none() || !entry.scope_configured {
                match discovery::protected_resource(&http, &entry.spec.url).await {
                    Ok(metadata) => Some(metadata),
                    Err(error) if tolerant => {
                        unresolved.push(discovery_failure(&name, error));
                        continue;
                    }
                    Err(error) => return Err(discovery_failure(&name, error)),
                }
            } else {
                None
            };
            let mut spec = entry.spec.clone();
            if !entry.scope_configured {
                let scopes = metadata
                    .as_ref()
                    .map(|m| m.scopes_supported.join(" "))
                    .unwrap_or_default();
                if scopes.is_empty() {
                    return Err(Failure::usage(format!(
                        "{name}: its metadata lists no scopes_supported; give a scope in APP_MCP_SERVERS"
                    )));
                }
                spec.scope = scopes;
            }
            let discovered = metadata
                .as_ref()
                .and_then(|m| m.authorization_servers.first().cloned());
            let issuer = config
                .auth
                .authority
                .clone()
                .or(discovered)
                .ok_or_else(|| {
                    Failure::unreachable(format!("{name}: no authorization server is known"))
                })?;
            let resource = metadata
                .map(|m| m.resource)
                .unwrap_or_else(|| spec.url.to_string());
            tracing::debug!(server = %name, %issuer, %resource, scope = %spec.scope, "server resolved");
            servers.push(Server {
                spec,
                issuer,
                resource,
            });
        }
        // The token source is asked by scope: one scope must mean one place to get tokens.
        for (i, a) in servers.iter().enumerate() {
            if let Some(b) = servers[..i].iter().find(|b| {
                b.spec.scope == a.spec.scope && (b.issuer != a.issuer || b.resource != a.resource)
            }) {
                return Err(Failure::usage(format!(
                    "{} and {} ask for the same scope {:?} from different places; give each its own scope",
                    b.spec.name, a.spec.name, a.spec.scope
                )));
            }
        }
        Ok(Arc::new_cyclic(|me| Self {
            me: me.clone(),
            servers,
            unresolved,
            settings: config.console.clone(),
            authority_configured: config.auth.authority.is_some(),
            home,
            http,
            state: Mutex::new(State {
                cache: None,
                metadata: HashMap::new(),
            }),
        }))
    }

    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Why servers were left out.
    pub fn unresolved(&self) -> &[Failure] {
        &self.unresolved
    }

    pub fn specs(&self) -> Vec<ServerSpec> {
        self.servers.iter().map(|s| s.spec.clone()).collect()
    }

    /// Where the token cache lives.
    pub fn cache_path(&self) -> std::path::PathBuf {
        self.home.token_cache()
    }

    fn cache<'a>(&self, state: &'a mut State) -> anyhow::Result<&'a mut TokenCache> {
        if state.cache.is_none() {
            state.cache = Some(TokenCache::open(&self.home, self.settings.key_store)?);
        }
        state
            .cache
            .as_mut()
            .ok_or_else(|| anyhow!("the token cache was just opened"))
    }

    /// The authorization server's metadata (fetched once per run).
    async fn metadata(
        &self,
        state: &mut State,
        issuer: &str,
    ) -> Result<AuthServerMetadata, Failure> {
        if let Some(metadata) = state.metadata.get(issuer) {
            return Ok(metadata.clone());
        }
        let metadata = discovery::authorization_server(&self.http, issuer)
            .await
            .map_err(|e| discovery_failure(issuer, e))?;
        state.metadata.insert(issuer.to_owned(), metadata.clone());
        Ok(metadata)
    }

    /// The browser sign-in needs PKCE S256: refused where the provider does not advertise it, unless it
    /// is Entra or the configured authority.
    fn check_pkce(&self, metadata: &AuthServerMetadata) -> Result<(), Failure> {
        let issuer = &metadata.issuer;
        if !metadata.advertises_s256() {
            if self.authority_configured || is_entra(issuer) {
                // Entra supports S256 (and enforces the verifier once a challenge was sent) but leaves
                // it out of its metadata; a configured authority is trusted that far too.
                tracing::debug!(%issuer, "the authority does not advertise PKCE S256; using it anyway");
            } else {
                return Err(Failure::sign_in(format!(
                    "{issuer} does not advertise PKCE S256 (code_challenge_methods_supported); refusing to sign in there"
                )));
            }
        }
        Ok(())
    }

    /// Whether the server's issuer holds a grant (a usable token or a refresh token) in the cache.
    pub async fn has_grant(&self, server: &Server) -> Result<bool, Failure> {
        let mut state = self.state.lock().await;
        let cache = self.cache(&mut state)?;
        Ok(cache.grant(&server.issuer).is_some_and(|grant| {
            grant.refresh_token().is_some()
                || grant
                    .token(&server.resource, &server.spec.scope)
                    .is_some_and(|t| t.usable())
        }))
    }

    /// Who is signed in at the server's issuer, if anyone.
    pub async fn identity(&self, server: &Server) -> Result<Option<Identity>, Failure> {
        let mut state = self.state.lock().await;
        let cache = self.cache(&mut state)?;
        Ok(cache
            .grant(&server.issuer)
            .map(|grant| grant.identity.clone()))
    }

    /// Signs the user in interactively for `server` (browser and loopback redirect, or the device flow
    /// when configured) and caches the grant.
    pub async fn sign_in(
        &self,
        server: &Server,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<Identity, Failure> {
        let mut state = self.state.lock().await;
        let metadata = self.metadata(&mut state, &server.issuer).await?;
        // Refused before any registration at a provider that cannot do the flow asked for.
        if !self.settings.device {
            self.check_pkce(&metadata)?;
        } else if metadata.device_authorization_endpoint.is_none() {
            return Err(device::unsupported(&metadata.issuer));
        }
        let client_id = self.client_id(&mut state, &metadata).await?;
        let provider = Provider::new(metadata, client_id.clone()).map_err(Failure::Other)?;
        let mut scopes: Vec<String> = SIGN_IN_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        scopes.extend(server.spec.scope.split_whitespace().map(str::to_owned));
        let signed_in = if self.settings.device {
            device::sign_in(&provider, &scopes, out).await?
        } else {
            let options = BrowserSignIn {
                open_browser: self.settings.open_browser,
                redirect: self.settings.redirect_uri.clone(),
                timeout: self.settings.sign_in_timeout,
            };
            loopback::sign_in(&provider, &scopes, &options, out).await?
        };
        if signed_in.tokens.refresh_token.is_none() {
            tracing::warn!(issuer = %server.issuer, "no refresh token was issued; sign-in will be needed when the access token expires");
        }
        let cache = self.cache(&mut state)?;
        cache.signed_in(
            &server.issuer,
            &client_id,
            signed_in.identity.clone(),
            &server.resource,
            &server.spec.scope,
            &signed_in.tokens,
        );
        cache.save()?;
        let _ = writeln!(
            out,
            "Signed in to {} as {}.",
            server.issuer,
            signed_in.identity.describe()
        );
        Ok(signed_in.identity)
    }

    /// The configured client id, else an earlier registration at this issuer, else a new one.
    async fn client_id(
        &self,
        state: &mut State,
        metadata: &AuthServerMetadata,
    ) -> Result<String, Failure> {
        if let Some(client_id) = &self.settings.client_id {
            return Ok(client_id.clone());
        }
        let cache = self.cache(state)?;
        if let Some(client_id) = cache.registration(&metadata.issuer) {
            return Ok(client_id.to_owned());
        }
        let Some(endpoint) = &metadata.registration_endpoint else {
            return Err(Failure::sign_in(format!(
                "{} offers no dynamic registration; register the console as a public client and set \
                 APP_CONSOLE__CLIENT_ID",
                metadata.issuer
            )));
        };
        let client_id = register::register(
            &self.http,
            endpoint,
            self.settings.redirect_uri.as_str(),
            metadata.device_authorization_endpoint.is_some(),
        )
        .await
        .map_err(|e| Failure::sign_in(e.to_string()))?;
        let cache = self.cache(state)?;
        cache.register(&metadata.issuer, &client_id);
        cache.save()?;
        Ok(client_id)
    }

    fn by_scope(&self, scope: &str) -> Result<&Server, TokenError> {
        self.servers
            .iter()
            .find(|s| s.spec.scope == scope)
            .ok_or_else(|| {
                TokenError::Other(anyhow!("no configured server uses the scope {scope}"))
            })
    }

    /// Runs `operation` (an MCP listing or call); when it needs a sign-in, signs in and runs it once
    /// more. A server error becomes [`Failure::Unreachable`].
    pub async fn signed_in<T, F, Fut>(
        &self,
        server: &Server,
        out: &mut (dyn std::io::Write + Send),
        operation: F,
    ) -> Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, McpError>>,
    {
        if !self.has_grant(server).await? {
            self.sign_in(server, out).await?;
        }
        let failed = |error: McpError| match error {
            McpError::SignInRequired | McpError::NotConnected => Failure::sign_in(format!(
                "{} still asks for sign-in after signing in",
                server.spec.name
            )),
            McpError::Failed(message) => {
                Failure::unreachable(format!("{}: {message}", server.spec.name))
            }
        };
        match operation().await {
            // The console grants each server by signing in for it: not connected means the same.
            Err(McpError::SignInRequired | McpError::NotConnected) => {
                self.sign_in(server, out).await?;
                operation().await.map_err(failed)
            }
            other => other.map_err(failed),
        }
    }
}

impl Session {
    /// A usable access token for `scope`, refreshed (and the rotation saved) when needed.
    async fn access_token_now(&self, scope: &str) -> Result<SecretString, TokenError> {
        let server = self.by_scope(scope)?;
        let mut state = self.state.lock().await;
        let cache = self.cache(&mut state)?;
        let Some(grant) = cache.grant(&server.issuer) else {
            return Err(TokenError::SignInRequired);
        };
        if let Some(token) = grant.token(&server.resource, scope)
            && token.usable()
        {
            return Ok(token.secret().clone());
        }
        let Some(refresh_token) = grant.refresh_token().cloned() else {
            return Err(TokenError::SignInRequired);
        };
        let client_id = grant.client_id.clone();
        let metadata = self
            .metadata(&mut state, &server.issuer)
            .await
            .map_err(|e| TokenError::Other(anyhow!("{e}")))?;
        let provider = Provider::new(metadata, client_id)?;
        let refreshed = provider.refresh(&refresh_token, scope).await?;
        let cache = self.cache(&mut state)?;
        match refreshed {
            Refreshed::Tokens(issued) => {
                let grant = cache
                    .grant_mut(&server.issuer)
                    .ok_or_else(|| anyhow!("the grant vanished during its refresh"))?;
                grant.put(&server.resource, scope, &issued);
                cache.save()?;
                tracing::info!(issuer = %server.issuer, resource = %server.resource, "access token refreshed");
                Ok(issued.access_token)
            }
            Refreshed::GrantGone(reason) => {
                tracing::warn!(issuer = %server.issuer, %reason, "the grant is gone; sign in again");
                cache.drop_grant(&server.issuer);
                cache.save()?;
                Err(TokenError::SignInRequired)
            }
        }
    }
}

#[async_trait]
impl TokenSource for Session {
    /// Runs in a task of its own: a refresh rotates the refresh token at the provider, and the new one
    /// must reach the cache even when the caller gives up half-way (Ctrl-C during a turn) — a lost
    /// rotation would send the old token next time, and providers revoke the grant on reuse.
    async fn access_token(&self, _user: &UserKey, scope: &str) -> Result<SecretString, TokenError> {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| TokenError::Other(anyhow!("the session has ended")))?;
        let scope = scope.to_owned();
        tokio::spawn(async move { me.access_token_now(&scope).await })
            .await
            .map_err(|e| TokenError::Other(anyhow!("the token task failed: {e}")))?
    }

    async fn forget(&self, _user: &UserKey, scope: &str) -> anyhow::Result<()> {
        let server = self.by_scope(scope).map_err(|e| anyhow!("{e}"))?;
        let mut state = self.state.lock().await;
        let cache = self.cache(&mut state)?;
        if let Some(grant) = cache.grant_mut(&server.issuer) {
            grant.forget(&server.resource, scope);
            cache.save()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_entra;

    #[test]
    fn only_entra_issuers_skip_the_s256_advertisement() {
        assert!(is_entra("https://login.microsoftonline.com/tenant/v2.0"));
        assert!(!is_entra("http://login.microsoftonline.com/tenant/v2.0"));
        assert!(!is_entra(
            "https://login.microsoftonline.com.evil.example/tenant/v2.0"
        ));
        assert!(!is_entra("https://auth.example.com"));
    }
}
