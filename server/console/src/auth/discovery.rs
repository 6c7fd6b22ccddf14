//! Finding where to sign in for an MCP server, with nothing known but its URL:
//! the server's 401 `WWW-Authenticate: Bearer resource_metadata="…"` → its RFC 9728 protected-resource
//! metadata (or the well-known URIs when the header names none) → the authorization server's metadata,
//! RFC 8414 path-aware first, then OpenID Connect discovery (path-inserted, then path-appended), in the
//! order the MCP specification gives. Every document's identifier is checked: the metadata's `resource`
//! must be the server's URL, the authorization server's `issuer` the one asked for.

use std::time::Duration;

use reqwest::{StatusCode, header};
use serde::Deserialize;
use url::Url;

/// Why discovery failed; the text is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Nothing answered (connection refused, timeout).
    #[error("{0}")]
    Unreachable(String),
    /// Something answered, but not what the protocol says.
    #[error("{0}")]
    Invalid(String),
}

/// RFC 9728 §2: what the console needs of a protected resource's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtectedResource {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// RFC 8414 §2 / OIDC Discovery §3: what the console needs of an authorization server's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub registration_endpoint: Option<Url>,
    #[serde(default)]
    pub jwks_uri: Option<Url>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the authorization response carries `iss`, which the client must check.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// RFC 8628 (the device flow).
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
}

impl AuthServerMetadata {
    pub fn advertises_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_ref()
            .is_some_and(|methods| methods.iter().any(|m| m == "S256"))
    }
}

/// The HTTP client discovery and registration use: no redirects (a metadata URL that redirects
/// elsewhere is not followed), a timeout, no cookies.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("portcullis-console/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn unreachable(url: &Url, error: &reqwest::Error) -> DiscoveryError {
    // reqwest's error text may carry the URL but never a body or header; no token is sent here.
    DiscoveryError::Unreachable(format!(
        "{} is unreachable: {error}",
        url.origin().ascii_serialization()
    ))
}

/// Asks the MCP server without a token and reads its 401: the protected-resource metadata it points to,
/// else the metadata at the well-known URIs (path-aware, then root). Checks that the metadata is this
/// server's.
pub async fn protected_resource(
    http: &reqwest::Client,
    server: &Url,
) -> Result<ProtectedResource, DiscoveryError> {
    let probe = http
        .post(server.clone())
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json")
        .body(
            serde_json::json!({
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": { "name": "portcullis-console", "version": env!("CARGO_PKG_VERSION") }
                }
            })
            .to_string(),
        )
        .send()
        .await
        .map_err(|e| unreachable(server, &e))?;
    let status = probe.status();
    if status.is_success() {
        return Err(DiscoveryError::Invalid(format!(
            "{server} answered without asking for a token; the console signs in only to servers that \
             use OAuth"
        )));
    }
    let pointed = (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
        .then(|| {
            probe
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| challenge_param(v, "resource_metadata"))
        })
        .flatten();
    let candidates = match pointed {
        Some(url) => vec![Url::parse(&url).map_err(|_| {
            DiscoveryError::Invalid(format!("{server} named a bad resource_metadata URL"))
        })?],
        None => well_known_resource_urls(server),
    };
    let mut last = None;
    for url in candidates {
        match fetch_json::<ProtectedResource>(http, &url).await {
            Ok(Some(metadata)) => {
                if !same_resource(&metadata.resource, server) {
                    return Err(DiscoveryError::Invalid(format!(
                        "the protected-resource metadata at {url} is for {:?}, not for {server}",
                        metadata.resource
                    )));
                }
                if metadata.authorization_servers.is_empty() {
                    return Err(DiscoveryError::Invalid(format!(
                        "the protected-resource metadata at {url} names no authorization server"
                    )));
                }
                return Ok(metadata);
            }
            Ok(None) => last = Some(url),
            Err(error) => return Err(error),
        }
    }
    Err(DiscoveryError::Invalid(format!(
        "{server} has no protected-resource metadata (its 401 named none and {} was not found)",
        last.map(|u| u.to_string()).unwrap_or_default()
    )))
}

/// RFC 9728 §3.1: `/.well-known/oauth-protected-resource` inserted before the resource's path, then at
/// the root.
fn well_known_resource_urls(server: &Url) -> Vec<Url> {
    let origin = server.origin().ascii_serialization();
    let path = server.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.extend(
            Url::parse(&format!(
                "{origin}/.well-known/oauth-protected-resource{path}"
            ))
            .ok(),
        );
    }
    urls.extend(Url::parse(&format!("{origin}/.well-known/oauth-protected-resource")).ok());
    urls
}

/// RFC 9728 §3.3: the metadata's `resource` is the URL the client asked (compared as parsed URLs, so
/// `http://h:80/mcp` and `http://h/mcp` are the same).
fn same_resource(resource: &str, server: &Url) -> bool {
    Url::parse(resource).is_ok_and(|r| &r == server)
}

/// The authorization server's metadata for `issuer`, checked to name exactly that issuer.
pub async fn authorization_server(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AuthServerMetadata, DiscoveryError> {
    let issuer_url = Url::parse(issuer)
        .map_err(|_| DiscoveryError::Invalid(format!("the issuer {issuer:?} is not a URL")))?;
    let mut tried = Vec::new();
    for url in authorization_server_urls(&issuer_url) {
        match fetch_json::<AuthServerMetadata>(http, &url).await? {
            Some(metadata) if metadata.issuer == issuer => return Ok(metadata),
            Some(metadata) => {
                return Err(DiscoveryError::Invalid(format!(
                    "the metadata at {url} is for the issuer {:?}, not {issuer:?}",
                    metadata.issuer
                )));
            }
            None => tried.push(url.to_string()),
        }
    }
    Err(DiscoveryError::Invalid(format!(
        "no authorization server metadata for {issuer} (tried {})",
        tried.join(", ")
    )))
}

/// RFC 8414 §3.1 path-aware, OIDC path-inserted, OIDC path-appended (the MCP specification's order); an
/// issuer without a path has the first two only.
fn authorization_server_urls(issuer: &Url) -> Vec<Url> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    let mut candidates = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    if !path.is_empty() {
        candidates.push(format!("{origin}{path}/.well-known/openid-configuration"));
    }
    candidates
        .into_iter()
        .filter_map(|c| Url::parse(&c).ok())
        .collect()
}

/// A JSON document, `None` when it is not there (404 or another client error), an error when the
/// host does not answer or the document is not what `T` describes.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<Option<T>, DiscoveryError> {
    let response = http
        .get(url.clone())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unreachable(url, &e))?;
    let status = response.status();
    if status.is_client_error() || status.is_redirection() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(DiscoveryError::Invalid(format!("{url} answered {status}")));
    }
    let body = response.bytes().await.map_err(|e| unreachable(url, &e))?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| DiscoveryError::Invalid(format!("{url} is not valid metadata: {e}")))
}

/// The value of auth-param `name` in a `WWW-Authenticate` value (RFC 9110 §11.2: token or
/// quoted-string, with `\` escapes in the latter).
pub fn challenge_param(header: &str, name: &str) -> Option<String> {
    let bytes = header.as_bytes();
    let mut search = 0;
    while let Some(found) = header[search..].find(name) {
        let start = search + found;
        search = start + name.len();
        let boundary = start == 0 || matches!(bytes[start - 1], b' ' | b',' | b'\t');
        let rest = header[start + name.len()..].trim_start();
        let Some(value) = rest.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        if !boundary {
            continue;
        }
        if let Some(quoted) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(out),
                    '\\' => out.push(chars.next()?),
                    c => out.push(c),
                }
            }
            return None;
        }
        let end = value
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(value.len());
        return Some(value[..end].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_params_are_read_quoted_or_not() {
        let header = r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            challenge_param(header, "resource_metadata").as_deref(),
            Some("http://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge_param(header, "scope").as_deref(), Some("a b"));
        assert_eq!(
            challenge_param(r#"Bearer realm=x, not_scope="n", scope=s"#, "scope").as_deref(),
            Some("s")
        );
        assert_eq!(
            challenge_param(r#"Bearer x="a\"b""#, "x").as_deref(),
            Some("a\"b")
        );
        assert_eq!(challenge_param("Bearer", "scope"), None);
    }

    #[test]
    fn well_known_urls_follow_the_specifications() {
        let server = Url::parse("http://127.0.0.1:8081/mcp").unwrap();
        let urls: Vec<String> = well_known_resource_urls(&server)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp",
                "http://127.0.0.1:8081/.well-known/oauth-protected-resource"
            ]
        );
        let issuer = Url::parse("http://127.0.0.1:3400/tenant/v2.0").unwrap();
        let urls: Vec<String> = authorization_server_urls(&issuer)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:3400/.well-known/oauth-authorization-server/tenant/v2.0",
                "http://127.0.0.1:3400/.well-known/openid-configuration/tenant/v2.0",
                "http://127.0.0.1:3400/tenant/v2.0/.well-known/openid-configuration"
            ]
        );
        let root = Url::parse("https://auth.example.com").unwrap();
        assert_eq!(authorization_server_urls(&root).len(), 2);
    }

    #[test]
    fn resources_compare_as_urls() {
        let server = Url::parse("http://h/mcp").unwrap();
        assert!(same_resource("http://h:80/mcp", &server));
        assert!(!same_resource("http://h/other", &server));
        assert!(!same_resource("http://evil/mcp", &server));
    }
}
