//! Connect: one more MCP server's scope for the signed-in user (incremental consent). `/auth/connect`
//! starts an authorization round-trip for that scope only; the shared callback hands its answer to
//! [`connected`], which stores the grant only when the provider answered for the same user.

use std::sync::Arc;

use app::auth::safe_return_path;
use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    AuthState, PENDING_KEY, SessionUser, USER_KEY, connect_page,
    oidc::{self, Connecting},
    provider_unreachable,
};
use crate::mcp::Servers;

fn connect_failed() -> Response {
    connect_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Not connected",
        "Something went wrong on our side. Please try again.",
    )
}

#[derive(Debug, Deserialize)]
pub struct ConnectParams {
    /// The server's configured short name.
    server: String,
    return_to: Option<String>,
}

/// `GET /auth/connect?server=<name>`: an authorization round-trip asking the signed-in user for that
/// server's scope only (the provider shows its consent page if needed), back to `return_to`. The
/// session and the user's other tokens are untouched; the callback checks the answer is for the same
/// user. Signed out, it is a sign-in that comes back here.
pub async fn connect(
    State(auth): State<Arc<AuthState>>,
    State(servers): State<Arc<Servers>>,
    State(settings): State<Arc<crate::WebSettings>>,
    session: Session,
    headers: axum::http::HeaderMap,
    Query(params): Query<ConnectParams>,
) -> Response {
    // Without an explicit return path, back to the page the link was on (a same-origin `Referer`:
    // the pages send one, `Referrer-Policy: same-origin`), else the Connections page.
    let referer = (headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| url::Url::parse(value).ok())
        .filter(|url| url.origin().ascii_serialization() == settings.public_origin)
        .map(|url| match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        });
    let requested = params.return_to.or(referer);
    let return_to = safe_return_path(requested.as_deref().unwrap_or("/connections")).to_owned();
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    let Some(user) = user else {
        let here = format!(
            "/auth/connect?server={}&return_to={}",
            percent_encoding::utf8_percent_encode(&params.server, QUERY),
            percent_encoding::utf8_percent_encode(&return_to, QUERY)
        );
        let login = format!(
            "/auth/login?return_to={}",
            percent_encoding::utf8_percent_encode(&here, QUERY)
        );
        return Redirect::to(&login).into_response();
    };
    let Some(spec) = servers.spec(&params.server) else {
        return connect_page(
            StatusCode::NOT_FOUND,
            "Unknown server",
            "There is no MCP server of that name here.",
        );
    };
    let connecting = Connecting {
        user_key: user.key,
        server: spec.name.clone(),
        scope: spec.scope.clone(),
    };
    let (url, pending) = match auth.oidc.begin_connect(connecting, return_to).await {
        Ok(started) => started,
        Err(error) => return provider_unreachable(true, &error),
    };
    if let Err(error) = session.insert(PENDING_KEY, &pending).await {
        tracing::error!(%error, "storing the pending connection failed");
        return connect_failed();
    }
    Redirect::to(url.as_str()).into_response()
}

/// What a query value escapes (everything but RFC 3986 unreserved characters and `/`).
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The end of a Connect round-trip: the grant is stored for the session's user if the provider
/// answered for that same user (a different account chosen at the provider changes nothing).
pub(super) async fn connected(
    auth: &AuthState,
    servers: &Servers,
    session: &Session,
    connecting: &Connecting,
    key: String,
    signed_in: &oidc::SignedIn,
    return_to: &str,
) -> Response {
    let current: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    let same_user = current.as_ref().is_some_and(|user| {
        user.key == connecting.user_key && {
            use subtle::ConstantTimeEq;
            bool::from(key.as_bytes().ct_eq(user.key.as_bytes()))
        }
    });
    if !same_user {
        tracing::warn!(server = %connecting.server, "a connect answer for another user (or a session that ended) was refused");
        return connect_page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "The identity provider answered for a different account than the one signed in here. Nothing was changed; connect again and choose your own account.",
        );
    }
    if let Err(error) = auth
        .tokens
        .connect(&key, &connecting.scope, signed_in)
        .await
    {
        tracing::error!(
            error = format!("{error:#}"),
            "storing the connection failed"
        );
        return connect_failed();
    }
    servers
        .directory
        .refresh_catalog(&agent::domain::UserKey::from(key.as_str()))
        .await;
    tracing::info!(server = %connecting.server, "MCP server connected");
    Redirect::to(safe_return_path(return_to)).into_response()
}
