//! The console as an OpenID Connect public client (openidconnect crate): the authorization request
//! (code + PKCE S256, random `state` and `nonce`), code redemption with ID-token validation (signature
//! from the provider's JWKS, `iss`, `aud`, `nonce`, expiry), the device authorization grant (RFC 8628:
//! device code, polling at the provider's interval, the same ID-token checks without a nonce), and
//! refresh by scope. No client secret, no
//! RFC 8707 `resource` (Entra refuses it unless the App ID URI is the server's URL; the scope names the
//! resource). Entra's `oid`/`tid` are read when present.

use std::time::Duration;

use anyhow::{Context, anyhow};
use openidconnect::{
    AdditionalClaims, AuthType, AuthUrl, AuthorizationCode, Client, ClientId, CsrfToken,
    DeviceAuthorizationUrl, DeviceCodeErrorResponse, DeviceCodeErrorResponseType,
    EmptyExtraTokenFields, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, JsonWebKeySet,
    JsonWebKeySetUrl, Nonce, NonceVerifier, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, TokenUrl,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreDeviceAuthorizationResponse,
        CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
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

/// Added to the provider's polling interval (see [`Provider::device_finish`]).
const POLL_MARGIN: Duration = Duration::from_millis(100);

/// A started device sign-in (RFC 8628 §3.2): what to show the user. The device code stays inside.
pub struct DeviceStart {
    details: CoreDeviceAuthorizationResponse,
}

impl DeviceStart {
    /// The page where the user enters the code.
    pub fn verification_uri(&self) -> &str {
        self.details.verification_uri().as_str()
    }

    /// The page with the code filled in, when the provider gives one.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.details
            .verification_uri_complete()
            .map(|uri| uri.secret().as_str())
    }

    /// The code the user enters (short-lived, meant to be shown).
    pub fn user_code(&self) -> &str {
        self.details.user_code().secret()
    }

    /// How long the codes are valid.
    pub fn expires_in(&self) -> Duration {
        self.details.expires_in()
    }
}

/// Why a device sign-in did not complete; the text is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The provider's metadata has no `device_authorization_endpoint`.
    #[error("the provider offers no device sign-in (no device_authorization_endpoint)")]
    Unsupported,
    /// `access_denied`, or Entra's `authorization_declined`.
    #[error("sign-in declined ({0})")]
    Declined(String),
    /// `expired_token`, or the code's lifetime passed while polling.
    #[error(
        "the code expired before the sign-in was completed; run the command again for a new one"
    )]
    Expired,
    #[error("{0}")]
    Failed(String),
}

impl From<anyhow::Error> for DeviceError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(format!("{error:#}"))
    }
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

    /// The provider's signing keys (its `jwks_uri`), for validating an ID token.
    async fn keys(&self) -> anyhow::Result<JsonWebKeySet<CoreJsonWebKey>> {
        let jwks_uri = self.metadata.jwks_uri.clone().context(
            "the authorization server publishes no keys (jwks_uri): it is not an OpenID provider",
        )?;
        JsonWebKeySet::fetch_async(&JsonWebKeySetUrl::from_url(jwks_uri), &self.http)
            .await
            .map_err(|e| anyhow!("fetching the provider's keys failed: {e}"))
    }

    /// Redeems the code and validates the ID token against the provider's keys and the request's nonce.
    pub async fn finish(&self, code: String, pending: Pending) -> anyhow::Result<SignedIn> {
        let client = self
            .client(self.keys().await?)?
            .set_redirect_uri(RedirectUrl::new(pending.redirect_uri.clone())?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("code redemption failed: {}", describe(&e)))?;
        signed_in(&client, &tokens, &pending.nonce)
    }

    /// RFC 8628 §3.1–3.2: asks the device authorization endpoint for a device code and the user code
    /// to show, for `scopes` (`openid` is always added).
    pub async fn device_begin(&self, scopes: &[String]) -> Result<DeviceStart, DeviceError> {
        let endpoint = self
            .metadata
            .device_authorization_endpoint
            .clone()
            .ok_or(DeviceError::Unsupported)?;
        let client = self
            .client(JsonWebKeySet::new(Vec::new()))?
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(endpoint));
        let mut request = client.exchange_device_code();
        for scope in scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let details: CoreDeviceAuthorizationResponse =
            request.request_async(&self.http).await.map_err(|e| {
                DeviceError::Failed(format!(
                    "the device authorization request failed: {}",
                    describe(&e)
                ))
            })?;
        Ok(DeviceStart { details })
    }

    /// RFC 8628 §3.4–3.5: polls the token endpoint at the given `interval` (five seconds more after each
    /// `slow_down`, `authorization_pending` keeps waiting) until the user decides or the code expires,
    /// then validates the ID token like [`Self::finish`] (issuer, audience, signature, expiry); no nonce
    /// was sent, so the token must carry none.
    pub async fn device_finish(&self, start: DeviceStart) -> Result<SignedIn, DeviceError> {
        let client = self.client(self.keys().await?)?;
        let tokens = client
            .exchange_device_access_token(&start.details)
            .request_async(
                &self.http,
                // A little over the interval, so timer granularity never makes a poll early (which
                // the provider would answer with slow_down, adding five seconds).
                |interval| tokio::time::sleep(interval + POLL_MARGIN),
                None,
            )
            .await
            .map_err(|error| match &error {
                RequestTokenError::ServerResponse(response) => match response.error() {
                    DeviceCodeErrorResponseType::AccessDenied => {
                        DeviceError::Declined(describe_device_response(response))
                    }
                    DeviceCodeErrorResponseType::Basic(CoreErrorResponseType::Extension(code))
                        if code == "authorization_declined" =>
                    {
                        DeviceError::Declined(describe_device_response(response))
                    }
                    DeviceCodeErrorResponseType::ExpiredToken => DeviceError::Expired,
                    _ => DeviceError::Failed(format!(
                        "the token endpoint answered {}",
                        describe_device_response(response)
                    )),
                },
                RequestTokenError::Request(e) => {
                    DeviceError::Failed(format!("polling the token endpoint failed: {e}"))
                }
                RequestTokenError::Parse(e, _) => {
                    DeviceError::Failed(format!("the token endpoint's answer is unparsable: {e}"))
                }
                RequestTokenError::Other(e) => DeviceError::Failed(e.clone()),
            })?;
        let no_nonce = |nonce: Option<&Nonce>| match nonce {
            None => Ok(()),
            // No nonce was sent: one in the token means it was issued for another request.
            Some(_) => Err("the ID token carries a nonce, but none was sent".to_owned()),
        };
        Ok(signed_in(&client, &tokens, no_nonce)?)
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

/// The user of a validated ID token (signature from the provider's keys, `iss`, `aud` = the client id,
/// expiry with a minute of skew, the nonce by `nonce`) and the tokens.
fn signed_in(
    client: &OidcClient,
    tokens: &Tokens,
    nonce: impl NonceVerifier,
) -> anyhow::Result<SignedIn> {
    let id_token = tokens
        .id_token()
        .context("the provider returned no ID token")?;
    let verifier = client
        .id_token_verifier()
        // A minute of clock skew, as most providers allow.
        .set_time_fn(|| chrono::Utc::now() - chrono::Duration::seconds(60));
    let claims = id_token
        .claims(&verifier, nonce)
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
        tokens: issued(tokens),
    })
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

/// `error: description` of the token endpoint's answer to a device poll.
fn describe_device_response(response: &DeviceCodeErrorResponse) -> String {
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

    /// A provider over real HTTP whose token endpoint answers the device's polls with `answers`, one
    /// error each; the instants of the polls.
    async fn device_provider(
        answers: &[&'static str],
        interval: u64,
    ) -> (
        Provider,
        std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
    ) {
        use std::sync::{Arc, Mutex};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let polls = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(answers.to_vec()));
        let started = serde_json::json!({
            "device_code": "the-device-code",
            "user_code": "BCDF-GHJK",
            "verification_uri": format!("{base}/deviceauth"),
            "expires_in": 60,
            "interval": interval,
        });
        let seen = polls.clone();
        let app = axum::Router::new()
            .route(
                "/devicecode",
                axum::routing::post(move || {
                    let started = started.clone();
                    async move { axum::Json(started) }
                }),
            )
            .route(
                "/keys",
                axum::routing::get(|| async { axum::Json(serde_json::json!({ "keys": [] })) }),
            )
            .route(
                "/token",
                axum::routing::post(move || {
                    seen.lock().unwrap().push(std::time::Instant::now());
                    let error = queue.lock().unwrap().remove(0);
                    async move {
                        (
                            axum::http::StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({ "error": error })),
                        )
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let metadata = serde_json::from_value(serde_json::json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/keys"),
            "device_authorization_endpoint": format!("{base}/devicecode"),
        }))
        .unwrap();
        (
            Provider::new(metadata, "console-id".to_owned()).unwrap(),
            polls,
        )
    }

    #[tokio::test]
    async fn slow_down_adds_five_seconds_and_entras_authorization_declined_is_a_decline() {
        let (provider, polls) = device_provider(
            &[
                "authorization_pending",
                "slow_down",
                "authorization_declined",
            ],
            0,
        )
        .await;
        let start = provider.device_begin(&["openid".to_owned()]).await.unwrap();
        assert_eq!(start.user_code(), "BCDF-GHJK");
        assert!(start.verification_uri().ends_with("/deviceauth"));
        assert_eq!(start.verification_uri_complete(), None);
        match provider.device_finish(start).await {
            Err(DeviceError::Declined(reason)) => {
                assert!(reason.contains("authorization_declined"), "{reason}")
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("signed in"),
        }
        let polls = polls.lock().unwrap();
        assert_eq!(polls.len(), 3, "pending and slow_down keep polling");
        assert!(polls[1] - polls[0] < Duration::from_secs(2));
        assert!(
            polls[2] - polls[1] >= Duration::from_secs(5),
            "slow_down: five seconds more"
        );
    }

    #[tokio::test]
    async fn access_denied_is_a_decline_and_expired_token_ends_the_wait() {
        let (provider, _) = device_provider(&["access_denied"], 0).await;
        let start = provider.device_begin(&[]).await.unwrap();
        assert!(matches!(
            provider.device_finish(start).await,
            Err(DeviceError::Declined(reason)) if reason.starts_with("access_denied")
        ));
        let (provider, polls) =
            device_provider(&["authorization_pending", "expired_token"], 0).await;
        let start = provider.device_begin(&[]).await.unwrap();
        assert!(matches!(
            provider.device_finish(start).await,
            Err(DeviceError::Expired)
        ));
        assert_eq!(polls.lock().unwrap().len(), 2);
        let (provider, _) = device_provider(&["invalid_client"], 0).await;
        let start = provider.device_begin(&[]).await.unwrap();
        assert!(matches!(
            provider.device_finish(start).await,
            Err(DeviceError::Failed(reason)) if reason.contains("invalid_client")
        ));
    }

    #[tokio::test]
    async fn a_provider_without_a_device_endpoint_is_refused_before_any_request() {
        let provider = Provider::new(metadata(), "console-id".to_owned()).unwrap();
        assert!(matches!(
            provider.device_begin(&[]).await,
            Err(DeviceError::Unsupported)
        ));
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
