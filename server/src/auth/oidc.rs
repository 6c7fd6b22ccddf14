//! The OpenID Connect relying party (openidconnect crate): discovery, the authorization request
//! (code + PKCE S256, random state and nonce), code redemption with ID-token validation, and refresh.
//! Works with any OIDC provider; Entra v2's `oid`/`tid` claims are read when present.

use std::time::Duration;

use anyhow::{Context, anyhow};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthType, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, DiscoveryError, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
        CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType,
        CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
        CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreRevocableToken,
        CoreRevocationErrorResponse, CoreSubjectIdentifierType, CoreTokenIntrospectionResponse,
        CoreTokenType,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use url::Url;

/// Entra's identity claims (absent at other providers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}
impl AdditionalClaims for EntraClaims {}

/// Discovery fields beyond the OIDC core set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraMetadata {
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

/// Provider metadata with core OIDC types and `A` for the extra fields (shared with the dev IdP).
pub type MetadataWith<A> = ProviderMetadata<
    A,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type Metadata = MetadataWith<ExtraMetadata>;
type Fields = IdTokenFields<
    EntraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
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
    EndpointMaybeSet,
>;

/// What the relying party is configured with.
#[derive(Debug, Clone)]
pub struct RpSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

struct Discovered {
    client: OidcClient,
    issuer: String,
    end_session: Option<Url>,
    iss_parameter: bool,
}

/// A lazily discovered OIDC client. Discovery is retried on the next sign-in if the provider was down.
pub struct Oidc {
    settings: RpSettings,
    http: openidconnect::reqwest::Client,
    discovered: OnceCell<Discovered>,
}

/// Everything to remember between the redirect to the provider and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// Set when this round-trip grants one MCP server's scope to the signed-in user (incremental
    /// consent, `/auth/connect`) rather than signing in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Connecting>,
}

/// A Connect round-trip: whose session asked, and for which server's scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connecting {
    /// The identity key of the signed-in user; the provider's answer must be for the same user.
    pub user_key: String,
    /// The server's configured short name.
    pub server: String,
    pub scope: String,
}

/// A successful sign-in. The tokens are secrets: they never print, and leave this process only
/// encrypted (token cache) or to the party they are for.
pub struct SignedIn {
    pub issuer: String,
    pub subject: String,
    pub oid: Option<String>,
    pub tid: Option<String>,
    pub name: String,
    pub id_token: SecretString,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<Duration>,
}

/// The provider could not be reached (connection refused, timed out): nothing is wrong with the
/// sign-in itself, so the way on is to try again shortly rather than to start over differently.
#[derive(Debug, thiserror::Error)]
#[error("the identity provider cannot be reached: {0}")]
pub struct Unreachable(String);

/// A refresh outcome.
pub enum Refreshed {
    Tokens {
        access_token: SecretString,
        refresh_token: Option<SecretString>,
        expires_in: Option<Duration>,
    },
    /// The provider says the grant is gone (`invalid_grant`): the user must sign in again.
    InvalidGrant,
    /// The grant is fine but does not cover this scope: the user has not consented to it (Entra's
    /// `invalid_grant` with AADSTS65001 / `suberror=consent_required`, or OIDC's
    /// `consent_required` / `interaction_required`). The user's other tokens stay.
    ConsentRequired,
}

impl Oidc {
    pub fn new(settings: RpSettings) -> anyhow::Result<Self> {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects from an IdP would be an SSRF vector (openidconnect's advice).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .context("building the OIDC HTTP client")?;
        Ok(Self {
            settings,
            http,
            discovered: OnceCell::new(),
        })
    }

    async fn discovered(&self) -> anyhow::Result<&Discovered> {
        self.discovered
            .get_or_try_init(|| async {
                let issuer =
                    IssuerUrl::new(self.settings.issuer.clone()).context("APP_AUTH__AUTHORITY")?;
                let metadata = Metadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| {
                        // Down or overloaded (no answer, or a 5xx): worth trying again shortly.
                        let unreachable = match &e {
                            DiscoveryError::Request(_) => true,
                            DiscoveryError::Response(status, ..) => status.is_server_error(),
                            _ => false,
                        };
                        let message =
                            format!("OIDC discovery at {} failed: {e}", self.settings.issuer);
                        match unreachable {
                            true => anyhow::Error::new(Unreachable(message)),
                            false => anyhow!(message),
                        }
                    })?;
                let token_url = metadata
                    .token_endpoint()
                    .cloned()
                    .context("the provider has no token endpoint")?;
                let extra = metadata.additional_metadata().clone();
                let issuer = metadata.issuer().to_string();
                let client = Client::from_provider_metadata(
                    metadata,
                    ClientId::new(self.settings.client_id.clone()),
                    Some(ClientSecret::new(self.settings.client_secret.clone())),
                )
                .set_token_uri(token_url)
                .set_redirect_uri(RedirectUrl::new(self.settings.redirect_uri.clone())?)
                .set_auth_type(AuthType::BasicAuth);
                Ok(Discovered {
                    client,
                    issuer,
                    end_session: extra
                        .end_session_endpoint
                        .as_deref()
                        .and_then(|u| Url::parse(u).ok()),
                    iss_parameter: extra.authorization_response_iss_parameter_supported
                        == Some(true),
                })
            })
            .await
    }

    /// The provider's authorization URL for signing in, and what to keep in the session.
    pub async fn begin(&self, return_to: String) -> anyhow::Result<(Url, PendingSignIn)> {
        self.authorize(&self.settings.scopes, return_to, None).await
    }

    /// The authorization URL asking the signed-in user for one more server's scope only (incremental
    /// consent; Entra takes one resource's scopes per request), with `offline_access` so the grant can
    /// be refreshed, and `openid` so the answer proves it is the same user.
    pub async fn begin_connect(
        &self,
        connecting: Connecting,
        return_to: String,
    ) -> anyhow::Result<(Url, PendingSignIn)> {
        let scopes: Vec<String> = ["openid", "profile", "offline_access"]
            .into_iter()
            .map(str::to_owned)
            .chain(connecting.scope.split_whitespace().map(str::to_owned))
            .collect();
        self.authorize(&scopes, return_to, Some(connecting)).await
    }

    async fn authorize(
        &self,
        scopes: &[String],
        return_to: String,
        connect: Option<Connecting>,
    ) -> anyhow::Result<(Url, PendingSignIn)> {
        let discovered = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = discovered.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url,
            PendingSignIn {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to,
                connect,
            },
        ))
    }

    /// Whether the callback must carry `iss` (RFC 9207), and the value it must have.
    pub async fn expected_callback_issuer(&self) -> anyhow::Result<Option<String>> {
        let discovered = self.discovered().await?;
        Ok(discovered.iss_parameter.then(|| discovered.issuer.clone()))
    }

    /// Redeems the code and validates the ID token (signature, `iss`, `aud`, `nonce`, expiry).
    pub async fn finish(&self, code: String, pending: &PendingSignIn) -> anyhow::Result<SignedIn> {
        let discovered = self.discovered().await?;
        let tokens = discovered
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                let message = format!("code redemption failed: {}", describe(&e));
                match e {
                    // No answer: the code is still unused, and a new sign-in will do once it is back.
                    RequestTokenError::Request(_) => anyhow::Error::new(Unreachable(message)),
                    _ => anyhow!(message),
                }
            })?;
        let id_token = tokens
            .id_token()
            .context("the provider returned no ID token")?;
        let verifier = discovered
            .client
            .id_token_verifier()
            // A minute of clock skew, as most IdPs allow.
            .set_time_fn(|| chrono::Utc::now() - chrono::Duration::seconds(60));
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| anyhow!("ID token rejected: {e}"))?;
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
            .unwrap_or_else(|| "Signed-in user".to_owned());
        Ok(SignedIn {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            oid: claims.additional_claims().oid.clone(),
            tid: claims.additional_claims().tid.clone(),
            name,
            id_token: id_token.to_string().into(),
            access_token: tokens.access_token().secret().as_str().into(),
            refresh_token: tokens.refresh_token().map(|t| t.secret().as_str().into()),
            expires_in: tokens.expires_in(),
        })
    }

    /// Redeems a refresh token for `scope` (by scope, never with RFC 8707 `resource`: Entra rejects it).
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scope: &str,
    ) -> anyhow::Result<Refreshed> {
        let discovered = self.discovered().await?;
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = discovered.client.exchange_refresh_token(&token);
        for s in scope.split_whitespace() {
            request = request.add_scope(Scope::new(s.to_owned()));
        }
        match request.request_async(&self.http).await {
            Ok(tokens) => Ok(Refreshed::Tokens {
                access_token: tokens.access_token().secret().as_str().into(),
                refresh_token: tokens.refresh_token().map(|t| t.secret().as_str().into()),
                expires_in: tokens.expires_in(),
            }),
            Err(RequestTokenError::ServerResponse(response)) if needs_consent(&response) => {
                Ok(Refreshed::ConsentRequired)
            }
            Err(RequestTokenError::ServerResponse(response))
                if *response.error() == CoreErrorResponseType::InvalidGrant =>
            {
                Ok(Refreshed::InvalidGrant)
            }
            Err(error) => Err(anyhow!("token refresh failed: {}", describe(&error))),
        }
    }

    /// An RP-initiated logout request, when the provider has an end-session endpoint. It is sent by
    /// POST (OIDC RP-Initiated Logout 1.0 §2 allows both), so the ID token travels in a form body and
    /// never in a URL, where browser history, logs and `Referer` would keep it.
    pub async fn end_session(
        &self,
        id_token: SecretString,
        post_logout_redirect_uri: &str,
    ) -> Option<EndSession> {
        let discovered = self.discovered().await.ok()?;
        Some(EndSession {
            endpoint: discovered.end_session.clone()?,
            id_token_hint: id_token,
            client_id: self.settings.client_id.clone(),
            post_logout_redirect_uri: post_logout_redirect_uri.to_owned(),
        })
    }
}

/// The provider's end-session endpoint and the form fields to post to it.
pub struct EndSession {
    pub endpoint: Url,
    pub id_token_hint: SecretString,
    pub client_id: String,
    pub post_logout_redirect_uri: String,
}

/// Whether a refused refresh means "not consented to this scope" rather than "grant gone". Entra
/// answers `invalid_grant` with an AADSTS code in the description (its `suberror` is not in the
/// standard error type); other providers use OIDC's error codes. Entra's refusals that one
/// resource's policy asks more of the user — consent (65001, 65004 declined), MFA (50076, 50079),
/// a fresh sign-in (50158), Conditional Access (53003) — are answered for that resource alone: an
/// interactive round-trip (Connect) can satisfy them, and the refresh token stays good for the rest.
fn needs_consent(response: &StandardErrorResponse<CoreErrorResponseType>) -> bool {
    const PER_RESOURCE: [&str; 6] = [
        "AADSTS65001",
        "AADSTS65004",
        "AADSTS50076",
        "AADSTS50079",
        "AADSTS50158",
        "AADSTS53003",
    ];
    match response.error() {
        CoreErrorResponseType::InvalidGrant => response
            .error_description()
            .is_some_and(|d| PER_RESOURCE.iter().any(|code| d.contains(code))),
        CoreErrorResponseType::Extension(code) => {
            matches!(code.as_str(), "consent_required" | "interaction_required")
        }
        _ => false,
    }
}

/// Error text without secrets (provider error code and description only).
fn describe<E: std::error::Error + 'static>(
    error: &RequestTokenError<E, StandardErrorResponse<CoreErrorResponseType>>,
) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => format!(
            "{}{}",
            response.error().as_ref(),
            response
                .error_description()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        RequestTokenError::Request(e) => format!("request failed: {e}"),
        RequestTokenError::Parse(e, _) => format!("unparsable response: {e}"),
        RequestTokenError::Other(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use openidconnect::{StandardErrorResponse, core::CoreErrorResponseType};

    use super::needs_consent;

    fn refused(error: CoreErrorResponseType, description: &str) -> bool {
        needs_consent(&StandardErrorResponse::new(
            error,
            Some(description.to_owned()),
            None,
        ))
    }

    #[test]
    fn per_resource_refusals_are_not_a_lost_grant() {
        let grant = CoreErrorResponseType::InvalidGrant;
        assert!(refused(
            grant.clone(),
            "AADSTS65001: The user or administrator has not consented"
        ));
        assert!(refused(
            grant.clone(),
            "AADSTS50076: Due to a configuration change … MFA"
        ));
        assert!(refused(
            CoreErrorResponseType::Extension("interaction_required".into()),
            ""
        ));
        // The refresh token itself is gone: the user signs in again.
        assert!(!refused(
            grant.clone(),
            "AADSTS70008: The refresh token has expired"
        ));
        assert!(!refused(grant, "refresh token reused"));
        assert!(!refused(
            CoreErrorResponseType::InvalidClient,
            "AADSTS65001"
        ));
    }
}
