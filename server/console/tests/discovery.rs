//! Discovery against servers that answer wrongly: a protected-resource document for another resource,
//! and an authorization server that does not advertise PKCE S256. The console refuses both before any
//! browser is involved (a stand-in MCP server and authorization server, served here with axum).

mod common;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use common::{Console, WAIT, sign_in_url};
use serde_json::json;

/// What the stand-in says about itself.
struct Lies {
    base: String,
    /// The `resource` its metadata names.
    resource: String,
    /// Whether its authorization server lists S256.
    s256: bool,
}

async fn mcp(State(lies): State<Arc<Lies>>) -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let challenge = format!(
        r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
        lies.base
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).unwrap(),
    );
    response
}

async fn resource_metadata(State(lies): State<Arc<Lies>>) -> Json<serde_json::Value> {
    Json(json!({
        "resource": lies.resource,
        "authorization_servers": [format!("{}/as", lies.base)],
        "scopes_supported": ["mcp:tools"],
    }))
}

async fn as_metadata(State(lies): State<Arc<Lies>>) -> Json<serde_json::Value> {
    let issuer = format!("{}/as", lies.base);
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
    });
    if lies.s256 {
        metadata["code_challenge_methods_supported"] = json!(["S256"]);
    }
    Json(metadata)
}

/// Serves the stand-in; returns its MCP URL.
async fn serve(resource_is_other: bool, s256: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let lies = Arc::new(Lies {
        resource: if resource_is_other {
            "https://elsewhere.example.com/mcp".to_owned()
        } else {
            format!("{base}/mcp")
        },
        base: base.clone(),
        s256,
    });
    let app = Router::new()
        .route("/mcp", post(mcp))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/as",
            get(as_metadata),
        )
        .with_state(lies);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("{base}/mcp")
}

fn env(home: &std::path::Path, url: &str) -> Vec<(String, String)> {
    let mut env = common::base_env(home);
    env.push(("APP_MCP_SERVERS".into(), format!("tools={url}")));
    env.push(("APP_CONSOLE__CLIENT_ID".into(), "any".into()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_for_another_resource_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let url = serve(true, true).await;
    let mut console = Console::spawn(&["tools"], &env(home.path(), &url));
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 4, "{screen}");
    assert!(
        screen.contains("https://elsewhere.example.com/mcp"),
        "{screen}"
    );
    assert!(sign_in_url(&screen).is_none() && !screen.contains("/authorize?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_server_without_s256_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let url = serve(false, false).await;
    let mut console = Console::spawn(&["tools"], &env(home.path(), &url));
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("does not advertise PKCE S256"), "{screen}");
    assert!(!screen.contains("/authorize?"), "{screen}");

    // The same server advertising S256 gets as far as the sign-in URL.
    let url = serve(false, true).await;
    let console = Console::spawn(&["tools"], &env(home.path(), &url));
    let screen = console.expect("/authorize?", WAIT).await;
    assert!(screen.contains("code_challenge_method=S256"), "{screen}");
}
