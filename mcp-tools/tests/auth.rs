//! The resource-server contract over real HTTP: every token defect, the challenges, RFC 9728 metadata,
//! Host/Origin guards, size limits, JWKS caching and rotation, and session-to-user binding.

mod common;

use std::time::Duration;

use common::{
    AUDIENCE, SCOPE, Server, http, keys, now,
    raw::{ACCEPT, initialize, initialize_body, open_session},
    sign,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn assert_invalid_token(server: &Server, token: &str) {
    let response = initialize(server, Some(token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.contains(&format!(
        r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
        server.origin()
    )));
    let body = response.text().await.unwrap();
    assert_eq!(body, r#"{"error":"invalid_token"}"#, "bodies are generic");
}

fn with(server: &Server, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut claims = server.issuer.claims("alice");
    edit(claims.as_object_mut().unwrap());
    sign(&keys()[0], &claims)
}

#[tokio::test]
async fn valid_delegated_token_opens_a_session() {
    let server = Server::start().await;
    let response = initialize(&server, Some(&server.issuer.token("alice"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("mcp-session-id"));
    assert_eq!(server.state.sessions.len(), 1);
}

#[tokio::test]
async fn missing_token_gets_401_with_resource_metadata_and_no_error_code() {
    let server = Server::start().await;
    let response = initialize(&server, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            server.origin()
        )
    );
}

#[tokio::test]
async fn token_in_query_string_is_ignored() {
    let server = Server::start().await;
    let token = server.issuer.token("alice");
    for name in ["access_token", "token"] {
        let response = http()
            .post(format!("{}?{name}={token}", server.url))
            .header(header::ACCEPT, ACCEPT)
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn non_bearer_schemes_and_garbage_are_invalid_tokens() {
    let server = Server::start().await;
    let response = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .header(header::AUTHORIZATION, "Basic YWxpY2U6c2VjcmV0")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
    assert_invalid_token(&server, "not-a-jwt").await;
    assert_invalid_token(&server, "a.b.c").await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let server = Server::start().await;
    // Beyond the 30 s leeway in both directions.
    let expired = with(&server, |c| {
        c.insert("exp".into(), json!(now() - 120));
    });
    assert_invalid_token(&server, &expired).await;
    let future = with(&server, |c| {
        c.insert("nbf".into(), json!(now() + 600));
    });
    assert_invalid_token(&server, &future).await;
    // Within the leeway passes.
    let barely = with(&server, |c| {
        c.insert("exp".into(), json!(now() - 5));
    });
    assert_eq!(
        initialize(&server, Some(&barely)).await.status(),
        StatusCode::OK
    );
}

/// A change made to a token's claims before it is signed.
type ClaimsEdit = Box<dyn FnOnce(&mut serde_json::Map<String, Value>)>;

#[tokio::test]
async fn issuer_audience_and_tenant_must_match_exactly() {
    let server = Server::start().await;
    let cases: Vec<(&str, ClaimsEdit)> = vec![
        (
            "other issuer",
            Box::new(|c| {
                c.insert(
                    "iss".into(),
                    json!("https://login.microsoftonline.com/other/v2.0"),
                );
            }),
        ),
        (
            "issuer with trailing slash",
            Box::new(|c| {
                let iss = format!("{}/", c["iss"].as_str().unwrap());
                c.insert("iss".into(), json!(iss));
            }),
        ),
        (
            "other audience",
            Box::new(|c| {
                c.insert("aud".into(), json!("api://someone-else"));
            }),
        ),
        (
            "other tenant",
            Box::new(|c| {
                c.insert("tid".into(), json!("22222222-2222-2222-2222-222222222222"));
            }),
        ),
        (
            "no issuer",
            Box::new(|c| {
                c.remove("iss");
            }),
        ),
        (
            "no audience",
            Box::new(|c| {
                c.remove("aud");
            }),
        ),
        (
            "no expiry",
            Box::new(|c| {
                c.remove("exp");
            }),
        ),
        (
            "no tenant",
            Box::new(|c| {
                c.remove("tid");
            }),
        ),
        (
            "no user id",
            Box::new(|c| {
                c.remove("oid");
                c.remove("sub");
            }),
        ),
    ];
    for (name, edit) in cases {
        let token = with(&server, edit);
        let response = initialize(&server, Some(&token)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    // An audience list containing ours is accepted (RFC 7519 allows arrays).
    let listed = with(&server, |c| {
        c.insert("aud".into(), json!(["api://other", AUDIENCE]));
    });
    assert_eq!(
        initialize(&server, Some(&listed)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_rs256_with_a_key_from_the_jwks_is_accepted() {
    let server = Server::start().await;
    let claims = server.issuer.claims("alice");

    // HS256 keyed with the public modulus: the classic algorithm-confusion attack.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("key-1".into());
    let modulus = keys()[0].jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&modulus),
    )
    .unwrap();
    assert_invalid_token(&server, &hs).await;

    // alg=none.
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"key-1"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_invalid_token(&server, &none).await;

    // Right kid, wrong key.
    let mut forged = keys()[2].clone();
    forged.kid = "key-1".into();
    assert_invalid_token(&server, &sign(&forged, &claims)).await;

    // A key embedded in the header is never used.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("attacker".into());
    header.jwk = Some(serde_json::from_value(keys()[2].jwk.clone()).unwrap());
    header.jku = Some(format!("{}/attacker-jwks", server.origin()));
    let embedded = jsonwebtoken::encode(&header, &claims, &keys()[2].encoding).unwrap();
    assert_invalid_token(&server, &embedded).await;

    // No kid.
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    let no_kid = jsonwebtoken::encode(&header, &claims, &keys()[0].encoding).unwrap();
    assert_invalid_token(&server, &no_kid).await;

    // Tampered payload.
    let good = server.issuer.token("alice");
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut tampered = claims.clone();
    tampered["oid"] = json!("oid-bob");
    let payload = URL_SAFE_NO_PAD.encode(tampered.to_string());
    parts[1] = &payload;
    assert_invalid_token(&server, &parts.join(".")).await;
}

async fn assert_insufficient_scope(server: &Server, token: &str) {
    let response = initialize(server, Some(token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer error="insufficient_scope", scope="{SCOPE}", resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            server.origin()
        )
    );
}

#[tokio::test]
async fn app_only_tokens_and_missing_scope_get_403_insufficient_scope() {
    let server = Server::start().await;
    let app_only = with(&server, |c| {
        c.remove("scp");
        c.remove("name");
        c.insert("roles".into(), json!(["mcp.tools.all"]));
        c.insert("idtyp".into(), json!("app"));
    });
    assert_insufficient_scope(&server, &app_only).await;
    for scp in [
        "openid profile",
        "mcp:tools.read",
        "xmcp:tools",
        "MCP:TOOLS",
        "",
    ] {
        let token = with(&server, |c| {
            c.insert("scp".into(), json!(scp));
        });
        assert_insufficient_scope(&server, &token).await;
    }
    let roles_and_scope = with(&server, |c| {
        c.insert("roles".into(), json!(["x"]));
        c.insert("scp".into(), json!("mcp:tools"));
    });
    assert_eq!(
        initialize(&server, Some(&roles_and_scope)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths() {
    let server =
        Server::start_with(|b| b.scopes_supported(vec![format!("{AUDIENCE}/{SCOPE}")])).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = http()
            .get(format!("{}{path}", server.origin()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["resource"], json!(server.url), "{path}");
        assert_eq!(doc["authorization_servers"], json!([server.issuer.url]));
        assert_eq!(
            doc["scopes_supported"],
            json!(["api://portcullis-mcp/mcp:tools"])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn foreign_origin_and_host_are_refused_before_authentication() {
    let server = Server::start().await;
    let token = server.issuer.token("alice");
    let post = |origin: Option<&str>, host: Option<&str>| {
        let mut request = http()
            .post(&server.url)
            .header(header::ACCEPT, ACCEPT)
            .bearer_auth(&token)
            .json(&initialize_body());
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(host) = host {
            request = request.header(header::HOST, host);
        }
        request.send()
    };
    assert_eq!(
        post(Some("https://evil.example"), None)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some("null"), None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(None, Some("evil.example")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(None, Some(&format!("evil.example:{}", server.addr.port())))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // Even without a token, the guard answers first.
    let response = http()
        .post(&server.url)
        .header(header::ORIGIN, "https://evil.example")
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Own origin and loopback aliases pass.
    assert_eq!(
        post(Some(&server.origin()), None).await.unwrap().status(),
        StatusCode::OK
    );
    let alias = format!("localhost:{}", server.addr.port());
    assert_eq!(
        post(None, Some(&alias)).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused() {
    let server = Server::start().await;
    let token = server.issuer.token("alice");
    let response = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .header("x-padding", "a".repeat(mcp_tools::MAX_HEADER_BYTES))
        .bearer_auth(&token)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    let mut body = initialize_body();
    body["params"]["padding"] = json!("a".repeat(mcp_tools::MAX_BODY_BYTES));
    let response = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn health_needs_no_token_and_says_nothing() {
    let server = Server::start().await;
    let response = http()
        .get(format!("{}/healthz", server.origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn jwks_is_cached_refetched_once_for_unknown_kids_and_survives_outages() {
    let server = Server::start().await;
    let issuer = &server.issuer;
    let alice = issuer.token("alice");

    for _ in 0..5 {
        assert_eq!(
            initialize(&server, Some(&alice)).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(issuer.jwks_fetches(), 1, "fetched once, then cached");

    // Within the cooldown of that first fetch, an unknown kid causes no fetch at all.
    let stranger = sign(&keys()[2], &issuer.claims("alice"));
    assert_invalid_token(&server, &stranger).await;
    assert_eq!(issuer.jwks_fetches(), 1, "no refetch inside the cooldown");

    // After it: one refetch however many requests with unknown kids arrive at once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let stranger = sign(&keys()[2], &issuer.claims("alice"));
    let results =
        futures::future::join_all((0..20).map(|_| initialize(&server, Some(&stranger)))).await;
    assert!(
        results
            .iter()
            .all(|r| r.status() == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for the unknown kid");

    // Rotation: the issuer publishes key-2 beside key-1; after the cooldown a key-2 token is accepted.
    issuer.set_keys(&[&keys()[0], &keys()[1]]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let rotated = sign(&keys()[1], &issuer.claims("alice"));
    assert_eq!(
        initialize(&server, Some(&rotated)).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.jwks_fetches(), 3);

    // The JWKS endpoint goes down: cached keys keep working, unknown ones fail closed.
    issuer.set_down(true);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_token(&server, &stranger).await;
    assert_eq!(
        initialize(&server, Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        initialize(&server, Some(&rotated)).await.status(),
        StatusCode::OK
    );

    // Key-1 retired: once refetched, its tokens stop working.
    issuer.set_down(false);
    issuer.set_keys(&[&keys()[1]]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_token(&server, &stranger).await; // triggers the refetch
    assert_invalid_token(&server, &alice).await;
    assert_eq!(
        initialize(&server, Some(&rotated)).await.status(),
        StatusCode::OK
    );
}

async fn in_session(
    server: &Server,
    method: reqwest::Method,
    token: &str,
    session: &str,
) -> (StatusCode, String) {
    let mut request = http()
        .request(method.clone(), &server.url)
        .header(
            header::ACCEPT,
            if method == reqwest::Method::GET {
                "text/event-stream"
            } else {
                ACCEPT
            },
        )
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(token);
    if method == reqwest::Method::POST {
        request = request.json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    // GET on a live session is an endless SSE stream: read the body only for refusals.
    let body = if status == StatusCode::OK && method == reqwest::Method::GET {
        String::new()
    } else {
        tokio::time::timeout(Duration::from_secs(5), response.text())
            .await
            .expect("body")
            .unwrap()
    };
    (status, body)
}

#[tokio::test]
async fn sessions_are_bound_to_the_user_who_opened_them() {
    let server = Server::start().await;
    let alice = server.issuer.token("alice");
    let bob = server.issuer.token("bob");
    let session = open_session(&server, &alice).await;
    let unknown = "00000000-0000-0000-0000-000000000000";

    let (status, body) = in_session(&server, reqwest::Method::POST, &alice, &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("get_random_number"), "{body}");

    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let theirs = in_session(&server, method.clone(), &bob, &session).await;
        let nobody = in_session(&server, method.clone(), &bob, unknown).await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(
            theirs, nobody,
            "{method}: another user's session looks like an unknown one"
        );
    }
    // Bob's attempts did not close or disturb alice's session.
    let (status, _) = in_session(&server, reqwest::Method::POST, &alice, &session).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = in_session(&server, reqwest::Method::DELETE, &alice, &session).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        server.state.sessions.len(),
        0,
        "closed sessions leave no owner entry"
    );
    let (status, _) = in_session(&server, reqwest::Method::POST, &alice, &session).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
