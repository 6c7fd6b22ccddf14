//! Userinfo, RP-initiated logout, and the development admin endpoints (key rotation, consent reset).

use std::sync::Arc;

use axum::{
    Form, Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Inner, directory::GRAPH_AUDIENCE, discovery::tenant_ok, pages, tokens::AccessClaims};

/// The userinfo response (OIDC Core §5.3.2) with Entra's `oid` and `tid`.
#[derive(Debug, Serialize)]
struct UserInfo<'a> {
    sub: &'a str,
    oid: &'a str,
    tid: &'a str,
    name: &'a str,
    preferred_username: &'a str,
    email: &'a str,
}

/// The answer to a consent reset.
#[derive(Debug, Serialize)]
struct ConsentsReset {
    /// How many configured consents are in place now.
    seeded: usize,
}

/// The answer to a key rotation.
#[derive(Debug, Serialize)]
struct Rotated {
    active_kid: String,
}

/// What logout needs from an ID token hint.
#[derive(Deserialize)]
struct HintClaims {
    aud: Audience,
    oid: String,
}

/// `aud` is one string or an array (ID tokens carry a one-element array).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn first(&self) -> Option<&str> {
        match self {
            Self::One(aud) => Some(aud),
            Self::Many(auds) => auds.first().map(String::as_str),
        }
    }
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
    Json(UserInfo {
        sub: &claims.sub,
        oid: &user.oid,
        tid: &claims.tid,
        name: &user.name,
        preferred_username: &user.email,
        email: &user.email,
    })
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
    let hinted_client = hint.as_ref().and_then(|c| c.aud.first()).map(str::to_owned);
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
            return (StatusCode::BAD_REQUEST, Html(pages::sign_out_error(target))).into_response();
        }
        let Ok(mut url) = Url::parse(target) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        if let Some(state) = &params.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        return Redirect::to(url.as_str()).into_response();
    }
    Html(pages::signed_out()).into_response()
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
            Json(Rotated { active_kid: kid }).into_response()
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "key rotation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `POST /dev/reset-consents` with header `X-Dev-Idp-Admin: reset-consents`: every consent is deleted
/// and the configured ones (`APP_DEV_IDP__GRAPH_CONSENTS`) restored, so a consent journey can be walked
/// again (the browser tests do). Protected like `/dev/rotate-keys`.
pub async fn reset_consents(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if headers.get("x-dev-idp-admin").and_then(|v| v.to_str().ok()) != Some("reset-consents") {
        return StatusCode::FORBIDDEN.into_response();
    }
    match inner.reset_consents().await {
        Ok(()) => Json(ConsentsReset {
            seeded: inner.consent_seed.len(),
        })
        .into_response(),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "consent reset failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
