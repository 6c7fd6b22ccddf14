//! OAuth 2.0 resource-server side of the MCP endpoint.
//!
//! - `discovery`: the issuer's OIDC discovery document, fetched once and shared with the token exchange.
//! - `jwks`: the issuer's signing keys, cached with a refetch cooldown.
//! - `validator`: JWT checks (RS256 only, `iss`, `aud`, `exp`, `nbf`, tenant, delegated scope), with a
//!   `moka` cache of validated tokens that lives until each token expires.
//! - this module: the [`Principal`] a request acts for, the [`InboundToken`] it came with (kept only as
//!   the assertion of an on-behalf-of exchange, never printed), the axum middleware that turns the `Authorization`
//!   header into one (or a 401/403 with `WWW-Authenticate`), and the RFC 9728 metadata document.

mod discovery;
mod jwks;
mod validator;

use std::{fmt, sync::Arc};

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub use discovery::{Discovery, ProviderMetadata};
pub use jwks::{JwksCache, KeySource};
pub use validator::{Policy, TokenValidator};

use crate::{Config, config::ResourceConfig};

/// The `resource_name` mcp-tools' metadata gives.
pub const MCP_TOOLS_NAME: &str = "Portcullis MCP tools";

/// The user a request acts for: taken from a validated delegated token, never from anything the model or
/// client sends. Identity is (issuer, tenant, user id); the name is for display only. Requests carry it
/// as an `Arc<Principal>` extension: one record per validated token, shared rather than copied per call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub issuer: String,
    /// `tid` (empty for issuers without tenants).
    pub tenant_id: String,
    /// `oid`, or `sub` when the issuer has no `oid`.
    pub user_id: String,
    pub name: String,
    /// `preferred_username`, when the token has one: a `login_hint` for consent pages.
    pub preferred_username: Option<String>,
}

/// The bearer token a request came with. mcp-tools never forwards it: its one use is as the
/// `assertion` / `subject_token` of an on-behalf-of exchange at the issuer's token endpoint. `Debug`
/// shows no part of it. Taken from the (already authenticated) request's header only when a tool needs
/// an exchange, so requests that make none never copy it; kept apart from the [`Principal`] so that a
/// refreshed token does not change who owns a session.
#[derive(Clone)]
pub struct InboundToken(Arc<SecretString>);

impl InboundToken {
    pub fn new(token: &str) -> Self {
        Self(Arc::new(SecretString::from(token)))
    }

    /// The raw token, for the exchange request body only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for InboundToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InboundToken([REDACTED])")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, expired, wrongly signed or foreign token: 401.
    #[error("invalid token")]
    InvalidToken,
    /// A valid token that does not carry the delegated scope (including app-only tokens): 403.
    #[error("insufficient scope")]
    InsufficientScope,
    /// No signing key could ever be fetched (a cold start while the issuer's JWKS is down): nothing
    /// is accepted, and the client is told to come back rather than to get another token: 503.
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

/// Everything the middleware needs.
pub struct Authenticator {
    validator: TokenValidator,
    resource_metadata_url: String,
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    /// Human-readable name in the RFC 9728 metadata.
    resource_name: String,
}

impl Authenticator {
    pub fn new(config: &Config, http: reqwest::Client) -> Self {
        let discovery = Arc::new(Discovery::new(
            config.resource.auth.authority.clone(),
            http.clone(),
        ));
        Self::with_discovery(config, http, discovery)
    }

    /// Like [`Authenticator::new`], reading the issuer's discovery document through `discovery`
    /// (shared with the token exchange, so it is fetched once).
    pub fn with_discovery(
        config: &Config,
        http: reqwest::Client,
        discovery: Arc<Discovery>,
    ) -> Self {
        Self::for_resource(&config.resource, MCP_TOOLS_NAME, http, discovery)
    }

    /// The authenticator of any resource server: its audience, scope and metadata come from `config`,
    /// `resource_name` names it in its RFC 9728 metadata.
    pub fn for_resource(
        config: &ResourceConfig,
        resource_name: &str,
        http: reqwest::Client,
        discovery: Arc<Discovery>,
    ) -> Self {
        let source = match &config.auth.jwks_uri {
            Some(uri) => KeySource::Jwks(uri.clone()),
            None => KeySource::Discovery(discovery),
        };
        let keys = Arc::new(JwksCache::new(source, http, config.auth.jwks_cooldown));
        let policy = Policy {
            issuer: config.auth.authority.clone(),
            audiences: config.auth.audiences.clone(),
            tenant_id: config.auth.tenant_id.clone(),
            scope: config.auth.scope.clone(),
            leeway_secs: config.auth.leeway.as_secs(),
        };
        Self {
            validator: TokenValidator::new(policy, keys),
            resource_metadata_url: config.resource_metadata_url(),
            resource: config.public_url.to_string(),
            authorization_servers: vec![config.auth.authority.clone()],
            scopes_supported: config.auth.scopes_supported.clone(),
            resource_name: resource_name.to_owned(),
        }
    }

    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// The 401/403 answer for `error`; `token_sent` adds `error="invalid_token"` per RFC 6750 §3.1.
    fn refusal(&self, error: Option<AuthError>) -> Response {
        let metadata = &self.resource_metadata_url;
        let (status, challenge, code) = match error {
            None => (
                StatusCode::UNAUTHORIZED,
                format!(r#"Bearer resource_metadata="{metadata}""#),
                "unauthorized",
            ),
            Some(AuthError::InvalidToken) => (
                StatusCode::UNAUTHORIZED,
                format!(r#"Bearer error="invalid_token", resource_metadata="{metadata}""#),
                "invalid_token",
            ),
            Some(AuthError::KeysUnavailable) => {
                let retry = self.validator.keys().cooldown().as_secs().max(1);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [
                        (header::RETRY_AFTER, retry.to_string()),
                        (header::CACHE_CONTROL, "no-store".to_owned()),
                    ],
                    Json(json!({ "error": "temporarily_unavailable" })),
                )
                    .into_response();
            }
            Some(AuthError::InsufficientScope) => (
                StatusCode::FORBIDDEN,
                format!(
                    r#"Bearer error="insufficient_scope", scope="{}", resource_metadata="{metadata}""#,
                    self.validator.policy().scope
                ),
                "insufficient_scope",
            ),
        };
        let mut response = (status, Json(json!({ "error": code }))).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The bearer token of the `Authorization` header. Exactly one header, scheme `Bearer` (any case).
/// Tokens anywhere else (query string, body, cookies) are never looked at.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Authenticator {
    /// The user of a request with a valid delegated token, or the 401/403 answer.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, Response> {
        let Some(token) = bearer_token(headers) else {
            let sent_something = headers.contains_key(header::AUTHORIZATION);
            return Err(self.refusal(sent_something.then_some(AuthError::InvalidToken)));
        };
        match self.validator.validate(token).await {
            Ok(principal) => {
                tracing::Span::current()
                    .record("user", tracing::field::display(&principal.user_id));
                Ok(principal)
            }
            Err(error) => {
                tracing::info!(reason = %error, "request refused");
                Err(self.refusal(Some(error)))
            }
        }
    }
}

/// axum middleware: admits requests with a valid delegated token and attaches their [`Principal`].
/// (`/mcp` calls [`Authenticator::authenticate`] from its one admission middleware instead.)
pub async fn require_user(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    match auth.authenticate(request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => refusal,
    }
}

/// RFC 9728 protected-resource metadata.
pub async fn resource_metadata(State(auth): State<Arc<Authenticator>>) -> Response {
    let mut response = Json(json!({
        "resource": auth.resource,
        "authorization_servers": auth.authorization_servers,
        "scopes_supported": auth.scopes_supported,
        "bearer_methods_supported": ["header"],
        "resource_name": auth.resource_name,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn inbound_tokens_never_print() {
        let token = InboundToken::new("eyJhbGciOi.secret-part.sig");
        assert_eq!(token.expose(), "eyJhbGciOi.secret-part.sig");
        let debug = format!("{token:?} {:?}", Some(token.clone()));
        assert!(!debug.contains("secret-part"), "{debug}");
    }

    #[test]
    fn bearer_token_requires_one_bearer_header() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Some("abc"));
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Some("abc"));
        assert_eq!(bearer_token(&headers(&["Basic abc"])), None);
        assert_eq!(bearer_token(&headers(&["Bearer "])), None);
        assert_eq!(bearer_token(&headers(&["Bearer"])), None);
        assert_eq!(bearer_token(&headers(&["Bearer a", "Bearer b"])), None);
        assert_eq!(bearer_token(&headers(&[])), None);
    }
}
