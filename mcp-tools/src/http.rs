//! The HTTP surface: `/mcp` (guarded, authenticated, session-bound), RFC 9728 metadata, health, and
//! the page the identity provider returns users to after a Graph consent.
//!
//! Checks on `/mcp`, in order: request span → declared body size (413) → Host/Origin/header-size
//! guard → bearer-token authentication (401/403, before any body is parsed) → session-owner check →
//! JSON-RPC answers to unreadable bodies (`jsonrpc`, which also stops a streamed body past the limit
//! with 413) → rmcp's Streamable HTTP service. All but the last run in one middleware, `admit`; the
//! other routes read no body and keep tower-http's `TraceLayer`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::{
    ServerHandler,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tower_http::{cors::CorsLayer, trace::TraceLayer};
use tracing::Instrument;

use crate::{
    AppState, Config, ResourceServer,
    auth::{self, Authenticator, Principal},
    config::ResourceConfig,
    jsonrpc::{self, MAX_BODY_BYTES},
    sessions::{BoundSessions, SessionOwners},
    tools::Tools,
};

/// Largest total size of request headers (names + values). Entra tokens are 2–4 KB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Builds mcp-tools' complete router: the shared resource-server router over [`Tools`], plus the
/// consent-complete page.
pub fn router(config: Config, state: AppState) -> Router {
    let shared = state.shared.clone();
    mcp_router(
        &config.resource,
        auth::MCP_TOOLS_NAME,
        &state.resource_server(),
        move || Tools::new(shared.clone()),
        Router::new().route(crate::config::CONSENT_COMPLETE_PATH, get(consent_complete)),
    )
}

/// The router of any MCP resource server (mcp-tools, sales): `/mcp` served by the handlers `handler`
/// makes, behind the one admission middleware (body size, Host/Origin, bearer token for `config`'s
/// audience and scope, session owner, JSON-RPC answers to unreadable bodies), the RFC 9728 metadata
/// naming the server `resource_name`, `/healthz`, and the server's own bodiless `public` routes.
pub fn mcp_router<H>(
    config: &ResourceConfig,
    resource_name: &str,
    server: &ResourceServer,
    handler: impl Fn() -> H + Send + Sync + 'static,
    public: Router,
) -> Router
where
    H: ServerHandler + Send + 'static,
{
    let auth = Arc::new(Authenticator::for_resource(
        config,
        resource_name,
        server.http.clone(),
        server.discovery.clone(),
    ));
    let gate = Arc::new(Gate {
        guard: Guard {
            hosts: config.allowed_hosts.clone(),
            origins: config.allowed_origins.clone(),
        },
        auth: auth.clone(),
        sessions: server.sessions.clone(),
    });

    // Host and Origin are checked by our guard (one place, tested); rmcp's own checks would duplicate it
    // with a different host syntax.
    let mcp_config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(server.shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(handler()),
        Arc::new(BoundSessions::new(
            LocalSessionManager::default(),
            server.sessions.clone(),
        )),
        mcp_config,
    );

    let mcp = Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(gate, admit));

    // Metadata is public and fetched by browser-based clients from other origins.
    let mut metadata = Router::new().route(
        "/.well-known/oauth-protected-resource",
        get(auth::resource_metadata),
    );
    for path in metadata_paths(config) {
        metadata = metadata.route(&path, get(auth::resource_metadata));
    }
    let metadata = metadata.with_state(auth).layer(
        CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([Method::GET]),
    );

    Router::new()
        .route("/healthz", get(healthz))
        .merge(public)
        .merge(metadata)
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| request_span(request)),
        )
        .merge(mcp)
}

/// Method and path only (never the query string); `user` is filled in once the token is validated.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        user = tracing::field::Empty,
    )
}

/// `/.well-known/oauth-protected-resource/<path of the public URL>`, and `/mcp` in any case.
fn metadata_paths(config: &ResourceConfig) -> Vec<String> {
    let mut paths = vec!["/.well-known/oauth-protected-resource/mcp".to_owned()];
    let own = config.public_url.path().trim_end_matches('/');
    if !own.is_empty() && own != "/mcp" {
        paths.push(format!("/.well-known/oauth-protected-resource{own}"));
    }
    paths
}

/// Liveness: no authentication, no details.
async fn healthz() -> &'static str {
    "ok"
}

const CONSENT_COMPLETE_PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Consent recorded</title></head><body><main><h1>Consent recorded</h1>\
<p>Consent recorded. Return to your chat and continue.</p></main></body></html>\n";

/// The consent redirect's landing page. The provider records consent on its own consent page; the
/// authorization code in this request's query is never redeemed, read or logged here (request spans
/// carry the path only), and the page loads nothing and links nowhere, so no referrer carries it on.
async fn consent_complete() -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        CONSENT_COMPLETE_PAGE,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Guard {
    fn host_allowed(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(host)
                || (strip_port(allowed) == allowed && allowed.eq_ignore_ascii_case(bare))
        })
    }
}

/// `host:port` → `host`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.split_once(':').map_or(host, |(name, _)| name)
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// What `/mcp` checks before rmcp sees a request.
struct Gate {
    guard: Guard,
    auth: Arc<Authenticator>,
    sessions: SessionOwners,
}

/// The `/mcp` checks in their order, as one middleware: each axum or tower layer costs a service
/// clone, a boxed future or a body wrapper per request; with six of them (`TraceLayer` and
/// `RequestBodyLimitLayer` included) they took about a sixth of a call's cost (load benchmark).
async fn admit(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    // Disabled spans (the default `info,rmcp=warn` keeps this one) cost a level check and nothing else.
    let span = request_span(&request);
    let timed = tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now);
    let response = admit_in_span(&gate, request, next)
        .instrument(span.clone())
        .await;
    // What `TraceLayer` logged: server errors always, every response at debug.
    let status = response.status();
    let _entered = span.enter();
    if status.is_server_error() {
        tracing::error!(%status, "response failed");
    } else if let Some(start) = timed {
        tracing::debug!(%status, latency = ?start.elapsed(), "finished processing request");
    }
    response
}

async fn admit_in_span(gate: &Gate, mut request: Request, next: Next) -> Response {
    if declared_length(request.headers()).is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: request body exceeds {MAX_BODY_BYTES} bytes"),
        )
            .into_response();
    }
    if let Err(refusal) = guard_request(&gate.guard, &request) {
        return refusal;
    }
    let principal = match gate.auth.authenticate(request.headers()).await {
        Ok(authenticated) => authenticated,
        Err(refusal) => return refusal,
    };
    if let Err(refusal) = bind_session(&gate.sessions, request.headers(), &principal) {
        return refusal;
    }
    request.extensions_mut().insert(principal);
    jsonrpc::explain_rejections(request, next).await
}

/// `Content-Length`, when the client declared one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// DNS-rebinding and cross-site protection for `/mcp`, before any token work.
// The refusal is the response itself, returned once per refused request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn guard_request(guard: &Guard, request: &Request) -> Result<(), Response> {
    if header_bytes(request.headers()) > MAX_HEADER_BYTES {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
            .into_response());
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| guard.host_allowed(h)) {
        return Err((StatusCode::FORBIDDEN, "Forbidden: Host is not allowed").into_response());
    }
    // Non-browser clients send no Origin; a browser on another site always does.
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| guard.origins.iter().any(|allowed| allowed == o));
        if !allowed {
            return Err((StatusCode::FORBIDDEN, "Forbidden: Origin is not allowed").into_response());
        }
    }
    Ok(())
}

/// A session id is usable only by the user who opened the session; anyone else gets exactly the
/// answer an unknown session gets.
#[allow(clippy::result_large_err)] // as `guard_request`: the refusal is the response
fn bind_session(
    sessions: &SessionOwners,
    headers: &HeaderMap,
    caller: &Principal,
) -> Result<(), Response> {
    if let Some(id) = headers.get("mcp-session-id") {
        let owned = id.to_str().is_ok_and(|id| sessions.is_owned_by(id, caller));
        if !owned {
            return Err((StatusCode::NOT_FOUND, "Not Found: Session not found").into_response());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_handles_names_ipv4_and_ipv6() {
        assert_eq!(strip_port("example.com:8081"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(strip_port("[::1]:8081"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn host_allowlist_matches_exactly_or_by_name_when_no_port_is_listed() {
        let guard = Guard {
            hosts: vec!["127.0.0.1:8081".into(), "mcp.example.com".into()],
            origins: vec![],
        };
        assert!(guard.host_allowed("127.0.0.1:8081"));
        assert!(!guard.host_allowed("127.0.0.1:9999"));
        assert!(guard.host_allowed("mcp.example.com"));
        assert!(guard.host_allowed("MCP.example.com:443"));
        assert!(!guard.host_allowed("evil.example.com"));
        assert!(!guard.host_allowed("127.0.0.1"));
    }
}
