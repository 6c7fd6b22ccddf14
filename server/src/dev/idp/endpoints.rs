//! Discovery (OIDC and RFC 8414), JWKS, userinfo, RP-initiated logout, RFC 7591 dynamic registration
//! for public clients, and key rotation.

use std::sync::Arc;

use axum::{
    Form, Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use jsonwebtoken::{Algorithm, Validation};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, RegistrationUrl,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
    core::{
        CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreJwsSigningAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use crate::support::html_escape;

use super::{
    Inner,
    authorize::page,
    directory::{GRAPH_AUDIENCE, OIDC_SCOPES},
    random_token,
    store::ClientRow,
    tokens::AccessClaims,
};

/// Metadata fields Entra (and OAuth 2.1 clients) use beyond OIDC Discovery's core set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    pub end_session_endpoint: String,
    pub code_challenge_methods_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub tenant_region_scope: Option<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = crate::auth::oidc::MetadataWith<ExtraMetadata>;

fn metadata(inner: &Inner) -> anyhow::Result<Metadata> {
    let mut scopes: Vec<Scope> = OIDC_SCOPES
        .iter()
        .map(|s| Scope::new((*s).to_owned()))
        .collect();
    for resource in &inner.resources {
        scopes.extend(
            resource
                .scopes
                .iter()
                .map(|s| Scope::new(format!("{}/{s}", resource.app_id_uri))),
        );
    }
    Ok(Metadata::new(
        IssuerUrl::new(inner.issuer())?,
        AuthUrl::new(inner.endpoint("oauth2/v2.0/authorize"))?,
        JsonWebKeySetUrl::new(inner.endpoint("discovery/v2.0/keys"))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Pairwise],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        ExtraMetadata {
            end_session_endpoint: inner.endpoint("oauth2/v2.0/logout"),
            code_challenge_methods_supported: vec!["S256".to_owned()],
            authorization_response_iss_parameter_supported: true,
            tenant_region_scope: None,
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(inner.endpoint("oauth2/v2.0/token"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(
        inner.endpoint("openid/v2.0/userinfo"),
    )?))
    .set_registration_endpoint(Some(RegistrationUrl::new(
        inner.endpoint("oauth2/v2.0/register"),
    )?))
    .set_scopes_supported(Some(scopes))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
        CoreGrantType::JwtBearer,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "nonce",
            "name",
            "preferred_username",
            "email",
            "oid",
            "tid",
            "ver",
            "azp",
            "scp",
            "roles",
            "idtyp",
            "at_hash",
        ]
        .into_iter()
        .map(|c| CoreClaimName::new(c.to_owned()))
        .collect(),
    )))
}

fn tenant_ok(inner: &Inner, tenant: Option<&str>) -> bool {
    tenant.is_none_or(|t| t == inner.tenant_id)
}

/// Discovery at the issuer path (Entra style), RFC 8414 paths, and the listener's root.
pub async fn discovery(State(inner): State<Arc<Inner>>, tenant: Option<Path<String>>) -> Response {
    if !tenant_ok(&inner, tenant.as_deref().map(String::as_str)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match metadata(&inner) {
        Ok(metadata) => Json(metadata).into_response(),
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "building discovery metadata failed"
            );
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub async fn jwks(State(inner): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    if !tenant_ok(&inner, Some(&tenant)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(inner.keys.jwks()).into_response()
}

/// What logout needs from an ID token hint (`aud` is an array in ID tokens).
#[derive(Deserialize)]
struct HintClaims {
    aud: serde_json::Value,
    oid: String,
}

/// Validates a token this IdP issued (signature, issuer, expiry); audience is checked by the caller.
fn own_token<T: serde::de::DeserializeOwned>(
    inner: &Inner,
    token: &str,
    check_exp: bool,
) -> Option<T> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let key = inner.keys.decoding_key(header.kid.as_deref()?)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[inner.issuer()]);
    validation.validate_aud = false;
    validation.validate_exp = check_exp;
    validation.set_required_spec_claims(&["iss"]);
    jsonwebtoken::decode::<T>(token, &key, &validation)
        .ok()
        .map(|d| d.claims)
}

/// OIDC userinfo for access tokens minted for it (Entra: Graph-audience tokens).
pub async fn userinfo(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let claims = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| own_token::<AccessClaims>(&inner, token, true))
        .filter(|c| c.aud == GRAPH_AUDIENCE && c.idtyp.is_none());
    let Some(claims) = claims else {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
        return response;
    };
    let Some(user) = inner.users.iter().find(|u| u.oid == claims.oid) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    Json(json!({
        "sub": claims.sub,
        "oid": user.oid,
        "tid": claims.tid,
        "name": user.name,
        "preferred_username": user.email,
        "email": user.email,
    }))
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// RP-initiated logout. Redirects only to a `post_logout_redirect_uri` registered for the client;
/// a valid `id_token_hint` also revokes the user's refresh tokens at that client.
pub async fn logout_get(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Query(params): Query<LogoutParams>,
) -> Response {
    logout(&inner, &tenant, params).await
}

pub async fn logout_post(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Form(params): Form<LogoutParams>,
) -> Response {
    logout(&inner, &tenant, params).await
}

async fn logout(inner: &Inner, tenant: &str, params: LogoutParams) -> Response {
    if !tenant_ok(inner, Some(tenant)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let hint = params
        .id_token_hint
        .as_deref()
        .and_then(|token| own_token::<HintClaims>(inner, token, false));
    // For an ID token `aud` is the client id (one-element array).
    let hinted_client = hint.as_ref().and_then(|c| match &c.aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => {
            items.first().and_then(|v| v.as_str()).map(str::to_owned)
        }
        _ => None,
    });
    let client_id = params.client_id.clone().or(hinted_client);
    let client = match &client_id {
        Some(id) => inner.store.client(id).await.ok().flatten(),
        None => None,
    };
    if let (Some(claims), Some(client)) = (&hint, &client)
        && let Some(user) = inner.users.iter().find(|u| u.oid == claims.oid)
    {
        match inner
            .store
            .revoke_user_client(&user.username, &client.client_id)
            .await
        {
            Ok(revoked) => tracing::info!(client = %client.client_id, revoked, "dev IdP sign-out"),
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "revoking on sign-out failed")
            }
        }
    }
    if let Some(target) = &params.post_logout_redirect_uri {
        let registered = client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == target));
        if !registered {
            return (
                StatusCode::BAD_REQUEST,
                Html(page(
                    "Sign-out error",
                    &format!(
                        "<h1>Sign-out error</h1><p>{} is not a registered post-logout redirect URI.</p>",
                        html_escape(target)
                    ),
                )),
            )
                .into_response();
        }
        let Ok(mut url) = Url::parse(target) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        if let Some(state) = &params.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        return Redirect::to(url.as_str()).into_response();
    }
    Html(page(
        "Signed out",
        "<h1>You are signed out</h1><p>You can close this window.</p>",
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

fn registration_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_client_metadata", "error_description": description })),
    )
        .into_response()
}

/// Redirect URIs a dynamically registered (public) client may use: https, or http on loopback.
fn acceptable_redirect(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
        _ => false,
    }
}

/// RFC 7591 registration of public clients (MCP Inspector, SDK OAuth clients).
pub async fn register(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Json(request): Json<RegistrationRequest>,
) -> Response {
    if !tenant_ok(&inner, Some(&tenant)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if request.redirect_uris.is_empty() {
        return registration_error("redirect_uris is required");
    }
    if let Some(bad) = request
        .redirect_uris
        .iter()
        .find(|u| !acceptable_redirect(u))
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_redirect_uri",
                "error_description": format!("{bad} is neither https nor a loopback http URI"),
            })),
        )
            .into_response();
    }
    if request
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return registration_error(
            "only public clients (token_endpoint_auth_method=none) can register",
        );
    }
    if request.grant_types.as_ref().is_some_and(|g| {
        g.iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    }) {
        return registration_error("grant_types may be authorization_code and refresh_token");
    }
    if request
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|r| r != "code"))
    {
        return registration_error("response_types may only be code");
    }
    let name: String = request
        .client_name
        .unwrap_or_else(|| "Registered client".to_owned())
        .chars()
        .take(100)
        .collect();
    let client = ClientRow {
        client_id: format!("dyn-{}", &random_token()[..22]),
        name: name.clone(),
        secret_sha256: None,
        redirect_uris: sqlx::types::Json(request.redirect_uris.clone()),
        post_logout_redirect_uris: sqlx::types::Json(vec![]),
        app_roles: sqlx::types::Json(vec![]),
        dynamic: true,
    };
    if let Err(error) = inner.store.upsert_client(&client).await {
        tracing::error!(error = format!("{error:#}"), "registering a client failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(client = %client.client_id, "dev IdP registered a public client");
    (
        StatusCode::CREATED,
        Json(json!({
            "client_id": client.client_id,
            "client_id_issued_at": chrono::Utc::now().timestamp(),
            "client_name": name,
            "redirect_uris": request.redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        })),
    )
        .into_response()
}

/// `POST /dev/rotate-keys` with header `X-Dev-Idp-Admin: rotate`: a new key signs from now on; the old
/// one stays published for the grace period. The custom header keeps browsers on other sites from
/// triggering it (it would need a CORS preflight, which this server never grants).
pub async fn rotate_keys(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if headers.get("x-dev-idp-admin").and_then(|v| v.to_str().ok()) != Some("rotate") {
        return StatusCode::FORBIDDEN.into_response();
    }
    match inner.keys.rotate().await {
        Ok(kid) => {
            tracing::info!(%kid, "dev IdP signing key rotated");
            Json(json!({ "active_kid": kid })).into_response()
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "key rotation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
