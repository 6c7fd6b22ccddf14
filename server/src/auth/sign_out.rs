//! Ending sessions: `POST /auth/logout` (token cache purged, session destroyed, then RP-initiated
//! logout at the provider by an auto-submitted POST form), and the check long-lived responses (the
//! live stream) repeat to notice that their session has ended some other way.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use maud::{DOCTYPE, html};
use rand::RngCore;
use secrecy::ExposeSecret;
use tower_sessions::{Session, SessionStore, session::Id};

use super::{AuthState, SessionUser, USER_KEY, internal, oidc::EndSession};

/// `POST /auth/logout`: purges the token cache, destroys the session, and ends the provider session
/// (RP-initiated logout) when the provider supports it.
pub async fn logout(State(auth): State<Arc<AuthState>>, session: Session) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    let mut id_token = None;
    if let Some(user) = &user {
        id_token = auth.tokens.id_token(&user.key).await.ok().flatten();
        if let Err(error) = auth.tokens.purge(&user.key).await {
            tracing::error!(
                error = format!("{error:#}"),
                "purging tokens at sign-out failed"
            );
        }
    }
    if let Err(error) = session.flush().await {
        return internal("ending the session failed", error);
    }
    let end_session = match id_token {
        Some(id_token) => {
            auth.oidc
                .end_session(id_token, &auth.post_logout_redirect_uri)
                .await
        }
        None => None,
    };
    match end_session {
        Some(request) => end_session_page(&request),
        None => Redirect::to("/").into_response(),
    }
}

/// The page that posts the logout request to the provider: a form its script submits at once, with a
/// Continue button for browsers without scripts. The ID token is in this page's body (a hidden field),
/// which is what RP-Initiated Logout by POST prescribes; the page is never stored (`no-store`), and only
/// its own nonce-carrying script runs.
fn end_session_page(request: &EndSession) -> Response {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Signing out" }
                link rel="stylesheet" href="/pkg/portcullis.css";
            }
            body {
                main class="content" {
                    h1 { "Signing out" }
                    form id="end-session" method="post" action=(request.endpoint.as_str()) {
                        input type="hidden" name="id_token_hint"
                            value=(request.id_token_hint.expose_secret());
                        input type="hidden" name="client_id" value=(request.client_id);
                        input type="hidden" name="post_logout_redirect_uri"
                            value=(request.post_logout_redirect_uri);
                        p { "You are signed out here. Continue to sign out at your identity provider." }
                        button type="submit" data-testid="end-session-continue" { "Continue" }
                    }
                    script nonce=(nonce) { "document.getElementById('end-session').submit();" }
                }
            }
        }
    };
    // The redirect back from the provider is a form navigation too: `'self'` keeps it allowed.
    let policy = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self'; \
         form-action 'self' {}; base-uri 'none'; frame-ancestors 'none'",
        request.endpoint.origin().ascii_serialization()
    );
    let mut response = Html(body.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(&policy) {
        Ok(policy) => {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        // Only an endpoint origin with odd bytes gets here; without its policy the page is not sent.
        Err(error) => return internal("building the sign-out page's policy failed", error),
    }
    response
}

impl AuthState {
    /// Whether session `id` still holds the user `user_key` signed in: its record exists in the
    /// store and has not expired (sign-out, idle timeout and store purges all remove it), and the
    /// absolute lifetime has not run out. A store failure counts as ended: the caller stops, and a
    /// browser that reconnects is checked afresh.
    pub async fn session_holds(&self, store: &impl SessionStore, id: &Id, user_key: &str) -> bool {
        let record = match store.load(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return false,
            Err(error) => {
                tracing::warn!(%error, "re-checking a session failed");
                return false;
            }
        };
        if record.expiry_date <= time::OffsetDateTime::now_utc() {
            return false;
        }
        let user = record
            .data
            .get(USER_KEY)
            .and_then(|value| serde_json::from_value::<SessionUser>(value.clone()).ok());
        user.is_some_and(|user| user.key == user_key && !self.past_absolute_lifetime(&user))
    }

    /// Whether `user`'s session has outlived the absolute timeout (counted from sign-in).
    pub(super) fn past_absolute_lifetime(&self, user: &SessionUser) -> bool {
        chrono::Utc::now().timestamp() - user.signed_in_at > self.absolute_timeout_secs
    }
}
