//! The token exchange: the user's inbound token (audience mcp-tools) becomes a token for Microsoft
//! Graph, for the same user, at the issuer's token endpoint.
//!
//! - Grants: Entra on-behalf-of (`jwt-bearer` + `requested_token_use=on_behalf_of`) or RFC 8693 token
//!   exchange. The inbound token travels only as that grant's `assertion` / `subject_token`, in the
//!   form body of a POST to the discovered token endpoint; it is never logged.
//! - Cache: exchanged tokens per (issuer, tenant, user, scope), each until `expires_in` minus a margin.
//!   Concurrent first calls for one key make one exchange (moka's `try_get_with`); failures are not
//!   cached, so a retry after the user consented exchanges again.
//! - Errors: missing consent is [`ExchangeError::ConsentRequired`] with the scopes and a consent link
//!   the user can open; anything else is [`ExchangeError::Failed`] (detail logged here, once, never
//!   shown to the model).

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use moka::{Expiry, future::Cache};
use reqwest::header;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use url::{Url, form_urlencoded};

use super::refusal::{TokenError, consent_url, is_missing_consent};
use crate::{
    auth::{Discovery, InboundToken, Principal, ProviderMetadata},
    config::{ClientAuth, OboConfig, OboGrant},
};

/// An exchanged token is dropped this long before it expires, so a call never starts with a token that
/// runs out on the way to Graph.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Most exchanged tokens remembered (users × scopes).
const MAX_CACHED_TOKENS: u64 = 10_000;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token for Graph. `Debug` never shows it.
pub struct GraphToken {
    secret: SecretString,
    /// How long the cache keeps it.
    keep_for: Duration,
}

impl GraphToken {
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl std::fmt::Debug for GraphToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphToken")
            .field("keep_for", &self.keep_for)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The user (or an administrator) has not consented to these scopes for mcp-tools.
    #[error("consent required for {}", missing_scopes.join(" "))]
    ConsentRequired {
        missing_scopes: Vec<String>,
        consent_url: Url,
    },
    /// Any other failure; the detail was logged.
    #[error("the token exchange failed")]
    Failed,
}

/// Cache key: one user of one issuer and tenant, one downstream scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    issuer: String,
    tenant: String,
    user: String,
    scope: String,
}

impl CacheKey {
    pub(crate) fn new(principal: &Principal, scope: &str) -> Self {
        Self {
            issuer: principal.issuer.clone(),
            tenant: principal.tenant_id.clone(),
            user: principal.user_id.clone(),
            scope: scope.to_owned(),
        }
    }
}

/// Each entry lives as long as its token was said to, less the margin.
struct UntilShortlyBeforeExpiry;

impl Expiry<CacheKey, Arc<GraphToken>> for UntilShortlyBeforeExpiry {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        value: &Arc<GraphToken>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

/// Exchanges and caches.
pub struct Exchanger {
    obo: OboConfig,
    discovery: Arc<Discovery>,
    http: reqwest::Client,
    cache: Cache<CacheKey, Arc<GraphToken>>,
}

impl Exchanger {
    pub fn new(obo: OboConfig, discovery: Arc<Discovery>, http: reqwest::Client) -> Self {
        Self {
            obo,
            discovery,
            http,
            cache: Cache::builder()
                .max_capacity(MAX_CACHED_TOKENS)
                .expire_after(UntilShortlyBeforeExpiry)
                .build(),
        }
    }

    /// A Graph token for `principal` with `scope`: cached, or exchanged once for all concurrent callers.
    pub async fn token(
        &self,
        principal: &Principal,
        inbound: &InboundToken,
        scope: &str,
    ) -> Result<Arc<GraphToken>, ExchangeError> {
        let key = CacheKey::new(principal, scope);
        self.cache
            .try_get_with(key, self.exchange(principal, inbound, scope))
            .await
            .map_err(|error| (*error).clone())
    }

    /// Drops a cached token (Graph refused it), so the next call exchanges again.
    pub async fn forget(&self, principal: &Principal, scope: &str) {
        self.cache
            .invalidate(&CacheKey::new(principal, scope))
            .await;
    }

    async fn exchange(
        &self,
        principal: &Principal,
        inbound: &InboundToken,
        scope: &str,
    ) -> Result<Arc<GraphToken>, ExchangeError> {
        let metadata = self.discovery.metadata().await.map_err(|error| {
            tracing::error!(
                error = format!("{error:#}"),
                "token exchange impossible: no discovery document"
            );
            ExchangeError::Failed
        })?;
        let Some(token_endpoint) = metadata.token_endpoint.clone() else {
            tracing::error!(
                issuer = %metadata.issuer,
                "token exchange impossible: the discovery document names no token_endpoint"
            );
            return Err(ExchangeError::Failed);
        };
        let auth = self
            .obo
            .client_auth
            .unwrap_or_else(|| client_auth_from(&metadata));
        let mut form = grant_form(self.obo.grant, inbound.expose(), scope);
        let mut request = self
            .http
            .post(token_endpoint.clone())
            .header(header::ACCEPT, "application/json");
        match auth {
            ClientAuth::ClientSecretPost => {
                form.push(("client_id", self.obo.client_id.as_str()));
                form.push(("client_secret", self.obo.client_secret.expose_secret()));
            }
            ClientAuth::ClientSecretBasic => {
                request = request.header(
                    header::AUTHORIZATION,
                    basic_credentials(&self.obo.client_id, &self.obo.client_secret),
                );
            }
        }
        let response = request.form(&form).send().await.map_err(|error| {
            // reqwest's message names the URL, never the body.
            tracing::error!(%error, %token_endpoint, "token endpoint unreachable");
            ExchangeError::Failed
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| {
            tracing::error!(%error, %status, "reading the token endpoint's answer failed");
            ExchangeError::Failed
        })?;
        if status.is_success() {
            let answer: TokenResponse = serde_json::from_slice(&body).map_err(|error| {
                tracing::error!(%error, %status, "the token endpoint's answer is not a token response");
                ExchangeError::Failed
            })?;
            if answer
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            {
                tracing::error!(
                    token_type = answer.token_type.as_deref().unwrap_or_default(),
                    "the token endpoint issued a token that is not a bearer token"
                );
                return Err(ExchangeError::Failed);
            }
            let expires_in = Duration::from_secs(answer.expires_in.unwrap_or(0));
            tracing::info!(
                user = %principal.user_id,
                scope,
                grant = %self.obo.grant,
                expires_in = expires_in.as_secs(),
                "exchanged the user's token for a Graph token"
            );
            return Ok(Arc::new(GraphToken {
                secret: SecretString::from(answer.access_token),
                keep_for: expires_in.saturating_sub(EXPIRY_MARGIN),
            }));
        }
        let refusal: TokenError = serde_json::from_slice(&body).unwrap_or_default();
        let consent = is_missing_consent(self.obo.grant, &refusal);
        tracing::warn!(
            user = %principal.user_id,
            scope,
            %status,
            error = %refusal.error,
            error_codes = ?refusal.error_codes,
            suberror = refusal.suberror.as_deref().unwrap_or_default(),
            description = %truncate(refusal.error_description.as_deref().unwrap_or_default(), 300),
            consent,
            "the token exchange was refused"
        );
        if !consent {
            return Err(ExchangeError::Failed);
        }
        let Some(authorization_endpoint) = metadata.authorization_endpoint.as_ref() else {
            tracing::error!(
                issuer = %metadata.issuer,
                "consent is missing, but the discovery document names no authorization_endpoint"
            );
            return Err(ExchangeError::Failed);
        };
        let missing_scopes = vec![scope.to_owned()];
        Err(ExchangeError::ConsentRequired {
            consent_url: consent_url(
                authorization_endpoint,
                &self.obo.client_id,
                &self.obo.consent_redirect_uri,
                &missing_scopes,
                principal.preferred_username.as_deref(),
            ),
            missing_scopes,
        })
    }
}

/// The grant's parameters; the inbound token appears only as `assertion` or `subject_token`.
fn grant_form<'a>(
    grant: OboGrant,
    inbound: &'a str,
    scope: &'a str,
) -> Vec<(&'static str, &'a str)> {
    match grant {
        OboGrant::EntraObo => vec![
            ("grant_type", JWT_BEARER),
            ("assertion", inbound),
            ("requested_token_use", "on_behalf_of"),
            ("scope", scope),
        ],
        OboGrant::TokenExchange => vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", inbound),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("scope", scope),
        ],
    }
}

/// `client_secret_post` when the provider lists it, else `client_secret_basic` (also the default of
/// RFC 8414 and OIDC Discovery when the list is absent).
fn client_auth_from(metadata: &ProviderMetadata) -> ClientAuth {
    match &metadata.token_endpoint_auth_methods_supported {
        Some(methods) if methods.iter().any(|m| m == "client_secret_post") => {
            ClientAuth::ClientSecretPost
        }
        _ => ClientAuth::ClientSecretBasic,
    }
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
fn basic_credentials(client_id: &str, secret: &SecretString) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret.expose_secret()));
    format!("Basic {}", STANDARD.encode(pair))
}

/// A successful token response.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds; some providers send it as a string.
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
}

fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Seconds>::deserialize(deserializer)? {
        Some(Seconds::Number(n)) => Some(n),
        Some(Seconds::Text(text)) => text.trim().parse().ok(),
        None => None,
    })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_forms_carry_the_inbound_token_only_as_the_assertion_or_subject() {
        let obo = grant_form(OboGrant::EntraObo, "INBOUND", "https://graph/User.Read");
        assert_eq!(
            obo,
            [
                ("grant_type", JWT_BEARER),
                ("assertion", "INBOUND"),
                ("requested_token_use", "on_behalf_of"),
                ("scope", "https://graph/User.Read"),
            ]
        );
        let exchange = grant_form(OboGrant::TokenExchange, "INBOUND", "s");
        assert_eq!(
            exchange,
            [
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", "INBOUND"),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("scope", "s"),
            ]
        );
    }

    #[test]
    fn basic_credentials_form_encode_before_base64() {
        let header = basic_credentials("my client", &SecretString::from("p@ss:word"));
        let decoded = STANDARD
            .decode(header.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client:p%40ss%3Aword"
        );
    }

    #[test]
    fn client_auth_follows_discovery() {
        let metadata = |methods: Option<Vec<&str>>| ProviderMetadata {
            issuer: "https://issuer".into(),
            jwks_uri: Url::parse("https://issuer/keys").unwrap(),
            token_endpoint: None,
            authorization_endpoint: None,
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.into_iter().map(str::to_owned).collect()),
        };
        assert_eq!(
            client_auth_from(&metadata(Some(vec![
                "client_secret_basic",
                "client_secret_post"
            ]))),
            ClientAuth::ClientSecretPost
        );
        assert_eq!(
            client_auth_from(&metadata(Some(vec!["client_secret_basic"]))),
            ClientAuth::ClientSecretBasic
        );
        assert_eq!(
            client_auth_from(&metadata(None)),
            ClientAuth::ClientSecretBasic
        );
    }

    #[test]
    fn cache_keys_separate_users_tenants_issuers_and_scopes() {
        let principal = |issuer: &str, tenant: &str, user: &str| Principal {
            issuer: issuer.into(),
            tenant_id: tenant.into(),
            user_id: user.into(),
            name: "display name is not identity".into(),
            preferred_username: None,
        };
        let base = CacheKey::new(&principal("i", "t", "u"), "s");
        let mut renamed = principal("i", "t", "u");
        renamed.name = "another name".into();
        assert_eq!(base, CacheKey::new(&renamed, "s"));
        assert_ne!(base, CacheKey::new(&principal("i", "t", "u"), "s2"));
        assert_ne!(base, CacheKey::new(&principal("i", "t", "v"), "s"));
        assert_ne!(base, CacheKey::new(&principal("i", "t2", "u"), "s"));
        assert_ne!(base, CacheKey::new(&principal("i2", "t", "u"), "s"));
    }

    #[test]
    fn expires_in_may_be_a_number_or_text() {
        let numeric: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","token_type":"Bearer","expires_in":3599}"#)
                .unwrap();
        assert_eq!(numeric.expires_in, Some(3599));
        let text: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":"3599"}"#).unwrap();
        assert_eq!(text.expires_in, Some(3599));
        let absent: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(absent.expires_in, None);
    }

    #[tokio::test]
    async fn cached_tokens_live_until_shortly_before_expiry() {
        let cache: Cache<CacheKey, Arc<GraphToken>> = Cache::builder()
            .expire_after(UntilShortlyBeforeExpiry)
            .build();
        let key = |scope: &str| CacheKey {
            issuer: "i".into(),
            tenant: "t".into(),
            user: "u".into(),
            scope: scope.into(),
        };
        let token = |expires_in: u64| {
            Arc::new(GraphToken {
                secret: SecretString::from("t"),
                keep_for: Duration::from_secs(expires_in).saturating_sub(EXPIRY_MARGIN),
            })
        };
        cache.insert(key("long"), token(3600)).await;
        cache.insert(key("short"), token(30)).await;
        assert!(cache.get(&key("long")).await.is_some());
        assert!(cache.get(&key("short")).await.is_none());
        assert!(!format!("{:?}", token(3600)).contains("\"t\""));
    }
}
