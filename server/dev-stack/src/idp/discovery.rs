//! Discovery (OIDC Discovery and RFC 8414) built with openidconnect's provider-side metadata type, and
//! the JWKS.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    RegistrationUrl, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
    core::{
        CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
        CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
        CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    },
};
use serde::{Deserialize, Serialize};

use super::{Inner, directory::OIDC_SCOPES, token::TOKEN_EXCHANGE};

/// Metadata fields Entra (and OAuth 2.1 clients) use beyond OIDC Discovery's core set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    pub end_session_endpoint: String,
    /// RFC 8628 §4.
    pub device_authorization_endpoint: String,
    pub code_challenge_methods_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
    pub tenant_region_scope: Option<String>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// OIDC Discovery metadata as openidconnect's provider side writes it, with Entra's extra fields.
pub type Metadata = ProviderMetadata<
    ExtraMetadata,
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
            device_authorization_endpoint: inner.endpoint("oauth2/v2.0/devicecode"),
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
        CoreGrantType::Extension(TOKEN_EXCHANGE.to_owned()),
        CoreGrantType::DeviceCode,
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

pub(super) fn tenant_ok(inner: &Inner, tenant: Option<&str>) -> bool {
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
