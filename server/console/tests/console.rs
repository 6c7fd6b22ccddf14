//! `portcullis-console` as a person uses it: the real binary on a pseudo-terminal against the dev IdP
//! and the in-process mcp-tools, signing in by completing the dev IdP's page with an HTTP client that
//! does what a browser does (open the printed URL, choose the user, follow the redirect to the
//! console's loopback listener).

mod common;

use std::time::Duration;

use common::{
    Console, Stack, WAIT, complete_device_sign_in, device_sign_in_as, device_url, follow,
    sign_in_as, sign_in_url, submit_sign_in,
};
use console::{
    cache::TokenCache,
    config::{Home, KeyStoreChoice},
};
use secrecy::ExposeSecret;

/// The access and refresh tokens the console cached (read with its own code and key file).
fn cached_tokens(home: &std::path::Path, issuer: &str) -> (String, String) {
    let cache = TokenCache::open(&Home::at(home), KeyStoreChoice::File).expect("the cache opens");
    let grant = cache.grant(issuer).expect("a grant at the issuer");
    let access = grant
        .tokens
        .first()
        .expect("an access token")
        .secret()
        .expose_secret()
        .to_owned();
    let refresh = grant
        .refresh_token()
        .expect("a refresh token")
        .expose_secret()
        .to_owned();
    (access, refresh)
}

/// The first number printed after the approval prompt's answer.
fn printed_number(screen: &str) -> i64 {
    let after = screen
        .rsplit("approve? [y]es / [n]o ")
        .next()
        .expect("the prompt");
    after
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no number printed:\n{screen}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_list_call_approve_decline_reuse_and_logout() {
    let stack = Stack::start().await;
    let home = stack.home("alice");
    let env = stack.configured_env(&home);

    // No token yet: `tools` signs in through the browser first, then lists.
    let console = Console::spawn(&["tools"], &env);
    let url = sign_in_as(&console, "alice").await;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "portcullis-console");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["scope"].split(' ').any(|s| s == "offline_access"));
    assert!(query["redirect_uri"].starts_with("http://127.0.0.1:"));
    let mut console = console;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    for needle in [
        "SERVER",
        "get_random_number",
        "read-only",
        "delete_note",
        "destructive",
    ] {
        assert!(screen.contains(needle), "{needle} missing:\n{screen}");
    }
    assert!(screen.contains("tools "), "{screen}");

    // The cache holds the tokens, and none of their text.
    let (access, refresh) = cached_tokens(&home, &stack.idp.issuer());
    let file = std::fs::read(home.join("tokens.bin")).expect("the cache file");
    for secret in [
        access.as_str(),
        refresh.as_str(),
        "alice",
        "portcullis-console",
    ] {
        assert!(
            !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the cache file contains {secret:?}"
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("tokens.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!screen.contains(&access) && !screen.contains(&refresh));

    // A call: the prompt shows server, tool and arguments; `y` runs it; no sign-in this time.
    let mut console = Console::spawn(
        &["call", "tools", "get_random_number", "min=1", "max=6"],
        &env,
    );
    let screen = console.expect("approve? [y]es / [n]o ", WAIT).await;
    assert!(
        sign_in_url(&screen).is_none(),
        "signed in already:\n{screen}"
    );
    assert!(screen.contains("server:    tools"), "{screen}");
    assert!(
        screen.contains("tool:      get_random_number (read-only)"),
        "{screen}"
    );
    assert!(screen.contains("\"min\": 1"), "{screen}");
    assert!(screen.contains("\"max\": 6"), "{screen}");
    console.type_line("y");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!((1..=6).contains(&printed_number(&screen)), "{screen}");

    // `n`: declined, the tool is not called, exit code 5.
    let mut console = Console::spawn(
        &["call", "tools", "get_random_number", "min=1", "max=6"],
        &env,
    );
    console.expect("approve? [y]es / [n]o ", WAIT).await;
    console.type_line("n");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 5, "{screen}");
    assert!(screen.contains("declined"), "{screen}");

    // A tool's error result exits 1; arguments the schema refuses exit 2 without asking.
    let mut console = Console::spawn(
        &[
            "call",
            "tools",
            "get_random_number",
            "min=6",
            "max=1",
            "--yes",
        ],
        &env,
    );
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("must not be greater"), "{screen}");
    let mut console = Console::spawn(&["call", "tools", "get_random_number", "min=six"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("min: expected an integer"), "{screen}");
    assert!(!screen.contains("approve?"), "{screen}");
    let mut console = Console::spawn(&["call", "sales", "anything"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("no server named \"sales\""), "{screen}");

    // --json: machine-readable result on stdout.
    let mut console = Console::spawn(
        &[
            "call",
            "tools",
            "get_random_number",
            "min=3",
            "max=3",
            "--yes",
            "--json",
        ],
        &env,
    );
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    let json: serde_json::Value = serde_json::from_str(screen.trim()).expect("JSON only");
    assert_eq!(json["content"][0]["text"], "3");

    // logout deletes the cache and its key; the next command must sign in again.
    let mut console = Console::spawn(&["logout"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Signed out"), "{screen}");
    assert!(!home.join("tokens.bin").exists());
    assert!(!home.join("tokens.key").exists());
    let console = Console::spawn(&["tools"], &env);
    sign_in_as(&console, "bob").await;
    let mut console = console;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_without_a_browser() {
    let stack = Stack::with_lifetime(Duration::from_secs(4)).await;
    let home = stack.home("refresh");
    let mut env = stack.configured_env(&home);

    let mut console = Console::spawn(&["login"], &env);
    sign_in_as(&console, "alice").await;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Signed in to"), "{screen}");
    assert!(screen.contains("as Alice Smith"), "{screen}");
    let (first_access, first_refresh) = cached_tokens(&home, &stack.idp.issuer());

    // Past the token's lifetime: the console refreshes (and says so at info level), no browser.
    tokio::time::sleep(Duration::from_secs(5)).await;
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".into(), "console=info".into()));
    env.push(("NO_COLOR".into(), "1".into()));
    let mut console = Console::spawn(&["tools"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(sign_in_url(&screen).is_none(), "no sign-in:\n{screen}");
    assert!(screen.contains("access token refreshed"), "{screen}");
    assert!(screen.contains("get_random_number"), "{screen}");
    let (second_access, second_refresh) = cached_tokens(&home, &stack.idp.issuer());
    assert_ne!(first_access, second_access, "a new access token");
    assert_ne!(
        first_refresh, second_refresh,
        "the rotated refresh token is kept"
    );
    assert!(!screen.contains(&second_access) && !screen.contains(&second_refresh));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_from_the_401_alone_with_dynamic_registration() {
    let stack = Stack::start().await;
    let home = stack.home("discovered");
    // Only the server's URL: no authority, no client id, no scope.
    let env = stack.discovery_env(&home);
    let mut console = Console::spawn(
        &[
            "call",
            "tools",
            "get_random_number",
            "min=2",
            "max=2",
            "--yes",
            "--json",
        ],
        &env,
    );
    let url = sign_in_as(&console, "bob").await;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert!(
        query["client_id"].starts_with("dyn-"),
        "a dynamically registered client: {query:?}"
    );
    assert!(
        query["scope"].split(' ').any(|s| s == common::SCOPE),
        "the scope from the server's metadata: {query:?}"
    );
    assert!(
        url.as_str()
            .starts_with(&stack.idp.issuer().replace("/v2.0", ""))
    );
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\"text\": \"2\""), "{screen}");

    // The next command reuses the cached grant: no sign-in, no registration.
    let mut console = Console::spawn(&["tools", "--json"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(sign_in_url(&screen).is_none(), "{screen}");
    assert!(
        screen.contains("\"tool\": \"get_random_number\""),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_answer_is_refused_and_a_cancelled_sign_in_exits_3() {
    let stack = Stack::start().await;
    let home = stack.home("cancel");
    let env = stack.configured_env(&home);
    let mut console = Console::spawn(&["tools"], &env);
    let screen = console.expect("/oauth2/v2.0/authorize?", WAIT).await;
    let url = sign_in_url(&screen).expect("the sign-in URL");
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("a redirect URI");

    // An answer with another state (a forged link): refused, and the console keeps waiting.
    let forged = url::Url::parse(&format!("{redirect}?code=forged&state=forged")).unwrap();
    let (status, page) = follow(&forged).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{page}");
    // The user cancels on the IdP's page: the provider's error ends the sign-in.
    let callback = submit_sign_in(&url, ("action", "cancel")).await;
    let (status, page) = follow(&callback).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("access_denied"), "{page}");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("sign-in failed"), "{screen}");
    assert!(screen.contains("access_denied"), "{screen}");
    assert!(!home.join("tokens.bin").exists(), "nothing cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_from_another_issuer_is_refused() {
    let stack = Stack::start().await;
    let home = stack.home("mixup");
    let env = stack.configured_env(&home);
    let mut console = Console::spawn(&["login"], &env);
    let screen = console.expect("/oauth2/v2.0/authorize?", WAIT).await;
    let url = sign_in_url(&screen).expect("the sign-in URL");
    let mut callback = submit_sign_in(&url, ("user", "alice")).await;
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://attacker.example.com".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, page) = follow(&callback).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{page}");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("RFC 9207"), "{screen}");
    assert!(!home.join("tokens.bin").exists(), "nothing cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_servers_one_that_is_down_is_reported_and_the_others_listed() {
    let stack = Stack::start().await;
    let home = stack.home("several");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut env = stack.configured_env(&home);
    env.retain(|(k, _)| k != "APP_MCP_SERVERS");
    // `down` has no scope configured, so the console must ask it for its metadata, and cannot.
    env.push((
        "APP_MCP_SERVERS".into(),
        format!(
            "tools={} {}, down=http://{closed}/mcp",
            stack.mcp,
            common::SCOPE
        ),
    ));
    let mut console = Console::spawn(&["tools"], &env);
    sign_in_as(&console, "alice").await;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 4, "{screen}");
    assert!(screen.contains("down: "), "{screen}");
    assert!(screen.contains("unreachable"), "{screen}");
    assert!(screen.contains("get_random_number"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_exits_4_and_help_documents_everything() {
    let home = tempfile::tempdir().unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut env = common::base_env(home.path());
    env.push((
        "APP_MCP_SERVERS".into(),
        format!("tools=http://{closed}/mcp api://portcullis-mcp/mcp:tools"),
    ));
    let mut console = Console::spawn(&["tools"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 4, "{screen}");
    assert!(screen.contains("unreachable"), "{screen}");

    let mut console = Console::spawn(&["--help"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    for needle in [
        "login",
        "logout",
        "tools",
        "call",
        "--yes",
        "--json",
        "--no-browser",
        "--device",
        "APP_MCP_SERVERS",
        "APP_CONSOLE__CLIENT_ID",
        "Exit codes:",
        "5  the call was declined",
    ] {
        assert!(screen.contains(needle), "{needle} missing:\n{screen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_sign_in_for_ssh_sessions_lists_tools_and_is_cached() {
    let stack = Stack::start().await;
    let home = stack.home("device");
    let env = stack.configured_env(&home);

    // `--device tools`: a page and a code to enter elsewhere, no browser URL, then the listing.
    let mut console = Console::spawn(&["--device", "tools"], &env);
    let url = device_sign_in_as(&console, "bob").await;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    let user_code = url
        .query_pairs()
        .find(|(k, _)| k == "user_code")
        .map(|(_, v)| v.into_owned())
        .expect("the code in the page's URL");
    assert!(
        screen.contains(&format!("enter the code {user_code}")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("open {}", url.as_str().split('?').next().unwrap())),
        "the plain verification page too:\n{screen}"
    );
    assert!(
        sign_in_url(&screen).is_none(),
        "no browser sign-in:\n{screen}"
    );
    assert!(screen.contains("Signed in to"), "{screen}");
    assert!(screen.contains("as Bob Jones"), "{screen}");
    assert!(screen.contains("get_random_number"), "{screen}");

    // The same encrypted cache as the browser flow: bob's grant, with a refresh token, no token text.
    let (access, refresh) = cached_tokens(&home, &stack.idp.issuer());
    let cache = TokenCache::open(&Home::at(&home), KeyStoreChoice::File).expect("the cache opens");
    let grant = cache.grant(&stack.idp.issuer()).expect("a grant");
    assert_eq!(grant.identity.name, "Bob Jones");
    assert_eq!(grant.client_id, common::CLIENT_ID);
    let file = std::fs::read(home.join("tokens.bin")).expect("the cache file");
    for secret in [access.as_str(), refresh.as_str()] {
        assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    assert!(!screen.contains(&access) && !screen.contains(&refresh));

    // A second run, device mode or not, uses the cache: no code, no URL.
    for args in [&["--device", "tools"][..], &["tools", "--json"][..]] {
        let mut console = Console::spawn(args, &env);
        let (code, screen) = console.finish(WAIT).await;
        assert_eq!(code, 0, "{screen}");
        assert!(device_url(&screen).is_none(), "{screen}");
        assert!(sign_in_url(&screen).is_none(), "{screen}");
        assert!(screen.contains("get_random_number"), "{screen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_device_sign_in_exits_3_and_caches_nothing() {
    let stack = Stack::start().await;
    let home = stack.home("device-cancel");
    let env = stack.configured_env(&home);
    let mut console = Console::spawn(&["login", "--device"], &env);
    let screen = console.expect("Ctrl-C to give up", WAIT).await;
    let url = device_url(&screen).expect("the device page");
    let page = complete_device_sign_in(&url, "alice", "cancel").await;
    assert!(page.contains("Nothing was granted"), "{page}");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("sign-in declined"), "{screen}");
    assert!(screen.contains("access_denied"), "{screen}");
    assert!(!home.join("tokens.bin").exists(), "nothing cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_sign_in_is_refused_where_the_provider_has_no_device_endpoint() {
    // A provider whose metadata has no device_authorization_endpoint (an OpenID provider without
    // RFC 8628), served over real HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let metadata = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
        "code_challenge_methods_supported": ["S256"],
    });
    let app = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let metadata = metadata.clone();
            async move { axum::Json(metadata) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let home = tempfile::tempdir().unwrap();
    let mut env = common::base_env(home.path());
    env.push((
        "APP_MCP_SERVERS".into(),
        format!("tools=http://127.0.0.1:9/mcp {}", common::SCOPE),
    ));
    env.push(("APP_AUTH__AUTHORITY".into(), issuer.clone()));
    env.push(("APP_CONSOLE__CLIENT_ID".into(), common::CLIENT_ID.into()));
    let mut console = Console::spawn(&["login", "--device"], &env);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 3, "{screen}");
    assert!(
        screen.contains(&format!("{issuer} offers no device sign-in")),
        "{screen}"
    );
    assert!(screen.contains("device_authorization_endpoint"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_known_only_by_its_url_with_device_sign_in_and_dynamic_registration() {
    let stack = Stack::start().await;
    // Another MCP server on a port of its own, under a name the console has never heard of: nothing
    // configured but `partner=<url>` — no authority, no client id, no scope.
    let data = tempfile::tempdir().expect("a folder");
    let partner = dev_stack::mcp::start(
        "127.0.0.1:0".parse().unwrap(),
        &stack.idp,
        data.path(),
        None,
        std::future::pending(),
    )
    .await
    .expect("the partner server serves");
    let home = stack.home("partner");
    let mut env = common::base_env(&home);
    env.push(("APP_MCP_SERVERS".into(), format!("partner={partner}")));

    // Over SSH: the device flow, with a client registered for it (RFC 7591 with the device grant).
    let mut console = Console::spawn(
        &[
            "--device",
            "call",
            "partner",
            "get_random_number",
            "min=4",
            "max=4",
            "--yes",
            "--json",
        ],
        &env,
    );
    let url = device_sign_in_as(&console, "alice").await;
    assert!(
        url.as_str()
            .starts_with(&stack.idp.issuer().replace("/v2.0", "")),
        "the server's authorization server, found through its metadata: {url}"
    );
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\"text\": \"4\""), "{screen}");
    let cache = TokenCache::open(&Home::at(&home), KeyStoreChoice::File).expect("the cache opens");
    let grant = cache.grant(&stack.idp.issuer()).expect("a grant");
    assert!(
        grant.client_id.starts_with("dyn-"),
        "dynamically registered: {}",
        grant.client_id
    );
    assert_eq!(grant.identity.name, "Alice Smith");

    // The browser flow works with the same registration.
    let mut console = Console::spawn(&["login"], &env);
    let url = sign_in_as(&console, "alice").await;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], grant.client_id);
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
}
