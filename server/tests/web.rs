//! The web app over its router (`oneshot`) against a real dev identity provider and a real in-process
//! mcp-tools: pages, sign-in callback defences, cookies, CSRF, sign-out, and the token cache.

mod common;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::*;
use secrecy::ExposeSecret;
use serde_json::json;
use server::auth::token_cache::TokenError;
use url::Url;

#[tokio::test]
async fn health_and_home_for_visitors() {
    let app = test_app().await;
    let reply = app.get("/healthz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "ok"));
    let reply = app.get("/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("<title>Portcullis</title>"));
    assert!(reply.body.contains("Not signed in"));
    assert!(reply.body.contains(r#"data-hydrated="false""#));
    assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self' 'nonce-"),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(
        reply.body.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
    let reply = app.get("/no/such/page", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_cycles_the_session_and_shows_the_user() {
    let app = test_app().await;
    let (pre_login, authorize) = app.begin("/tools").await;
    // Authorization request: code + PKCE S256 + state + nonce, OIDC scopes, our client.
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], "portcullis-web");
    assert!(params["state"].len() >= 16 && params["nonce"].len() >= 16);
    assert!(params["scope"].contains("openid") && params["scope"].contains("offline_access"));

    let callback = app.choose(&authorize, "alice").await;
    let reply = app.get(&callback, Some(&pre_login)).await;
    assert_eq!(
        (reply.status, reply.location()),
        (StatusCode::SEE_OTHER, "/tools")
    );
    let signed_in = reply.session_cookie().unwrap();
    assert_ne!(signed_in, pre_login, "session id cycled at sign-in");
    let flags = reply.set_cookie().unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(flags.contains(flag), "{flags}");
    }
    assert!(!flags.contains("Secure"), "plain http in this test");

    let home = app.get("/", Some(&signed_in)).await;
    assert!(home.body.contains("Alice Smith"), "{}", home.body);
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    // No token material in the page.
    assert!(!home.body.contains("eyJ"), "no JWT in HTML");
    // The pre-login id is dead.
    let old = app.get("/", Some(&pre_login)).await;
    assert!(old.body.contains("Not signed in"));

    // The Tools page lists mcp-tools' tools, fetched with alice's delegated token.
    let tools = app.get("/tools", Some(&signed_in)).await;
    for tool in ["get_random_number", "delete_note", "list_notes"] {
        assert!(
            tools.body.contains(tool),
            "{tool} missing from {}",
            tools.body
        );
    }
}

#[tokio::test]
async fn callback_refuses_missing_mismatched_replayed_and_foreign_responses() {
    let app = test_app().await;
    // No pending sign-in at all.
    let reply = app.get("/auth/callback?code=x&state=y", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("expired or was already used"));

    // Mismatched state, then a replay of the real one (the pending state was consumed).
    let (cookie, authorize) = app.begin("/").await;
    let callback = app.choose(&authorize, "alice").await;
    let tampered = callback.replace("state=", "state=x");
    let reply = app.get(&tampered, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .body
            .contains("does not belong to this browser session")
    );
    let reply = app.get(&callback, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "state is single use");

    // RFC 9207: an `iss` other than the provider's is refused before the code is redeemed.
    let (cookie, authorize) = app.begin("/").await;
    let callback = app.choose(&authorize, "alice").await;
    let forged = Url::parse(&format!("http://x{callback}")).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "iss" {
                "https://evil.example/v2.0".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let reply = app
        .get(&format!("/auth/callback?{query}"), Some(&cookie))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("unexpected identity provider"));

    // The provider's error is shown as a page, escaped, not a 500.
    let (cookie, authorize) = app.begin("/").await;
    let state: String = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let reply = app
        .get(
            &format!(
                "/auth/callback?error=access_denied&error_description=%3Cb%3Eno%3C/b%3E&state={}",
                urlencode(&state)
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("access_denied") && reply.body.contains("&lt;b&gt;no"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn return_paths_stay_on_this_site() {
    let app = test_app().await;
    for (asked, landed) in [
        ("/tools", "/tools"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let (cookie, authorize) = app.begin(asked).await;
        let callback = app.choose(&authorize, "bob").await;
        let reply = app.get(&callback, Some(&cookie)).await;
        assert_eq!(reply.location(), landed, "{asked}");
    }
}

#[tokio::test]
async fn https_deployments_get_host_prefixed_secure_cookies() {
    let app = test_app_with(json!({ "public_url": "https://portcullis.example" })).await;
    let reply = app.get("/auth/login", None).await;
    let cookie = reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(cookie.starts_with("__Host-portcullis_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
}

#[tokio::test]
async fn cross_site_writes_are_refused_and_sign_out_ends_everything() {
    let app = test_app().await;
    let cookie = app.sign_in("alice").await;
    let logout = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = Request::post("/auth/logout").header(header::COOKIE, &cookie);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.body(Body::empty()).unwrap()
    };
    let reply = app
        .send(logout(vec![("origin", "https://evil.example")]))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .send(logout(vec![("sec-fetch-site", "cross-site")]))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .send(
            Request::post("/api/list_tools")
                .header(header::COOKIE, &cookie)
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "server functions too");
    // Still signed in: the refused requests changed nothing.
    assert!(app.home_names(&cookie, "Alice Smith").await);

    let key = app.user_key("alice");
    let tokens = app.state.auth.tokens.clone();
    assert!(
        tokens
            .access_token(&key, "api://portcullis-mcp/mcp:tools")
            .await
            .is_ok()
    );

    let reply = app
        .send(logout(vec![
            ("origin", "http://127.0.0.1:3000"),
            ("sec-fetch-site", "same-origin"),
        ]))
        .await;
    // RP-initiated logout by POST: a page whose form carries the hint; no token in a URL or header.
    let end_session = EndSessionForm::of(&reply);
    assert!(
        end_session.action.path().ends_with("/oauth2/v2.0/logout"),
        "RP-initiated logout: {}",
        end_session.action
    );
    assert_eq!(
        end_session.field("post_logout_redirect_uri"),
        "http://127.0.0.1:3000/"
    );
    assert!(end_session.field("id_token_hint").starts_with("eyJ"));

    // The old cookie no longer works, and the token cache is purged.
    assert!(app.home_names(&cookie, "Not signed in").await);
    assert!(matches!(
        tokens
            .access_token(&key, "api://portcullis-mcp/mcp:tools")
            .await,
        Err(TokenError::SignInRequired)
    ));
}

#[tokio::test]
async fn token_cache_refreshes_single_flight_and_encrypts_at_rest() {
    // Tokens live 120 s: outside the 60 s refresh margin, so a fresh token is reused.
    let app = test_app_with(json!({ "dev_idp": {
        "bind": "127.0.0.1:0",
        "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
        "access_token_lifetime_secs": 120,
    }}))
    .await;
    app.sign_in("bob").await;
    let key = app.user_key("bob");
    let tokens = app.state.auth.tokens.clone();
    let scope = "api://portcullis-mcp/mcp:tools";

    // 20 concurrent first requests: one refresh (a second would replay the rotated refresh token and
    // the IdP would revoke the whole family, failing the others).
    let results = futures::future::join_all((0..20).map(|_| {
        let tokens = tokens.clone();
        let key = key.clone();
        async move { tokens.access_token(&key, scope).await }
    }))
    .await;
    let issued: Vec<String> = results
        .into_iter()
        .map(|r| r.expect("token").expose_secret().to_owned())
        .collect();
    assert!(
        issued.iter().all(|t| t == &issued[0]),
        "one refresh served everyone"
    );
    assert_eq!(
        tokens
            .access_token(&key, scope)
            .await
            .unwrap()
            .expose_secret(),
        issued[0],
        "cached while fresh"
    );
    let renewed = issued[0].clone();

    // At rest: no token bytes in the database file.
    let db = std::fs::read(app._dir.path().join("portcullis.db")).unwrap();
    let wal = std::fs::read(app._dir.path().join("portcullis.db-wal")).unwrap_or_default();
    for haystack in [&db, &wal] {
        assert!(
            !haystack
                .windows(renewed.len())
                .any(|w| w == renewed.as_bytes()),
            "access token stored in clear"
        );
        assert!(
            !haystack.windows(3).any(|w| w == b"eyJ"),
            "no JWT bytes at all"
        );
    }
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Tokens live 30 s here, inside the 60 s refresh margin: every request renews (rotating the
    // refresh token each time, which keeps working).
    let app = test_app().await;
    app.sign_in("alice").await;
    let key = app.user_key("alice");
    let scope = "api://portcullis-mcp/mcp:tools";
    let first = app
        .state
        .auth
        .tokens
        .access_token(&key, scope)
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    let second = app
        .state
        .auth
        .tokens
        .access_token(&key, scope)
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    let third = app
        .state
        .auth
        .tokens
        .access_token(&key, scope)
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_ne!(first, second);
    assert_ne!(second, third);
}

#[tokio::test]
async fn invalid_grant_ends_the_session_without_a_loop() {
    let app = test_app().await;
    let cookie = app.sign_in("alice").await;
    let key = app.user_key("alice");
    // The IdP revokes alice's grants at the web client (as an admin or a sign-out elsewhere would).
    let idp = app.dev.idp.as_ref().unwrap();
    assert!(idp.revoke_grants("alice", "portcullis-web").await.unwrap() > 0);

    let tokens = &app.state.auth.tokens;
    assert!(matches!(
        tokens
            .access_token(&key, "api://portcullis-mcp/mcp:tools")
            .await,
        Err(TokenError::SignInRequired)
    ));
    // The Tools page (server function) ends the session and asks to sign in again; the next page is
    // simply signed out, with no redirect loop.
    let reply = app
        .send(
            Request::post("/api/list_tools")
                .header(header::COOKIE, &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("SignInRequired"), "{}", reply.body);
    let home = app.get("/", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Not signed in"));
}

#[tokio::test]
async fn sessions_survive_a_restart_and_expire_absolutely() {
    let app = test_app().await;
    let cookie = app.sign_in("alice").await;
    let TestApp { _dir: dir, .. } = app;
    // Same data folder, new process state: the session is in the SQLite file.
    let app = test_app_in(dir, json!({})).await;
    assert!(
        app.get("/", Some(&cookie))
            .await
            .body
            .contains("Alice Smith"),
        "survived the restart"
    );

    // An absolute lifetime of zero ends the session at the next request, however active it is.
    let strict = test_app_with(json!({ "auth": { "session_absolute_secs": 0 } })).await;
    let cookie = strict.sign_in("bob").await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(
        strict
            .get("/", Some(&cookie))
            .await
            .body
            .contains("Not signed in")
    );
    assert!(
        strict
            .get("/", Some(&cookie))
            .await
            .body
            .contains("Not signed in")
    );
}

#[tokio::test]
async fn a_401_from_an_mcp_server_causes_one_refresh_and_one_retry() {
    use app::auth::Identity;
    let app = test_app().await;
    app.sign_in("alice").await;
    let user = Identity {
        key: app.user_key("alice"),
        name: "Alice Smith".into(),
    };
    // A cached token the server will refuse (it is not even a JWT), valid for an hour by our clock.
    app.state
        .auth
        .tokens
        .store_access_token(
            &user.key,
            "api://portcullis-mcp/mcp:tools",
            "not-a-valid-token",
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let Ok(servers) = app.state.directory.list(&user).await else {
        panic!("listing failed")
    };
    let tools = servers[0]
        .tools
        .as_ref()
        .expect("recovered after one refresh");
    assert!(tools.iter().any(|t| t.name == "get_random_number"));
}

#[tokio::test]
async fn each_failing_server_gets_its_own_error_and_a_persistent_401_is_not_retried_forever() {
    use app::auth::Identity;
    // An mcp-tools that trusts the dev IdP but expects another audience: every token gets 401.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = test_app_with(json!({ "mcp_servers": [
        "down=http://127.0.0.1:1/mcp api://portcullis-mcp/mcp:tools",
        format!("strict=http://{addr}/mcp api://portcullis-mcp/mcp:tools"),
    ]}))
    .await;
    let strict_dir = tempfile::tempdir().unwrap();
    let strict =
        mcp_tools::Config::builder(app.dev.idp.as_ref().unwrap().issuer(), "api://someone-else")
            .bind(addr)
            .database_url(format!(
                "sqlite://{}",
                strict_dir.path().join("s.db").display()
            ))
            .build()
            .unwrap();
    tokio::spawn(mcp_tools::run(listener, strict, std::future::pending()));
    assert!(
        app.dev.mcp.is_empty(),
        "configured servers replace the dev mcp-tools"
    );
    app.sign_in("bob").await;
    let user = Identity {
        key: app.user_key("bob"),
        name: "Bob Jones".into(),
    };
    let Ok(servers) = app.state.directory.list(&user).await else {
        panic!("listing failed")
    };
    assert_eq!(servers.len(), 2);
    let down = servers[0].tools.as_ref().unwrap_err();
    assert!(down.contains("could not connect"), "{down}");
    let strict = servers[1].tools.as_ref().unwrap_err();
    assert!(
        strict.contains("401") && strict.contains("even after a refresh"),
        "{strict}"
    );
}

#[tokio::test]
async fn the_dev_stack_runs_every_stand_in_on_loopback() {
    let app = test_app().await;
    let idp = app.dev.idp.as_ref().expect("dev IdP");
    let [tools, sales] = &app.dev.mcp[..] else {
        panic!("dev mcp-tools and sales expected: {:?}", app.dev.mcp)
    };
    assert_eq!(
        (tools.name.as_str(), sales.name.as_str()),
        ("tools", "sales")
    );
    let model = app.dev.model.as_ref().expect("dev model");
    for url in [
        idp.issuer(),
        tools.url.to_string(),
        sales.url.to_string(),
        model.to_string(),
    ] {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
    let discovery = app
        .http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap();
    assert!(discovery.status().is_success());
    for server in [tools, sales] {
        let health = app
            .http
            .get(server.url.as_str().replace("/mcp", "/healthz"))
            .send()
            .await
            .unwrap();
        assert!(health.status().is_success(), "{}", server.name);
    }
    let completion: serde_json::Value = app
        .http
        .post(format!("{model}/chat/completions"))
        .json(&json!({ "model": "dev", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(completion["object"], "chat.completion");
}

/// The sign-out page's form, checked for what must and must not be in the response.
struct EndSessionForm {
    action: Url,
    fields: Vec<(String, String)>,
}

impl EndSessionForm {
    fn of(reply: &Reply) -> Self {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(
            reply.headers.get(header::LOCATION).is_none(),
            "no redirect carries the token"
        );
        for (name, value) in &reply.headers {
            assert!(
                !value.as_bytes().windows(3).any(|w| w == b"eyJ"),
                "no token in the {name} header"
            );
        }
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
        let body = &reply.body;
        let attribute = |tag: &str, name: &str| -> String {
            tag.split(&format!(" {name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .replace("&amp;", "&")
        };
        let form = body
            .split("<form")
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .expect("a form");
        assert_eq!(attribute(form, "method"), "post", "{form}");
        let action = Url::parse(&attribute(form, "action")).unwrap();
        let fields = body
            .split("<input")
            .skip(1)
            .map(|tag| tag.split('>').next().unwrap())
            .filter(|tag| attribute(tag, "type") == "hidden")
            .map(|tag| (attribute(tag, "name"), attribute(tag, "value")))
            .collect();
        // The form goes to the provider with the page's own script, which the policy allows by nonce.
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        let origin = action.origin().ascii_serialization();
        assert!(
            csp.contains(&format!("form-action 'self' {origin};")),
            "{csp}"
        );
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap();
        assert!(
            body.contains(&format!("<script nonce=\"{nonce}\">")),
            "{body}"
        );
        assert!(
            body.contains(">Continue</button>"),
            "a button without scripts"
        );
        Self { action, fields }
    }

    fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} field in {:?}", self.fields))
    }
}

#[tokio::test]
async fn sign_out_posts_the_hint_to_the_provider_which_revokes_the_grant() {
    let app = test_app().await;
    let first = app.sign_in("alice").await;
    let sign_out = app
        .send(
            Request::post("/auth/logout")
                .header(header::COOKIE, &first)
                .header("sec-fetch-site", "same-origin")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let form = EndSessionForm::of(&sign_out);
    assert_eq!(form.field("client_id"), "portcullis-web");

    // Alice signs in again elsewhere before her browser reaches the provider: a live grant.
    let second = app.sign_in("alice").await;
    let key = app.user_key("alice");
    let tokens = app.state.auth.tokens.clone();
    let scope = "api://portcullis-mcp/mcp:tools";
    assert!(tokens.access_token(&key, scope).await.is_ok());

    // The provider checks a posted request as it checks a GET: an unregistered return address is refused.
    let mut foreign = form.fields.clone();
    for (name, value) in &mut foreign {
        if name == "post_logout_redirect_uri" {
            *value = "https://evil.example/".to_owned();
        }
    }
    let response = app
        .http
        .post(form.action.clone())
        .form(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());

    // What the browser posts: back to the app, signed out, and the grant is revoked at the provider
    // (tokens live 30 s here, so the next access token needs the refresh token).
    let response = app
        .http
        .post(form.action.clone())
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://127.0.0.1:3000/"
    );
    let home = app.get("/", Some(&first)).await;
    assert!(home.body.contains("Not signed in"));
    assert!(matches!(
        tokens.access_token(&key, scope).await,
        Err(TokenError::SignInRequired)
    ));
    assert!(app.get("/", Some(&second)).await.status.is_success());
}

/// The site folder's files are served as they are, whatever page is rendering on the same worker
/// thread: the status a page set (404 for a deleted conversation) once leaked into the WASM bundle that
/// page loads, and the page never hydrated.
#[tokio::test]
async fn static_files_never_take_the_status_of_a_page_rendering_on_the_same_thread() {
    use leptos::prelude::{Owner, provide_context};
    use leptos_axum::ResponseOptions;

    let app = test_app().await;
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/portcullis.wasm"), b"\0asm-bundle").unwrap();
    let options = leptos::config::LeptosOptions::builder()
        .output_name("portcullis")
        .site_root(site.path().to_str().unwrap())
        .site_addr("127.0.0.1:3000".parse::<std::net::SocketAddr>().unwrap())
        .build();
    let state = server::AppState::build(app.config.clone(), options, &app.dev)
        .await
        .unwrap();
    let router = server::router(state);
    let get = |path: &str, headers: &[(header::HeaderName, String)]| {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let router = router.clone();
        let request = request.body(Body::empty()).unwrap();
        async move {
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, headers, body)
        }
    };

    // What a page still streaming leaves current on its worker thread (this test's only thread): a
    // reactive owner whose response options say 404.
    let page = Owner::new();
    let page_response = ResponseOptions::default();
    page_response.set_status(StatusCode::NOT_FOUND);
    page.with(|| provide_context(page_response));
    page.set();

    let (status, headers, body) = get("/pkg/portcullis.wasm", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"\0asm-bundle");
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    // A revalidation is answered as one (the file is unchanged).
    let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    let (status, _, _) = get(
        "/pkg/portcullis.wasm",
        &[(header::IF_MODIFIED_SINCE, modified)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // Anything else is the app's not-found page; a folder is not a page.
    for path in ["/pkg/missing.js", "/pkg", "/pkg/"] {
        let (status, _, body) = get(path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains("<title>Portcullis</title>"),
            "{path}"
        );
    }
    page.unset();
}
