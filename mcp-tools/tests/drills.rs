//! Fault drills (issue #13) for mcp-tools over real HTTP: the issuer's JWKS endpoint goes down.
//!
//! - Keys already cached keep working, and a down endpoint is not hammered: unknown key ids cause at
//!   most one (failing) fetch per cooldown.
//! - A cold start (no key cached) while the endpoint is down fails closed: every token is refused with
//!   503 `temporarily_unavailable` and `Retry-After` (no token could pass, so the client should not
//!   fetch another one), never accepted; it recovers by itself after the cooldown once the endpoint is
//!   back.
//!
//! The cooldown is shortened to 1 s (`MCP_AUTH__JWKS_COOLDOWN_SECS`), so each drill takes seconds.
//! (`auth.rs` covers caching, single-flight refetch and rotation while the endpoint is up.)

mod common;

use std::time::Duration;

use common::{Issuer, Server, keys, raw::initialize, sign};
use reqwest::{StatusCode, header};
use serde_json::Value;

const COOLDOWN: Duration = Duration::from_secs(1);

/// A little more than the cooldown, so the next unknown kid may refetch.
async fn after_cooldown() {
    tokio::time::sleep(COOLDOWN + Duration::from_millis(150)).await;
}

/// Refused as an invalid token: 401, the RFC 6750 challenge, the generic body, nothing else.
async fn assert_refused(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "error": "invalid_token" }));
}

/// Refused because no signing key is known yet: 503, when to retry, a generic body, no challenge.
async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[header::RETRY_AFTER],
        COOLDOWN.as_secs().to_string().as_str()
    );
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "temporarily_unavailable" })
    );
}

#[tokio::test]
async fn a_cold_start_with_the_jwks_down_fails_closed_and_recovers_after_the_cooldown() {
    let issuer = Issuer::start().await;
    issuer.set_down(true);
    let server =
        Server::start_with_issuer(issuer.clone(), |b| b.jwks_cooldown_secs(COOLDOWN.as_secs()))
            .await;
    let alice = issuer.token("alice");

    // A burst of valid tokens while no key is known: all refused, one fetch between them.
    let burst = futures::future::join_all((0..10).map(|_| initialize(&server, Some(&alice)))).await;
    for response in burst {
        assert_unavailable(response).await;
    }
    assert_eq!(issuer.jwks_fetches(), 1, "one fetch for the whole burst");
    // More within the cooldown: refused without touching the endpoint.
    for _ in 0..5 {
        assert_unavailable(initialize(&server, Some(&alice)).await).await;
    }
    assert_eq!(issuer.jwks_fetches(), 1, "no refetch inside the cooldown");

    // Still down after the cooldown: one more attempt, still closed.
    after_cooldown().await;
    assert_unavailable(initialize(&server, Some(&alice)).await).await;
    assert_eq!(issuer.jwks_fetches(), 2);

    // The endpoint is back: after the cooldown the same token is accepted, no restart needed.
    issuer.set_down(false);
    after_cooldown().await;
    assert_eq!(
        initialize(&server, Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 3);
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_jwks_is_down_and_refetches_back_off() {
    let issuer = Issuer::start().await;
    let server =
        Server::start_with_issuer(issuer.clone(), |b| b.jwks_cooldown_secs(COOLDOWN.as_secs()))
            .await;
    let alice = issuer.token("alice");
    assert_eq!(
        initialize(&server, Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    issuer.set_down(true);
    after_cooldown().await;
    // Cached key: accepted with no fetch, including a token never seen before.
    let bob = issuer.token("bob");
    for token in [&alice, &bob] {
        assert_eq!(
            initialize(&server, Some(token)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(issuer.jwks_fetches(), 1, "known keys need no fetch");

    // Unknown kids (a rotated key, or an attacker's): 20 at once cause one failing fetch; more within
    // the cooldown cause none. All are refused; known keys still work.
    let stranger = sign(&keys()[1], &issuer.claims("alice"));
    let burst =
        futures::future::join_all((0..20).map(|_| initialize(&server, Some(&stranger)))).await;
    for response in burst {
        assert_refused(response).await;
    }
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for the burst");
    for _ in 0..5 {
        assert_refused(initialize(&server, Some(&stranger)).await).await;
    }
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "a failed fetch starts the cooldown too"
    );
    assert_eq!(
        initialize(&server, Some(&alice)).await.status(),
        StatusCode::OK,
        "a failed refetch keeps the cached keys"
    );

    // The next cooldown allows one more attempt, no more.
    after_cooldown().await;
    let burst =
        futures::future::join_all((0..5).map(|_| initialize(&server, Some(&stranger)))).await;
    for response in burst {
        assert_refused(response).await;
    }
    assert_eq!(issuer.jwks_fetches(), 3);
    assert_eq!(
        initialize(&server, Some(&bob)).await.status(),
        StatusCode::OK
    );
}
