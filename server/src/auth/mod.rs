//! Sign-in for the web app: OIDC code + PKCE as a confidential client, a server-side session, and the
//! per-user token cache.
//!
//! - `oidc`: the relying party (openidconnect).
//! - `token_cache`: encrypted per-user, per-scope tokens with single-flight refresh.
//! - `sign_out`: `POST /auth/logout` (RP-initiated logout by an auto-submitted POST form) and the
//!   re-check that tells a long-lived response its session has ended.
//! - `connect`: `/auth/connect`, one more MCP server's scope for the signed-in user (incremental
//!   consent), and the end of its round-trip.
//! - this module: the session record, sign-in (`/auth/login`, `/auth/callback`), and the middleware
//!   that turns a session into request extensions (`SignedInUser` for the UI, `Identity` for server
//!   code).
//!
//! Tokens never reach the browser, with one exception: the session cookie is an opaque id, and every
//! token (ID token for the logout hint, access and refresh tokens) lives encrypted in the token cache,
//! not in the session. The exception is the ID token on the sign-out page, a hidden form field posted
//! to the provider as its logout hint (RP-Initiated Logout by POST), never in a URL.

mod connect;
pub mod oidc;
pub mod sign_out;
pub mod token_cache;

use std::sync::Arc;

use app::auth::{Identity, SignedInUser, safe_return_path};
use axum::{
    extract::{Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::{DOCTYPE, html};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;

pub use self::{connect::connect, sign_out::logout};
use self::{
    oidc::{Oidc, PendingSignIn},
    token_cache::TokenCache,
};
use crate::mcp::Servers;

const USER_KEY: &str = "user";
const PENDING_KEY: &str = "pending_sign_in";

/// The signed-in user, as kept in the server-side session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// SHA-256 of (issuer, tenant, object id or subject): the identity key for all per-user data.
    pub key: String,
    pub name: String,
    /// Unix seconds; the absolute session lifetime counts from here.
    pub signed_in_at: i64,
}

/// What the auth routes need.
pub struct AuthState {
    pub oidc: Arc<Oidc>,
    pub tokens: Arc<TokenCache>,
    /// Scope of the access token sign-in returns (cached under this key).
    pub sign_in_scope: String,
    pub post_logout_redirect_uri: String,
    pub absolute_timeout_secs: i64,
}

/// The identity key: stable per user across sessions, never the display name.
pub fn identity_key(issuer: &str, tenant: Option<&str>, user_id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{issuer}\n{}\n{user_id}", tenant.unwrap_or_default()).as_bytes(),
    ))
}

/// A sign-in error page; `title` and `message` are escaped (a message can quote the provider).
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    page_with(status, title, message, ("/auth/login", "Try again"))
}

/// An error page of a Connect round-trip: the way on is the Connections page, not a new sign-in.
fn connect_page(status: StatusCode, title: &str, message: &str) -> Response {
    page_with(
        status,
        title,
        message,
        ("/connections", "Back to Connections"),
    )
}

fn page_with(
    status: StatusCode,
    title: &str,
    message: &str,
    (retry, retry_text): (&str, &str),
) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href="/pkg/portcullis.css";
            }
            body {
                main class="content" {
                    h1 data-testid="auth-error-title" { (title) }
                    p data-testid="auth-error" { (message) }
                    p { a href=(retry) { (retry_text) } " · " a href="/" { "Home" } }
                }
            }
        }
    };
    let mut response = (status, Html(body.into_string())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The identity provider is down: nothing about the request is wrong, so the way on is to try again.
const UNREACHABLE: &str =
    "The identity provider cannot be reached right now. Please try again shortly.";

/// The answer when the provider cannot be reached mid-sign-in (or mid-Connect): 503, nothing stored.
fn provider_unreachable(connecting: bool, error: &anyhow::Error) -> Response {
    // Anything else (a discovery document that does not validate) is a configuration problem.
    if error.is::<oidc::Unreachable>() {
        tracing::warn!(
            error = format!("{error:#}"),
            "identity provider unreachable"
        );
    } else {
        tracing::error!(
            error = format!("{error:#}"),
            "cannot reach the identity provider"
        );
    }
    if connecting {
        connect_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Connecting unavailable",
            UNREACHABLE,
        )
    } else {
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in unavailable",
            UNREACHABLE,
        )
    }
}

fn internal(what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "{what}");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sign-in unavailable",
        "Something went wrong on our side. Please try again.",
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    return_to: Option<String>,
}

/// `GET /auth/login`: starts the code flow. The pending state (state, nonce, PKCE verifier, return
/// path) stays in the server-side session.
pub async fn login(
    State(auth): State<Arc<AuthState>>,
    session: Session,
    Query(params): Query<LoginParams>,
) -> Response {
    let return_to = safe_return_path(params.return_to.as_deref().unwrap_or("/")).to_owned();
    let (url, pending) = match auth.oidc.begin(return_to).await {
        Ok(started) => started,
        Err(error) => return provider_unreachable(false, &error),
    };
    if let Err(error) = session.insert(PENDING_KEY, &pending).await {
        return internal("storing the pending sign-in failed", error);
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback`: checks state (single use), the RFC 9207 `iss`, redeems the code, validates the
/// ID token, cycles the session id, and returns the user to the page they asked for.
pub async fn callback(
    State(auth): State<Arc<AuthState>>,
    State(servers): State<Arc<Servers>>,
    session: Session,
    Query(params): Query<CallbackParams>,
) -> Response {
    // Single use: taken out of the session whatever happens next.
    let pending: Option<PendingSignIn> = match session.remove(PENDING_KEY).await {
        Ok(pending) => pending,
        Err(error) => return internal("reading the pending sign-in failed", error),
    };
    // Saved now: the session layer saves nothing when the answer is a server error (the provider
    // unreachable), which would leave the pending sign-in in place for the same callback to replay.
    if pending.is_some()
        && let Err(error) = session.save().await
    {
        return internal("using up the pending sign-in failed", error);
    }
    let Some(pending) = pending else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in link has expired or was already used. Please sign in again.",
        );
    };
    let state_ok = params.state.as_deref().is_some_and(|state| {
        use subtle::ConstantTimeEq;
        bool::from(state.as_bytes().ct_eq(pending.state.as_bytes()))
    });
    if !state_ok {
        tracing::warn!("sign-in callback with a state that does not match the session");
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in response does not belong to this browser session. Please sign in again.",
        );
    }
    if let Some(error) = &params.error {
        let detail = params.error_description.as_deref().unwrap_or_default();
        tracing::info!(%error, "identity provider returned an error");
        if let Some(connecting) = &pending.connect {
            return connect_page(
                StatusCode::BAD_REQUEST,
                "Not connected",
                &format!(
                    "{} was not connected: the identity provider said {error}. {detail} Your sign-in and other connections are unchanged.",
                    connecting.server
                ),
            );
        }
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in was not completed",
            &format!("The identity provider said: {error}. {detail}"),
        );
    }
    match auth.oidc.expected_callback_issuer().await {
        Ok(Some(expected)) if params.iss.as_deref() != Some(expected.as_str()) => {
            tracing::warn!("sign-in callback from an unexpected issuer");
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The sign-in response came from an unexpected identity provider.",
            );
        }
        Ok(_) => {}
        Err(error) if error.is::<oidc::Unreachable>() => {
            return provider_unreachable(pending.connect.is_some(), &error);
        }
        Err(error) => return internal("OIDC discovery failed", format!("{error:#}")),
    }
    let Some(code) = params.code else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in response has no code.",
        );
    };
    let signed_in = match auth.oidc.finish(code, &pending).await {
        Ok(signed_in) => signed_in,
        Err(error) if error.is::<oidc::Unreachable>() => {
            return provider_unreachable(pending.connect.is_some(), &error);
        }
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "sign-in could not be completed"
            );
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The identity provider's answer could not be verified. Please sign in again.",
            );
        }
    };
    let user_id = signed_in.oid.as_deref().unwrap_or(&signed_in.subject);
    let key = identity_key(&signed_in.issuer, signed_in.tid.as_deref(), user_id);
    if let Some(connecting) = &pending.connect {
        return connect::connected(
            &auth,
            &servers,
            &session,
            connecting,
            key,
            &signed_in,
            &pending.return_to,
        )
        .await;
    }
    if let Err(error) = auth
        .tokens
        .store_sign_in(&key, &auth.sign_in_scope, &signed_in)
        .await
    {
        return internal("storing tokens failed", format!("{error:#}"));
    }
    // A new session id at privilege change (session fixation defence).
    if let Err(error) = session.cycle_id().await {
        return internal("cycling the session id failed", error);
    }
    let user = SessionUser {
        key,
        name: signed_in.name,
        signed_in_at: chrono::Utc::now().timestamp(),
    };
    if let Err(error) = session.insert(USER_KEY, &user).await {
        return internal("storing the session failed", error);
    }
    tracing::info!("user signed in");
    Redirect::to(safe_return_path(&pending.return_to)).into_response()
}

/// Middleware: a live session's user becomes request extensions; expired sessions are ended. Responses
/// to signed-in users are marked `no-store`.
pub async fn attach_user(
    State(auth): State<Arc<AuthState>>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    let user = match user {
        Some(user) if auth.past_absolute_lifetime(&user) => {
            if let Some(error) = session.flush().await.err() {
                tracing::error!(%error, "ending an expired session failed");
            }
            if let Err(error) = auth.tokens.purge(&user.key).await {
                tracing::error!(
                    error = format!("{error:#}"),
                    "purging an expired session's tokens failed"
                );
            }
            None
        }
        other => other,
    };
    let signed_in = user.is_some();
    if let Some(user) = user {
        request.extensions_mut().insert(SignedInUser {
            name: user.name.clone(),
        });
        request.extensions_mut().insert(Identity {
            key: user.key,
            name: user.name,
        });
    }
    let mut response = next.run(request).await;
    if signed_in {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use http_body_util::BodyExt;

    use super::{identity_key, page};

    #[test]
    fn identity_keys_are_the_sha256_hex_of_issuer_tenant_and_user() {
        assert_eq!(
            identity_key("https://login.example/t/v2.0", Some("tenant-1"), "user-1"),
            "05543fd96bc7a9470f810eecf05a4bc16ad9816999b95aed2b0c3a696f489ad8"
        );
        assert_eq!(
            identity_key("https://idp.example", None, "sub-1"),
            "3464cec7a044f62e5d6d74075d339cdc8dccd8a2afa2280040898527796f8cab"
        );
    }

    #[tokio::test]
    async fn error_pages_escape_what_they_quote() {
        let response = page(
            StatusCode::BAD_REQUEST,
            "Sign-in <failed>",
            "The identity provider said: <script>alert(\"x\")</script> & more",
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
        assert!(
            !body.contains("<script>") && !body.contains("<failed>"),
            "{body}"
        );
        assert!(
            body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"),
            "{body}"
        );
        assert!(
            body.contains(r#"<a href="/auth/login">Try again</a>"#),
            "{body}"
        );
    }
}
