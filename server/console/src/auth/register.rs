//! RFC 7591 dynamic client registration, used when no client id is configured and the authorization
//! server offers a registration endpoint: a native public client (no secret) with the loopback redirect
//! (default `http://127.0.0.1/callback`; RFC 8252 §7.3: any port is accepted at sign-in).

use reqwest::header;
use serde::Deserialize;
use url::Url;

use super::discovery::DiscoveryError;

#[derive(Deserialize)]
struct Registered {
    client_id: String,
}

#[derive(Deserialize)]
struct Refused {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The device authorization grant's type (RFC 8628 §3.4).
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers the console with `redirect_uri` (no port) and returns its client id. `device`: the provider
/// offers the device flow, so the registration asks for that grant too (the one registration then serves
/// both `login` and `login --device`).
pub async fn register(
    http: &reqwest::Client,
    endpoint: &Url,
    redirect_uri: &str,
    device: bool,
) -> Result<String, DiscoveryError> {
    let mut grant_types = vec!["authorization_code", "refresh_token"];
    if device {
        grant_types.push(DEVICE_GRANT);
    }
    let request = serde_json::json!({
        "client_name": "Portcullis console",
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let response = http
        .post(endpoint.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(request.to_string())
        .send()
        .await
        .map_err(|e| {
            DiscoveryError::Unreachable(format!("the registration endpoint is unreachable: {e}"))
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        DiscoveryError::Unreachable(format!("the registration endpoint is unreachable: {e}"))
    })?;
    if status.is_success() {
        let registered: Registered = serde_json::from_slice(&body).map_err(|e| {
            DiscoveryError::Invalid(format!("the registration response is not valid: {e}"))
        })?;
        tracing::info!(client_id = %registered.client_id, "registered the console dynamically");
        return Ok(registered.client_id);
    }
    let reason = serde_json::from_slice::<Refused>(&body)
        .map(|r| match r.error_description {
            Some(d) => format!("{}: {d}", r.error),
            None => r.error,
        })
        .unwrap_or_else(|_| status.to_string());
    Err(DiscoveryError::Invalid(format!(
        "dynamic registration was refused ({reason}); configure APP_CONSOLE__CLIENT_ID"
    )))
}
