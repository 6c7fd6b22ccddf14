//! Sessions in PostgreSQL: two web instances (separate data folders, separate processes' worth of
//! state) configured with one `APP_DATABASE_URL` share sessions, as behind a load balancer. A real
//! PostgreSQL server is started for the test (`service_kit::testing::TempPostgres`, Debian's binaries).

use std::time::Duration;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use secrecy::ExposeSecret;
use serde_json::json;
use server::{AppState, config::Config, dev};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use url::Url;

async fn instance(
    extra: serde_json::Value,
) -> (
    axum::Router,
    dev::DevStack,
    tempfile::TempDir,
    CancellationToken,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = json!({
        "data_dir": dir.path(),
        "dev_idp": { "bind": "127.0.0.1:0", "web_redirect_uri": "http://127.0.0.1:3000/auth/callback" },
        "dev_mcp": { "bind": "127.0.0.1:0" },
        "dev_sales": { "bind": "127.0.0.1:0" },
        "dev_model": { "bind": "127.0.0.1:0" },
        "dev_graph": { "bind": "127.0.0.1:0" },
    });
    for (k, v) in extra.as_object().unwrap() {
        raw[k] = v.clone();
    }
    let config: Config = serde_json::from_value(raw).unwrap();
    let stop = CancellationToken::new();
    let dev = dev::start(&config, stop.clone()).await.unwrap();
    let options = LeptosOptions::builder()
        .output_name("portcullis")
        .site_root("target/site")
        .site_addr("127.0.0.1:3000".parse::<std::net::SocketAddr>().unwrap())
        .build();
    let state = AppState::build(config, options, &dev).await.unwrap();
    (server::router(state), dev, dir, stop)
}

async fn get(
    router: &axum::Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Option<String>, Option<String>, String) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("portcullis_session="));
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes())
        .into_owned();
    (status, location, set_cookie, body)
}

#[tokio::test]
async fn two_instances_share_sessions_through_postgresql() {
    let postgres = service_kit::testing::TempPostgres::start();
    // Wait until PostgreSQL accepts connections.
    let mut ready = false;
    for _ in 0..100 {
        if tower_sessions_sqlx_store::sqlx::PgPool::connect(postgres.url())
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "PostgreSQL did not start");

    // The first instance runs the dev stack (IdP, mcp-tools).
    let (first, dev_first, d1, _s1) = instance(json!({ "database_url": postgres.url() })).await;
    // Sign in on the first instance.
    let (status, location, cookie, _) = get(&first, "/auth/login?return_to=/", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    let authorize = Url::parse(&location.unwrap()).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("user".into(), "alice".into()));
    let mut endpoint = authorize.clone();
    endpoint.set_query(None);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let answer = http.post(endpoint).form(&form).send().await.unwrap();
    let callback = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let (status, _, signed_in, _) = get(
        &first,
        &format!("{}?{}", callback.path(), callback.query().unwrap()),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let signed_in = signed_in.unwrap();
    let (_, _, _, body) = get(&first, "/", Some(&signed_in)).await;
    assert!(body.contains("Alice Smith"));

    // A second instance configured like production (an external authority, configured MCP servers, the
    // shared token-cache key), its own data folder, the same database: the session and the user's tokens
    // are there.
    let idp = dev_first.idp.as_ref().unwrap();
    let mcp = &dev_first.mcp[0];
    let key = std::fs::read_to_string(d1.path().join("token-cache.key")).unwrap();
    let (second, dev_second, _d2, _s2) = instance(json!({
        "database_url": postgres.url(),
        "token_cache_key": key.trim(),
        "auth": { "authority": idp.issuer(), "client_id": "portcullis-web", "client_secret": idp.web_client_secret().expose_secret() },
        "mcp_servers": [format!("tools={} {}", mcp.url, mcp.scope)],
    }))
    .await;
    assert!(
        dev_second.idp.is_none() && dev_second.mcp.is_empty(),
        "no dev stand-ins when configured"
    );
    let (_, _, _, body) = get(&second, "/", Some(&signed_in)).await;
    assert!(
        body.contains("Alice Smith"),
        "session shared through PostgreSQL"
    );
    let (_, _, _, tools) = get(&second, "/tools", Some(&signed_in)).await;
    assert!(
        tools.contains("get_random_number"),
        "tokens shared through PostgreSQL: {tools}"
    );

    // The chat's whole store on PostgreSQL: a conversation, a pending call, its approval, the answer,
    // the audit record.
    let created = post_json(
        &second,
        "chat/create",
        &signed_in,
        json!({ "mode": "Manual" }),
    )
    .await;
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post_json(
        &second,
        "chat/send",
        &signed_in,
        json!({ "id": id, "text": "give me a random number between 1 and 6" }),
    )
    .await;
    let pending = wait_for(&second, &signed_in, &id, |v| {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["ToolCall"]["status"] == "Pending")
    })
    .await;
    let call = pending["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.get("ToolCall"))
        .unwrap()
        .clone();
    post_json(
        &second,
        "chat/decide",
        &signed_in,
        json!({ "id": id, "call_id": call["id"], "args_hash": call["args_hash"], "decision": "Approve" }),
    )
    .await;
    let done = wait_for(&second, &signed_in, &id, |v| {
        v["busy"] == false
            && v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.get("Assistant").is_some())
    })
    .await;
    let text = done.to_string();
    assert!(text.contains("get_random_number returned: "), "{text}");
    let audit = post_json(&second, "audit/list", &signed_in, json!({})).await;
    assert!(audit.contains("\"outcome\":\"done\""), "{audit}");
}

async fn post_json(
    router: &axum::Router,
    endpoint: &str,
    cookie: &str,
    body: serde_json::Value,
) -> String {
    let response = router
        .clone()
        .oneshot(
            Request::post(format!("/api/{endpoint}"))
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes())
        .into_owned();
    assert_eq!(status, StatusCode::OK, "{endpoint}: {body}");
    body
}

/// Reads the conversation until `done` holds (this test has no live stream: plain reads suffice).
async fn wait_for(
    router: &axum::Router,
    cookie: &str,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..200 {
        let view: serde_json::Value =
            serde_json::from_str(&post_json(router, "chat/get", cookie, json!({ "id": id })).await)
                .unwrap();
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the conversation never reached the expected state");
}
