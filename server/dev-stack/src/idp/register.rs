//! RFC 7591 dynamic registration, for public clients only (MCP Inspector, SDK OAuth clients, the
//! console): https or loopback http redirect URIs, the code and refresh grants and the device grant
//! (RFC 8628), no secret.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Inner, discovery::tenant_ok, store::ClientRow};

#[derive(Debug, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
}

/// RFC 7591 §3.2.1: the registered client.
#[derive(Debug, Serialize)]
struct Registered {
    client_id: String,
    client_id_issued_at: i64,
    client_name: String,
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: &'static str,
    grant_types: Vec<&'static str>,
    response_types: [&'static str; 1],
}

/// RFC 7591 §3.2.2: why not.
#[derive(Debug, Serialize)]
struct RegistrationError {
    error: &'static str,
    error_description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Response {
    let body = RegistrationError {
        error,
        error_description: description.into(),
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
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

/// The grants a registered public client may ask for.
const GRANT_TYPES: [&str; 3] = [
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
];

/// The request's problem, if any: `(error code, description)`.
fn check(request: &RegistrationRequest) -> Option<(&'static str, String)> {
    const METADATA: &str = "invalid_client_metadata";
    if request.redirect_uris.is_empty() {
        return Some((METADATA, "redirect_uris is required".into()));
    }
    if let Some(bad) = request
        .redirect_uris
        .iter()
        .find(|u| !acceptable_redirect(u))
    {
        return Some((
            "invalid_redirect_uri",
            format!("{bad} is neither https nor a loopback http URI"),
        ));
    }
    if request
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Some((
            METADATA,
            "only public clients (token_endpoint_auth_method=none) can register".into(),
        ));
    }
    if request
        .grant_types
        .as_ref()
        .is_some_and(|g| g.iter().any(|g| !GRANT_TYPES.contains(&g.as_str())))
    {
        return Some((
            METADATA,
            format!("grant_types may be {}", GRANT_TYPES.join(", ")),
        ));
    }
    if request
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|r| r != "code"))
    {
        return Some((METADATA, "response_types may only be code".into()));
    }
    None
}

/// `POST /{tenant}/oauth2/v2.0/register`.
pub async fn register(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Json(request): Json<RegistrationRequest>,
) -> Response {
    if !tenant_ok(&inner, Some(&tenant)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some((error, description)) = check(&request) {
        return refuse(error, description);
    }
    let name: String = request
        .client_name
        .unwrap_or_else(|| "Registered client".to_owned())
        .chars()
        .take(100)
        .collect();
    let client = ClientRow {
        client_id: format!("dyn-{}", uuid::Uuid::new_v4().simple()),
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
    let registered = Registered {
        client_id: client.client_id,
        client_id_issued_at: chrono::Utc::now().timestamp(),
        client_name: name,
        redirect_uris: request.redirect_uris,
        token_endpoint_auth_method: "none",
        // What was asked for (RFC 7591 §3.2.1 returns the registered values), default the code flow.
        grant_types: match &request.grant_types {
            Some(asked) => GRANT_TYPES
                .into_iter()
                .filter(|g| asked.iter().any(|a| a == g))
                .collect(),
            None => vec!["authorization_code", "refresh_token"],
        },
        response_types: ["code"],
    };
    (StatusCode::CREATED, Json(registered)).into_response()
}
