//! The token endpoint: `authorization_code`, `refresh_token` (rotating, with reuse detection),
//! `client_credentials` (app-only) and on-behalf-of (`jwt-bearer` + `requested_token_use=on_behalf_of`).
//! Clients authenticate with `client_secret_basic` or `client_secret_post`; public clients send only
//! their `client_id`.
//!
//! This file: client authentication, the error and success responses, the dispatch; `grants`: the
//! grants themselves.

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
    store::{ClientRow, digest},
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

/// RFC 6749 §5.2 error body.
#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: String,
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            error_description: self.description,
        };
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

/// RFC 6749 §2.3.1: both parts of Basic credentials are form-urlencoded (`+` is a space).
fn form_decode(part: &str) -> Result<String, TokenError> {
    percent_decode_str(&part.replace('+', " "))
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| TokenError::invalid_client(true))
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
    Form(params): Form<Params>,
) -> Response {
    if tenant != inner.tenant_id {
        return TokenError::new("invalid_request", "unknown tenant").into_response();
    }
    let result = async {
        let client = authenticate(&inner, &headers, &params).await?;
        match require(&params, "grant_type")? {
            "authorization_code" => grants::authorization_code(&inner, &client, &params).await,
            "refresh_token" => grants::refresh_token(&inner, &client, &params).await,
            "client_credentials" => grants::client_credentials(&inner, &client, &params).await,
            JWT_BEARER => grants::on_behalf_of(&inner, &client, &params).await,
            _ => Err(TokenError::new(
                "unsupported_grant_type",
                "unsupported grant_type",
            )),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
