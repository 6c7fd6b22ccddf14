//! The token endpoint: `authorization_code`, `refresh_token` (rotating, with reuse detection),
//! `client_credentials` (app-only), on-behalf-of (`jwt-bearer` + `requested_token_use=on_behalf_of`),
//! RFC 8693 token exchange and the RFC 8628 device code grant. A `resource` parameter (RFC 8707, several
//! allowed) that is not an identifier URI of the resource the scopes name is refused with Entra's
//! `invalid_target` (AADSTS9010010) before anything is issued (`indicators`); token exchange names its
//! target with `audience` and refuses `resource` altogether. Scopes of a resource that tracks consent
//! (Graph) need the user's consent for the calling client; without it the grants answer as Entra does
//! (`invalid_grant`, AADSTS65001, `suberror=consent_required`), and token exchange with `invalid_scope`.
//! Clients authenticate with `client_secret_basic` or `client_secret_post`; public clients send only
//! their `client_id`.
//!
//! This file: client authentication (the device authorization endpoint uses it too), the error and
//! success responses, the dispatch; `grants`: the grants themselves.

mod grants;

use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::{
    Inner,
    indicators::{AADSTS_INVALID_TARGET, InvalidTarget, indicators},
    store::{ClientRow, digest},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// RFC 8693 §2.1.
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8628 §3.4.
pub(crate) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An RFC 6749 §5.2 error, with Entra's numbered codes where Entra gives one.
pub struct TokenError {
    status: StatusCode,
    code: &'static str,
    description: String,
    basic_challenge: bool,
    /// Entra's AADSTS numbers (`error_codes`); with them come `timestamp`, `trace_id`, `correlation_id`.
    error_codes: Vec<u32>,
    /// Entra's `suberror` (`consent_required`).
    suberror: Option<&'static str>,
}

impl TokenError {
    pub(in crate::idp) fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            basic_challenge: false,
            error_codes: Vec::new(),
            suberror: None,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge: basic,
            ..Self::new("invalid_client", "client authentication failed")
        }
    }

    /// Entra's answer when the user has not consented to what a client asks for (AADSTS65001).
    fn consent_required(client: &ClientRow) -> Self {
        let description = format!(
            "AADSTS65001: The user or administrator has not consented to use the application with ID \
             '{}' named '{}'. Send an interactive authorization request for this user and resource.",
            client.client_id, client.name
        );
        Self {
            error_codes: vec![65001],
            suberror: Some("consent_required"),
            ..Self::new("invalid_grant", description)
        }
    }

    pub(in crate::idp) fn server(error: anyhow::Error) -> Self {
        tracing::error!(
            error = format!("{error:#}"),
            "dev IdP token endpoint failed"
        );
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new("server_error", "internal error")
        }
    }
}

impl From<InvalidTarget> for TokenError {
    fn from(error: InvalidTarget) -> Self {
        Self {
            error_codes: vec![AADSTS_INVALID_TARGET],
            ..Self::new("invalid_target", error.to_string())
        }
    }
}

/// RFC 6749 §5.2 error body, with Entra's extra fields when the error has an AADSTS number.
#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    error_codes: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suberror: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut body = ErrorBody {
            error: self.code,
            error_description: self.description,
            error_codes: self.error_codes,
            suberror: self.suberror,
            timestamp: None,
            trace_id: None,
            correlation_id: None,
        };
        if !body.error_codes.is_empty() {
            // Entra ends coded descriptions with the request's ids and time, and repeats them as fields.
            let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
            let trace_id = uuid::Uuid::new_v4().to_string();
            let correlation_id = uuid::Uuid::new_v4().to_string();
            body.error_description = format!(
                "{} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                body.error_description
            );
            body.timestamp = Some(timestamp);
            body.trace_id = Some(trace_id);
            body.correlation_id = Some(correlation_id);
        }
        let mut response = (self.status, Json(body)).into_response();
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

pub(in crate::idp) type Params = HashMap<String, String>;

/// A form's parameters by name (the last of a repeated name counts) and its RFC 8707 `resource`
/// values, of which there may be several.
pub(in crate::idp) fn split_form(pairs: Vec<(String, String)>) -> (Params, Vec<String>) {
    let resources = indicators(&pairs);
    (pairs.into_iter().collect(), resources)
}

pub(in crate::idp) fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

pub(in crate::idp) fn require<'a>(params: &'a Params, name: &str) -> Result<&'a str, TokenError> {
    param(params, name).ok_or_else(|| TokenError::new("invalid_request", format!("missing {name}")))
}

/// RFC 6749 §2.3.1: both parts of Basic credentials are form-urlencoded (`+` is a space).
fn form_decode(part: &str) -> Result<String, TokenError> {
    percent_decode_str(&part.replace('+', " "))
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| TokenError::invalid_client(true))
}

/// Finds and authenticates the calling client.
pub(in crate::idp) async fn authenticate(
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
            (form_decode(id)?, Some(form_decode(secret)?), true)
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

/// POST `/{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if tenant != inner.tenant_id {
        return TokenError::new("invalid_request", "unknown tenant").into_response();
    }
    let (params, resources) = split_form(pairs);
    let result = async {
        let client = authenticate(&inner, &headers, &params).await?;
        let (inner, client, params, resources) = (&*inner, &client, &params, &resources[..]);
        match require(params, "grant_type")? {
            "authorization_code" => {
                grants::authorization_code(inner, client, params, resources).await
            }
            "refresh_token" => grants::refresh_token(inner, client, params, resources).await,
            "client_credentials" => {
                grants::client_credentials(inner, client, params, resources).await
            }
            JWT_BEARER => grants::on_behalf_of(inner, client, params, resources).await,
            // RFC 8693 names its target with `audience` and refuses `resource` itself.
            TOKEN_EXCHANGE => grants::token_exchange(inner, client, params, resources).await,
            DEVICE_CODE => grants::device_code(inner, client, params, resources).await,
            _ => Err(TokenError::new(
                "unsupported_grant_type",
                "unsupported grant_type",
            )),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
