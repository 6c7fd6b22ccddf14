//! The token endpoint: `authorization_code`, `refresh_token` (rotating, with reuse detection),
//! `client_credentials` (app-only) and on-behalf-of (`jwt-bearer` + `requested_token_use=on_behalf_of`).
//! Clients authenticate with `client_secret_basic` or `client_secret_post`; public clients send only
//! their `client_id`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{
    Inner,
    authorize::pkce_matches,
    directory::{ScopeRequest, parse_scope},
    random_token,
    store::{ClientRow, Consumed, RefreshRow, digest, now},
    tokens::{AccessClaims, access_token, id_token},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An RFC 6749 §5.2 error.
pub struct TokenError {
    status: StatusCode,
    code: &'static str,
    description: String,
    basic_challenge: bool,
}

impl TokenError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
        }
    }

    fn server(error: anyhow::Error) -> Self {
        tracing::error!(
            error = format!("{error:#}"),
            "dev IdP token endpoint failed"
        );
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server_error",
            description: "internal error".into(),
            basic_challenge: false,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.code, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="dev-idp""#),
            );
        }
        response
    }
}

type Params = HashMap<String, String>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn require<'a>(params: &'a Params, name: &str) -> Result<&'a str, TokenError> {
    param(params, name).ok_or_else(|| TokenError::new("invalid_request", format!("missing {name}")))
}

/// Finds and authenticates the calling client.
async fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientRow, TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let (client_id, secret, used_basic) = match basic {
        Some(encoded) => {
            if param(params, "client_secret").is_some() {
                return Err(TokenError::new(
                    "invalid_request",
                    "use one client authentication method",
                ));
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| TokenError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| TokenError::invalid_client(true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(id), Some(decode(secret)), true)
        }
        None => (
            require(params, "client_id")?.to_owned(),
            param(params, "client_secret").map(str::to_owned),
            false,
        ),
    };
    if let (true, Some(form_id)) = (used_basic, param(params, "client_id"))
        && form_id != client_id
    {
        return Err(TokenError::invalid_client(true));
    }
    let client = inner
        .store
        .client(&client_id)
        .await
        .map_err(TokenError::server)?
        .ok_or_else(|| TokenError::invalid_client(used_basic))?;
    match (&client.secret_sha256, secret) {
        (Some(expected), Some(secret))
            if bool::from(expected.as_bytes().ct_eq(digest(&secret).as_bytes())) =>
        {
            Ok(client)
        }
        (None, None) => Ok(client),
        _ => Err(TokenError::invalid_client(used_basic)),
    }
}

fn success(body: serde_json::Value) -> Response {
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
    let mut body = json!({
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": expires_in,
        "scope": request.to_scope_string(),
    });
    if request.has("openid") {
        body["id_token"] = json!(
            id_token(inner, user, &client.client_id, request, nonce, &access)
                .map_err(TokenError::server)?
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
        body["refresh_token"] = json!(refresh);
    }
    Ok(success(body))
}

async fn authorization_code(
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

async fn refresh_token(
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

async fn client_credentials(
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
    Ok(success(
        json!({ "token_type": "Bearer", "access_token": access, "expires_in": expires_in }),
    ))
}

async fn on_behalf_of(
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
    Ok(success(json!({
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": expires_in,
        "scope": request.to_scope_string(),
    })))
}

/// POST `/{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    if tenant != inner.tenant_id {
        return TokenError::new("invalid_request", "unknown tenant").into_response();
    }
    let result = async {
        let client = authenticate(&inner, &headers, &params).await?;
        match require(&params, "grant_type")? {
            "authorization_code" => authorization_code(&inner, &client, &params).await,
            "refresh_token" => refresh_token(&inner, &client, &params).await,
            "client_credentials" => client_credentials(&inner, &client, &params).await,
            JWT_BEARER => on_behalf_of(&inner, &client, &params).await,
            _ => Err(TokenError::new(
                "unsupported_grant_type",
                "unsupported grant_type",
            )),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
