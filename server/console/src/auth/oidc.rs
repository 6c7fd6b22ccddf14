//! The console as an OpenID Connect public client (openidconnect crate): the authorization request
//! (code + PKCE S256, random `state` and `nonce`), code redemption with ID-token validation (signature
//! from the provider's JWKS, `iss`, `aud`, `nonce`, expiry), and refresh by scope. No client secret, no
//! RFC 8707 `resource` (Entra refuses it unless the App ID URI is the server's URL; the scope names the
//! resource). Entra's `oid`/`tid` are read when present.

use std::time::Duration;

use anyhow::{Context, anyhow};
use openidconnect::{
    AdditionalClaims, AuthType, AuthUrl, AuthorizationCode, Client, ClientId, CsrfToken,
    EmptyExtraTokenFields, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, JsonWebKeySet,
    JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse, TokenUrl,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
        CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreTokenIntrospectionResponse, CoreTokenType,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::discovery::AuthServerMetadata;

/// Entra's identity claims (absent at other providers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}
impl AdditionalClaims for EntraClaims {}

type Fields = IdTokenFields<
    EntraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type OidcClient = Client<
    EntraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

/// Who signed in, from the validated ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    /// Display name, else the user name, else the subject.
    pub name: String,
    #[serde(default)]
    pub username: Option<String>,
}

impl Identity {
    /// The stable key of the user at an issuer: `tid/oid` where Entra gives them, else `sub`.
    pub fn key(&self) -> String {
        match (&self.tid, &self.oid) {
            (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
            _ => self.subject.clone(),
        }
    }

    /// `Alice Smith (alice@example.com)`.
    pub fn describe(&self) -> String {
        match &self.username {
            Some(username) if *username != self.name => format!("{} ({username})", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Tokens from the token endpoint. They never print (`SecretString`).
pub struct Issued {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
}

/// A completed sign-in.
pub struct SignedIn {
    pub identity: Identity,
    pub tokens: Issued,
}

/// What a refresh gave.
pub enum Refreshed {
    Tokens(Issued),
    /// The grant is gone (`invalid_grant`, or the client is no longer known): sign in again.
    GrantGone(String),
}

/// The provider as the console talks to it.
pub struct Provider {
    metadata: AuthServerMetadata,
    client_id: String,
    http: openidconnect::reqwest::Client,
}

/// Everything to keep between the authorization request and the callback.
pub struct Pending {
    pub url: Url,
    pub state: String,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    redirect_uri: String,
}

impl Provider {
    pub fn new(metadata: AuthServerMetadata, client_id: String) -> anyhow::Result<Self> {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects from the provider's endpoints would be an SSRF vector.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .context("building the OAuth HTTP client")?;
        Ok(Self {
            metadata,
            client_id,
            http,
        })
    }

    pub fn metadata(&self) -> &AuthServerMetadata {
        &self.metadata
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn client(&self, jwks: JsonWebKeySet<CoreJsonWebKey>) -> anyhow::Result<OidcClient> {
        Ok(Client::new(
            ClientId::new(self.client_id.clone()),
            IssuerUrl::new(self.metadata.issuer.clone()).context("the issuer is not a URL")?,
            jwks,
        )
        .set_auth_uri(AuthUrl::from_url(
            self.metadata.authorization_endpoint.clone(),
        ))
        .set_token_uri(TokenUrl::from_url(self.metadata.token_endpoint.clone()))
        // A public client: `client_id` in the body, no secret.
        .set_auth_type(AuthType::RequestBody))
    }

    /// The authorization request for `scopes` (`openid` is always added) to come back to
    /// `redirect_uri`.
    pub fn begin(&self, redirect_uri: &str, scopes: &[String]) -> anyhow::Result<Pending> {
        let client = self
            .client(JsonWebKeySet::new(Vec::new()))?
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned())?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Pending {
            url,
            state: state.secret().clone(),
            nonce,
            verifier,
            redirect_uri: redirect_uri.to_owned(),
        })
    }

    /// Redeems the code and validates the ID token against the provider's keys and the request's nonce.
    pub async fn finish(&self, code: String, pending: Pending) -> anyhow::Result<SignedIn> {
        let jwks_uri = self.metadata.jwks_uri.clone().context(
            "the authorization server publishes no keys (jwks_uri): it is not an OpenID provider",
        )?;
        let jwks = JsonWebKeySet::fetch_async(&JsonWebKeySetUrl::from_url(jwks_uri), &self.http)
            .await
            .map_err(|e| anyhow!("fetching the provider's keys failed: {e}"))?;
        let client = self
            .client(jwks)?
            .set_redirect_uri(RedirectUrl::new(pending.redirect_uri.clone())?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("code redemption failed: {}", describe(&e)))?;
        let id_token = tokens
            .id_token()
            .context("the provider returned no ID token")?;
        let verifier = client
            .id_token_verifier()
            // A minute of clock skew, as most providers allow.
            .set_time_fn(|| chrono::Utc::now() - chrono::Duration::seconds(60));
        let claims = id_token
            .claims(&verifier, &pending.nonce)
            .map_err(|e| anyhow!("the ID token was rejected: {e}"))?;
        let username = claims.preferred_username().map(|u| u.as_str().to_owned());
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| username.clone())
            .unwrap_or_else(|| claims.subject().to_string());
        Ok(SignedIn {
            identity: Identity {
                subject: claims.subject().to_string(),
                oid: claims.additional_claims().oid.clone(),
                tid: claims.additional_claims().tid.clone(),
                name,
                username,
            },
            tokens: issued(&tokens),
        })
    }

    /// Redeems a refresh token for `scopes` (plus `offline_access`, so a rotated refresh token comes
    /// back).
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scopes: &str,
    ) -> anyhow::Result<Refreshed> {
        let client = self.client(JsonWebKeySet::new(Vec::new()))?;
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client.exchange_refresh_token(&token);
        for scope in scopes
            .split_whitespace()
            .chain(["offline_access"])
            .collect::<std::collections::BTreeSet<_>>()
        {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        match request.request_async(&self.http).await {
            Ok(tokens) => Ok(Refreshed::Tokens(issued(&tokens))),
            Err(RequestTokenError::ServerResponse(response))
                if matches!(
                    response.error(),
                    CoreErrorResponseType::InvalidGrant
                        | CoreErrorResponseType::InvalidClient
                        | CoreErrorResponseType::UnauthorizedClient
                ) =>
            {
                Ok(Refreshed::GrantGone(describe_response(&response)))
            }
            Err(error) => Err(anyhow!("token refresh failed: {}", describe(&error))),
        }
    }
}

fn issued(tokens: &Tokens) -> Issued {
    Issued {
        access_token: tokens.access_token().secret().as_str().into(),
        refresh_token: tokens.refresh_token().map(|t| t.secret().as_str().into()),
        expires_in: tokens.expires_in(),
    }
}

/// `error: description` of a provider's error response.
fn describe_response(response: &StandardErrorResponse<CoreErrorResponseType>) -> String {
    format!(
        "{}{}",
        response.error().as_ref(),
        response
            .error_description()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    )
}

/// Error text without secrets (the provider's error code and description only).
fn describe<E: std::error::Error + 'static>(
    error: &RequestTokenError<E, StandardErrorResponse<CoreErrorResponseType>>,
) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => describe_response(response),
        RequestTokenError::Request(e) => format!("request failed: {e}"),
        RequestTokenError::Parse(e, _) => format!("unparsable response: {e}"),
        RequestTokenError::Other(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> AuthServerMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://login.example.com/t/v2.0",
            "authorization_endpoint": "https://login.example.com/t/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.example.com/t/oauth2/v2.0/token",
            "code_challenge_methods_supported": ["S256"],
        }))
        .unwrap()
    }

    #[test]
    fn the_authorization_request_has_pkce_state_nonce_and_the_scopes() {
        let provider = Provider::new(metadata(), "console-id".to_owned()).unwrap();
        let scopes = [
            "openid".to_owned(),
            "offline_access".to_owned(),
            "api://x/mcp:tools".to_owned(),
        ];
        let pending = provider
            .begin("http://127.0.0.1:5555/callback", &scopes)
            .unwrap();
        let query: std::collections::HashMap<String, String> =
            pending.url.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "console-id");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:5555/callback");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["state"], pending.state);
        assert!(query["nonce"].len() >= 16);
        assert_eq!(query["scope"], "openid offline_access api://x/mcp:tools");
        assert!(!query.contains_key("resource"));
        assert!(!query.contains_key("client_secret"));
    }

    #[test]
    fn identities_key_by_tenant_and_object_id_where_given() {
        let mut identity = Identity {
            subject: "sub-1".into(),
            oid: Some("oid-1".into()),
            tid: Some("tid-1".into()),
            name: "Alice Smith".into(),
            username: Some("alice@example.com".into()),
        };
        assert_eq!(identity.key(), "tid-1/oid-1");
        assert_eq!(identity.describe(), "Alice Smith (alice@example.com)");
        identity.oid = None;
        assert_eq!(identity.key(), "sub-1");
    }
}
