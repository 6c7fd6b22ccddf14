//! The grants of the token endpoint: `authorization_code` (single use, PKCE), `refresh_token` (rotating,
//! reuse revokes the family), `client_credentials` (app-only), on-behalf-of (`jwt-bearer`), RFC 8693
//! token exchange and the RFC 8628 device code grant (polling, `slow_down`, single use). On-behalf-of
//! and token exchange take the same subject tokens: issued by this IdP, for the calling client,
//! delegated (a user's), unexpired. Every grant but token exchange checks the request's RFC 8707
//! `resource` parameters (`resources`) against the resource its scopes name before it issues anything.

use axum::{
    Json,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{Params, TokenError, param, require};
use crate::idp::{
    Inner,
    authorize::pkce_matches,
    consent,
    directory::{DevUser, GRAPH_AUDIENCE, GRAPH_RESOURCE, ScopeRequest, parse_scope},
    random_token,
    store::{ClientRow, Consumed, DeviceStatus, RefreshRow, now},
    tokens::{access_token, id_token},
};

/// RFC 8693 §3: the only token type this IdP takes and issues.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

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
    /// RFC 8693 §2.2.1, token exchange only.
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
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
            issued_token_type: None,
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
    resources: &[String],
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
    // Like the other refusals above, this one spends the code (codes are single use).
    inner.check_target(resources, &request)?;
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
    resources: &[String],
) -> Result<Response, TokenError> {
    let token = require(params, "refresh_token")?;
    // What the refresh asks for is checked before the rotation below (RFC 8707 target, Entra's consent):
    // a refused request must not cost the client its refresh token (a rotated-out token that came back
    // would revoke the whole grant). Only a live token of this client is checked early; a replayed,
    // revoked, expired or foreign one goes the usual way, so reuse detection still ends its family.
    let checked = match inner
        .store
        .peek_refresh(token)
        .await
        .map_err(TokenError::server)?
    {
        Some(row)
            if row.client_id == client.client_id
                && row.used_at.is_none()
                && !row.revoked
                && row.expires_at >= now() =>
        {
            Some(
                checked_refresh(inner, client, params, resources, &row.username, &row.scope)
                    .await?,
            )
        }
        _ => None,
    };
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
    let request = match checked {
        Some(request) => request,
        None => {
            checked_refresh(inner, client, params, resources, &row.username, &row.scope).await?
        }
    };
    issue_user_tokens(inner, client, &row.username, &request, None, &row.family_id).await
}

/// A refresh's request as allowed: its scopes, the RFC 8707 target, and consent (Entra: a refresh
/// token does not get around consent — AADSTS65001 as for on-behalf-of).
async fn checked_refresh(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
    resources: &[String],
    username: &str,
    granted: &str,
) -> Result<ScopeRequest, TokenError> {
    let request = refresh_request(inner, params, granted)?;
    inner.check_target(resources, &request)?;
    consented(inner, client, username, request, "refresh")
        .await?
        .map_err(|_| TokenError::consent_required(client))
}

/// `request` when `username` has consented to all of it for `client`, else what is missing (said
/// once in the log, naming the grant that was refused).
async fn consented(
    inner: &Inner,
    client: &ClientRow,
    username: &str,
    request: ScopeRequest,
    grant: &'static str,
) -> Result<Result<ScopeRequest, consent::Missing>, TokenError> {
    let checked = consent::check(&inner.store, username, &client.client_id, request)
        .await
        .map_err(TokenError::server)?;
    if let Err(missing) = &checked {
        tracing::info!(
            client = %client.client_id,
            user = %username,
            grant,
            missing = %missing.scopes.join(" "),
            "dev IdP refused a token: consent required"
        );
    }
    Ok(checked)
}

/// What a refresh asks for. Entra semantics: a refresh token may be redeemed for any resource's scopes
/// (incremental consent); without `scope`, the original grant (`granted`) is renewed. OIDC scopes of
/// the grant carry over.
fn refresh_request(
    inner: &Inner,
    params: &Params,
    granted: &str,
) -> Result<ScopeRequest, TokenError> {
    let original =
        parse_scope(granted, &inner.resources).map_err(|e| TokenError::new("invalid_scope", e))?;
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
    Ok(request)
}

pub(super) async fn client_credentials(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
    resources: &[String],
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
    inner.check_target(resources, &request)?;
    let (access, expires_in) =
        access_token(inner, None, &client.client_id, &request, &client.app_roles)
            .map_err(TokenError::server)?;
    Ok(success(TokenResponse::bearer(access, expires_in, None)))
}

/// The user behind `token`, a subject token presented by `client` (on-behalf-of assertion, token
/// exchange subject): signed by this IdP's keys, its issuer, unexpired, issued for the calling client
/// (Entra: its id or `api://{id}`), and a delegated user token. `code` is the error to answer with
/// (`invalid_grant` for on-behalf-of, `invalid_request` for RFC 8693 §2.2.2).
fn delegated_subject<'a>(
    inner: &'a Inner,
    client: &ClientRow,
    token: &str,
    code: &'static str,
) -> Result<&'a DevUser, TokenError> {
    let audiences = [
        client.client_id.clone(),
        format!("api://{}", client.client_id),
    ];
    let incoming = inner
        .verify_access_token(token, Some(&audiences))
        .map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            TokenError::new(
                code,
                match error.kind() {
                    ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                        "the subject token is not a JWT".to_owned()
                    }
                    ErrorKind::InvalidSignature => {
                        "the subject token is not signed by this issuer".to_owned()
                    }
                    _ => format!("the subject token was rejected: {error}"),
                },
            )
        })?;
    if incoming.scp.is_none() || incoming.idtyp.as_deref() == Some("app") {
        // Entra: AADSTS7000114, an application token cannot be exchanged on behalf of a user.
        return Err(TokenError::new(
            code,
            "only a delegated user token can be exchanged, not an application token",
        ));
    }
    inner
        .users
        .iter()
        .find(|u| u.oid == incoming.oid)
        .ok_or_else(|| TokenError::new(code, "the user no longer exists"))
}

fn confidential_only(client: &ClientRow, grant: &str) -> Result<(), TokenError> {
    if client.is_public() {
        return Err(TokenError::new(
            "unauthorized_client",
            format!("{grant} needs a confidential client"),
        ));
    }
    Ok(())
}

pub(super) async fn on_behalf_of(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
    resources: &[String],
) -> Result<Response, TokenError> {
    confidential_only(client, "on-behalf-of")?;
    if param(params, "requested_token_use") != Some("on_behalf_of") {
        return Err(TokenError::new(
            "invalid_request",
            "requested_token_use must be on_behalf_of",
        ));
    }
    let user = delegated_subject(
        inner,
        client,
        require(params, "assertion")?,
        "invalid_grant",
    )?;
    let request = parse_scope(require(params, "scope")?, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    if request.resource.is_none() {
        return Err(TokenError::new(
            "invalid_scope",
            "on-behalf-of needs a resource scope",
        ));
    }
    inner.check_target(resources, &request)?;
    let request = consented(inner, client, &user.username, request, "on-behalf-of")
        .await?
        .map_err(|_| TokenError::consent_required(client))?;
    let (access, expires_in) = access_token(inner, Some(user), &client.client_id, &request, &[])
        .map_err(TokenError::server)?;
    tracing::info!(client = %client.client_id, user = %user.username, "dev IdP on-behalf-of token issued");
    Ok(success(TokenResponse::bearer(
        access,
        expires_in,
        Some(request.to_granted_string()),
    )))
}

/// The target of a token exchange: `scope` (one resource's scopes, OIDC scopes refused), `audience` (a
/// resource's App ID URI or `aud`, meaning `<resource>/.default`: every scope of it the user has
/// consented to), or both when they name the same resource.
fn exchange_target(inner: &Inner, params: &Params) -> Result<ScopeRequest, TokenError> {
    let audience = match param(params, "audience") {
        Some(audience) => Some(
            inner
                .resources
                .iter()
                .find(|r| {
                    r.app_id_uri == audience
                        || r.audience == audience
                        || (audience == GRAPH_AUDIENCE && r.app_id_uri == GRAPH_RESOURCE)
                })
                .ok_or_else(|| {
                    TokenError::new("invalid_target", format!("unknown audience {audience}"))
                })?,
        ),
        None => None,
    };
    match (param(params, "scope"), audience) {
        (Some(scope), audience) => {
            let request = parse_scope(scope, &inner.resources)
                .map_err(|e| TokenError::new("invalid_scope", e))?;
            if !request.oidc.is_empty() {
                return Err(TokenError::new(
                    "invalid_scope",
                    "token exchange issues access tokens only; leave out OIDC scopes",
                ));
            }
            let Some((resource, _)) = &request.resource else {
                return Err(TokenError::new(
                    "invalid_scope",
                    "token exchange needs a resource scope",
                ));
            };
            if audience.is_some_and(|a| a.app_id_uri != resource.app_id_uri) {
                return Err(TokenError::new(
                    "invalid_target",
                    "audience and scope name different resources",
                ));
            }
            Ok(request)
        }
        (None, Some(resource)) => Ok(ScopeRequest {
            oidc: Vec::new(),
            resource: Some((resource.clone(), resource.scopes.clone())),
            default_scope: true,
        }),
        (None, None) => Err(TokenError::new(
            "invalid_request",
            "name the target with scope or audience",
        )),
    }
}

/// RFC 8693 token exchange: a delegated user token for the calling client becomes an access token for
/// another resource, for the same user. Only access tokens in and out; no actor tokens; RFC 8707
/// `resource` is not taken (name the target with `audience` or `scope`).
pub(super) async fn token_exchange(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
    resources: &[String],
) -> Result<Response, TokenError> {
    confidential_only(client, "token exchange")?;
    let subject = require(params, "subject_token")?;
    if require(params, "subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(TokenError::new(
            "invalid_request",
            format!("subject_token_type must be {ACCESS_TOKEN_TYPE}"),
        ));
    }
    if param(params, "requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(TokenError::new(
            "invalid_request",
            format!("only {ACCESS_TOKEN_TYPE} can be requested"),
        ));
    }
    if param(params, "actor_token").is_some() {
        return Err(TokenError::new(
            "invalid_request",
            "actor tokens (delegation) are not supported",
        ));
    }
    // Every `resource` of the form (not the last one alone, which the parameter map keeps).
    if !resources.is_empty() {
        return Err(TokenError::new(
            "invalid_target",
            "resource is not supported; name the target with audience or scope",
        ));
    }
    let user = delegated_subject(inner, client, subject, "invalid_request")?;
    let request = exchange_target(inner, params)?;
    let request = consented(inner, client, &user.username, request, "token-exchange")
        .await?
        .map_err(|missing| {
            TokenError::new(
                "invalid_scope",
                format!(
                    "the user has not consented to {} for {}; ask for consent at the authorization \
                     endpoint",
                    missing.qualified().join(" "),
                    client.client_id
                ),
            )
        })?;
    let (access, expires_in) = access_token(inner, Some(user), &client.client_id, &request, &[])
        .map_err(TokenError::server)?;
    tracing::info!(client = %client.client_id, user = %user.username, "dev IdP token exchange issued a token");
    let mut body = TokenResponse::bearer(access, expires_in, Some(request.to_granted_string()));
    body.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(success(body))
}

/// RFC 8628 §3.5: what `slow_down` adds to the interval, for this and every later poll.
const SLOW_DOWN_SECS: i64 = 5;

/// RFC 8628 §3.4: the device polls with its device code until the user has decided on the verification
/// page. Pending: `authorization_pending` (Entra's AADSTS70016), or `slow_down` when it polls before
/// the interval has passed (which grows by 5 s each time); cancelled: `access_denied`; past its lifetime:
/// `expired_token`; approved: the tokens of the code grant, once — a second redemption revokes what the
/// first one issued, as a replayed authorization code does.
pub(super) async fn device_code(
    inner: &Inner,
    client: &ClientRow,
    params: &Params,
    resources: &[String],
) -> Result<Response, TokenError> {
    let code = require(params, "device_code")?;
    let row = inner
        .store
        .device_by_code(code)
        .await
        .map_err(TokenError::server)?
        .ok_or_else(|| TokenError::new("invalid_grant", "unknown device code"))?;
    if row.client_id != client.client_id {
        return Err(TokenError::new(
            "invalid_grant",
            "device code was issued to another client",
        ));
    }
    // Checked before anything changes: neither the poll nor the redemption is recorded.
    let request = parse_scope(&row.scope, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    inner.check_target(resources, &request)?;
    if row.used_at.is_some() {
        return Err(device_replayed(inner, &row.client_id, &row.family_id).await);
    }
    if row.expires_at <= now() {
        return Err(TokenError::new(
            "expired_token",
            "the device code has expired; start the sign-in again",
        ));
    }
    match row.status {
        DeviceStatus::Denied => Err(TokenError::new(
            "access_denied",
            "the user declined the sign-in",
        )),
        DeviceStatus::Pending => {
            let at_ms = chrono::Utc::now().timestamp_millis();
            let too_soon = row
                .last_poll_ms
                .is_some_and(|last| at_ms - last < row.interval_secs * 1000);
            let interval = if too_soon {
                row.interval_secs + SLOW_DOWN_SECS
            } else {
                row.interval_secs
            };
            inner
                .store
                .record_device_poll(&row.device_code_sha256, at_ms, interval)
                .await
                .map_err(TokenError::server)?;
            if too_soon {
                tracing::info!(client = %client.client_id, interval, "dev IdP device poll too fast: slow_down");
                return Err(TokenError::new(
                    "slow_down",
                    format!("polled too often; wait {interval} seconds between polls"),
                ));
            }
            Err(TokenError {
                error_codes: vec![70016],
                ..TokenError::new(
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue \
                     polling.",
                )
            })
        }
        DeviceStatus::Approved => {
            if !inner
                .store
                .consume_device(&row.device_code_sha256)
                .await
                .map_err(TokenError::server)?
            {
                // Another poll redeemed it between the read and now.
                return Err(device_replayed(inner, &row.client_id, &row.family_id).await);
            }
            let username = row
                .username
                .as_deref()
                .ok_or_else(|| TokenError::server(anyhow::anyhow!("approved without a user")))?;
            tracing::info!(client = %client.client_id, user = %username, "dev IdP device code redeemed");
            issue_user_tokens(inner, client, username, &request, None, &row.family_id).await
        }
    }
}

/// A redeemed device code came back: what it issued is revoked.
async fn device_replayed(inner: &Inner, client_id: &str, family_id: &str) -> TokenError {
    match inner.store.revoke_family(family_id).await {
        Ok(revoked) => {
            tracing::warn!(client = %client_id, revoked, "device code replayed; its grant is revoked");
            TokenError::new("invalid_grant", "device code already redeemed")
        }
        Err(error) => TokenError::server(error),
    }
}
