//! Minting tokens with Entra v2 claims: access tokens as RS256 JWTs (jsonwebtoken), ID tokens through
//! openidconnect's provider-side types.

use anyhow::Context;
use chrono::{TimeZone, Utc};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, EndUserEmail, EndUserName, EndUserUsername, IdToken,
    IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, StandardClaims, SubjectIdentifier,
    core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm},
};
use serde::{Deserialize, Serialize};

use super::{
    Inner,
    directory::{DevUser, GRAPH_AUDIENCE, ScopeRequest},
    stable_guid,
    store::now,
};

/// Entra's claims beyond the OIDC standard ones, in ID tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntraIdClaims {
    pub oid: String,
    pub tid: String,
    pub ver: String,
}

impl AdditionalClaims for EntraIdClaims {}

pub type EntraIdToken = IdToken<
    EntraIdClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Claims of an access token (Entra v2 shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub oid: String,
    pub tid: String,
    pub azp: String,
    pub ver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub uti: String,
}

/// Entra's `sub` is pairwise: stable per user and client, different across clients.
fn pairwise_sub(inner: &Inner, user_oid: &str, client_id: &str) -> String {
    stable_guid(&format!("sub/{}/{user_oid}/{client_id}", inner.tenant_id))
}

/// The object id of a client's service principal (the `oid` of its app-only tokens).
pub fn service_principal_oid(inner: &Inner, client_id: &str) -> String {
    stable_guid(&format!("sp/{}/{client_id}", inner.tenant_id))
}

/// An access token for the request's resource (or for the userinfo endpoint when only OIDC scopes were
/// asked). `user` is `None` for app-only tokens, which carry `roles` and no `scp`.
pub fn access_token(
    inner: &Inner,
    user: Option<&DevUser>,
    client_id: &str,
    request: &ScopeRequest,
    roles: &[String],
) -> anyhow::Result<(String, i64)> {
    let iat = now();
    let exp = iat + inner.access_token_lifetime;
    let (aud, scp) = match &request.resource {
        Some((resource, scopes)) => (resource.audience.clone(), scopes.join(" ")),
        None => (GRAPH_AUDIENCE.to_owned(), request.oidc.join(" ")),
    };
    let claims = match user {
        Some(user) => AccessClaims {
            iss: inner.issuer(),
            aud,
            sub: pairwise_sub(inner, &user.oid, client_id),
            oid: user.oid.clone(),
            tid: inner.tenant_id.clone(),
            azp: client_id.to_owned(),
            ver: "2.0".to_owned(),
            scp: Some(scp),
            roles: None,
            idtyp: None,
            name: Some(user.name.clone()),
            preferred_username: Some(user.email.clone()),
            iat,
            nbf: iat,
            exp,
            uti: uuid::Uuid::new_v4().simple().to_string(),
        },
        None => {
            let oid = service_principal_oid(inner, client_id);
            AccessClaims {
                iss: inner.issuer(),
                aud,
                sub: oid.clone(),
                oid,
                tid: inner.tenant_id.clone(),
                azp: client_id.to_owned(),
                ver: "2.0".to_owned(),
                scp: None,
                roles: Some(roles.to_vec()),
                idtyp: Some("app".to_owned()),
                name: None,
                preferred_username: None,
                iat,
                nbf: iat,
                exp,
                uti: uuid::Uuid::new_v4().simple().to_string(),
            }
        }
    };
    Ok((inner.keys.sign(&claims)?, inner.access_token_lifetime))
}

/// An ID token for `user` at `client_id`, bound to the access token (`at_hash`) and the nonce.
pub fn id_token(
    inner: &Inner,
    user: &DevUser,
    client_id: &str,
    request: &ScopeRequest,
    nonce: Option<&str>,
    access_token: &str,
) -> anyhow::Result<String> {
    let iat = now();
    let issued = Utc.timestamp_opt(iat, 0).single().context("clock")?;
    let expires = Utc
        .timestamp_opt(iat + inner.access_token_lifetime, 0)
        .single()
        .context("clock")?;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(pairwise_sub(
        inner, &user.oid, client_id,
    )));
    if request.has("profile") {
        standard = standard
            .set_name(Some(LocalizedClaim::from(EndUserName::new(
                user.name.clone(),
            ))))
            .set_preferred_username(Some(EndUserUsername::new(user.email.clone())));
    }
    if request.has("email") {
        standard = standard.set_email(Some(EndUserEmail::new(user.email.clone())));
    }
    let claims = IdTokenClaims::new(
        IssuerUrl::new(inner.issuer()).context("issuer URL")?,
        vec![Audience::new(client_id.to_owned())],
        expires,
        issued,
        standard,
        EntraIdClaims {
            oid: user.oid.clone(),
            tid: inner.tenant_id.clone(),
            ver: "2.0".to_owned(),
        },
    )
    .set_nonce(nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_time(Some(issued));
    let at = AccessToken::new(access_token.to_owned());
    inner.keys.with_active(|key| {
        EntraIdToken::new(
            claims,
            &key.oidc,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Some(&at),
            None,
        )
        .map(|token| token.to_string())
        .context("signing the ID token")
    })
}
