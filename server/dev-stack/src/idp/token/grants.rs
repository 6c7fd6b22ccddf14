//! The grants of the token endpoint: `authorization_code` (single use, PKCE), `refresh_token` (rotating,
//! reuse revokes the family), `client_credentials` (app-only), on-behalf-of (`jwt-bearer`).

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;

use super::{Params, TokenError, param, require};
use crate::idp::{
    Inner,
    authorize::pkce_matches,
    directory::{ScopeRequest, parse_scope},
    random_token,
    store::{ClientRow, Consumed, RefreshRow, now},
    tokens::{AccessClaims, access_token, id_token},
};

/// RFC 6749 §5.1 (and OIDC Core §3.1.3.3 for `id_token`).
#[derive(Debug, Serialize)]
struct TokenResponse {
    token_type: &'static str,
    access_token: String,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl TokenResponse {
    fn bearer(access_token: String, expires_in: i64, scope: Option<String>) -> Self {
        Self {
            token_type: "Bearer",
            access_token,
            expires_in,
            scope,
            id_token: None,
            refresh_token: None,
        }
    }
}

fn success(body: TokenResponse) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Issues the tokens of a user grant; a refresh token joins `family_id` when `offline_access` was granted.
async fn issue_user_tokens(
    inner: &Inner,
    client: &ClientRow,
    username: &str,
    request: &ScopeRequest,
    nonce: Option<&str>,
    family_id: &str,
) -> Result<Response, TokenError> {
    let user = inner
        .user(username)
        .ok_or_else(|| TokenError::new("invalid_grant", "the user no longer exists"))?;
    let (access, expires_in) = access_token(inner, Some(user), &client.client_id, request, &[])
        .map_err(TokenError::server)?;
    let mut body = TokenResponse::bearer(access, expires_in, Some(request.to_scope_string()));
    if request.has("openid") {
        body.id_token = Some(
            id_token(
                inner,
                user,
                &client.client_id,
                request,
                nonce,
                &body.access_token,
            )
            .map_err(TokenError::server)?,
        );
    }
    if request.has("offline_access") {
        let refresh = random_token();
        inner
            .store
            .insert_refresh(
                &refresh,
                &RefreshRow {
                    family_id: family_id.to_owned(),
                    client_id: client.client_id.clone(),
                    username: username.to_owned(),
                    scope: request.to_scope_string(),
                    expires_at: now() + inner.refresh_token_lifetime,
                    used_at: None,
                    revoked: false,
                },
            )
            .await
            .map_err(TokenError::server)?;
        body.refresh_token = Some(refresh);
    }
    Ok(success(body))
}

pub(super) async fn authorization_code(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
) -> Result<Response, TokenError> {
    let code = require(params, "code")?;
    let row = match inner
        .store
        .consume_code(code)
        .await
        .map_err(TokenError::server)?
    {
        Consumed::Fresh(row) => row,
        Consumed::Replayed(row) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            let revoked = inner
                .store
                .revoke_family(&row.family_id)
                .await
                .map_err(TokenError::server)?;
            tracing::warn!(client = %row.client_id, revoked, "authorization code replayed; its grant is revoked");
            return Err(TokenError::new(
                "invalid_grant",
                "authorization code already used",
            ));
        }
        Consumed::Unknown => {
            return Err(TokenError::new(
                "invalid_grant",
                "unknown authorization code",
            ));
        }
    };
    if row.expires_at < now() {
        return Err(TokenError::new(
            "invalid_grant",
            "authorization code expired",
        ));
    }
    if row.client_id != client.client_id {
        return Err(TokenError::new(
            "invalid_grant",
            "authorization code was issued to another client",
        ));
    }
    if param(params, "redirect_uri") != Some(row.redirect_uri.as_str()) {
        return Err(TokenError::new(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&row.code_challenge, param(params, "code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
        (Some(_), _) => return Err(TokenError::new("invalid_grant", "PKCE verification failed")),
        (None, Some(_)) => {
            return Err(TokenError::new(
                "invalid_grant",
                "code_verifier sent for a request without PKCE",
            ));
        }
        (None, None) => {}
    }
    let request = parse_scope(&row.scope, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    issue_user_tokens(
        inner,
        client,
        &row.username,
        &request,
        row.nonce.as_deref(),
        &row.family_id,
    )
    .await
}

pub(super) async fn refresh_token(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
) -> Result<Response, TokenError> {
    let token = require(params, "refresh_token")?;
    let row = match inner
        .store
        .consume_refresh(token)
        .await
        .map_err(TokenError::server)?
    {
        Consumed::Fresh(row) => row,
        Consumed::Replayed(row) => {
            if row.used_at.is_some() && !row.revoked {
                // A rotated-out token came back: someone holds a copy. End the whole family.
                let revoked = inner
                    .store
                    .revoke_family(&row.family_id)
                    .await
                    .map_err(TokenError::server)?;
                tracing::warn!(client = %row.client_id, revoked, "refresh token reused; its family is revoked");
            }
            return Err(TokenError::new(
                "invalid_grant",
                "refresh token is no longer valid",
            ));
        }
        Consumed::Unknown => return Err(TokenError::new("invalid_grant", "unknown refresh token")),
    };
    if row.client_id != client.client_id {
        inner
            .store
            .revoke_family(&row.family_id)
            .await
            .map_err(TokenError::server)?;
        return Err(TokenError::new(
            "invalid_grant",
            "refresh token was issued to another client",
        ));
    }
    if row.expires_at < now() {
        return Err(TokenError::new("invalid_grant", "refresh token expired"));
    }
    // Entra semantics: a refresh token may be redeemed for any resource's scopes (incremental consent);
    // without `scope`, the original grant is renewed. OIDC scopes of the grant carry over.
    let original = parse_scope(&row.scope, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    let mut request = match param(params, "scope") {
        Some(scope) => {
            parse_scope(scope, &inner.resources).map_err(|e| TokenError::new("invalid_scope", e))?
        }
        None => original.clone(),
    };
    for oidc in &original.oidc {
        if !request.has(oidc) {
            request.oidc.push(oidc.clone());
        }
    }
    issue_user_tokens(inner, client, &row.username, &request, None, &row.family_id).await
}

pub(super) async fn client_credentials(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
) -> Result<Response, TokenError> {
    if client.is_public() {
        return Err(TokenError::new(
            "unauthorized_client",
            "public clients cannot use client credentials",
        ));
    }
    let request = parse_scope(require(params, "scope")?, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    if !request.default_scope || !request.oidc.is_empty() {
        return Err(TokenError::new(
            "invalid_scope",
            "client credentials need exactly <resource>/.default",
        ));
    }
    let (access, expires_in) =
        access_token(inner, None, &client.client_id, &request, &client.app_roles)
            .map_err(TokenError::server)?;
    Ok(success(TokenResponse::bearer(access, expires_in, None)))
}

pub(super) async fn on_behalf_of(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
) -> Result<Response, TokenError> {
    if client.is_public() {
        return Err(TokenError::new(
            "unauthorized_client",
            "on-behalf-of needs a confidential client",
        ));
    }
    if param(params, "requested_token_use") != Some("on_behalf_of") {
        return Err(TokenError::new(
            "invalid_request",
            "requested_token_use must be on_behalf_of",
        ));
    }
    let assertion = require(params, "assertion")?;
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| TokenError::new("invalid_grant", "assertion is not a JWT"))?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| inner.keys.decoding_key(kid))
        .ok_or_else(|| {
            TokenError::new("invalid_grant", "assertion is not signed by this issuer")
        })?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[inner.issuer()]);
    // Entra: the incoming token must have been issued for the calling client (its id or App ID URI).
    validation.set_audience(&[
        client.client_id.clone(),
        format!("api://{}", client.client_id),
    ]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    let incoming = jsonwebtoken::decode::<AccessClaims>(assertion, &key, &validation)
        .map_err(|error| TokenError::new("invalid_grant", format!("assertion rejected: {error}")))?
        .claims;
    if incoming.scp.is_none() || incoming.idtyp.as_deref() == Some("app") {
        return Err(TokenError::new(
            "invalid_grant",
            "on-behalf-of needs a delegated user token",
        ));
    }
    let user = inner
        .users
        .iter()
        .find(|u| u.oid == incoming.oid)
        .ok_or_else(|| TokenError::new("invalid_grant", "the user no longer exists"))?;
    let request = parse_scope(require(params, "scope")?, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    if request.resource.is_none() {
        return Err(TokenError::new(
            "invalid_scope",
            "on-behalf-of needs a resource scope",
        ));
    }
    let (access, expires_in) = access_token(inner, Some(user), &client.client_id, &request, &[])
        .map_err(TokenError::server)?;
    Ok(success(TokenResponse::bearer(
        access,
        expires_in,
        Some(request.to_scope_string()),
    )))
}
