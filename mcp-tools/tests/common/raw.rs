//! Raw HTTP requests to the MCP endpoint, for tests that need to see (or break) the wire format:
//! a 2025-11-25 `initialize` and a legacy session opened by hand.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::{Server, http};

/// What a Streamable HTTP client must accept on a POST.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// A 2025-11-25 `initialize` request.
pub fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "raw-test", "version": "1" }
        }
    })
}

/// Posts [`initialize_body`], with `token` as the bearer token when there is one.
pub async fn initialize(server: &Server, token: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .json(&initialize_body());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Opens a legacy session as `token`'s user (`initialize`, then `notifications/initialized`) and
/// returns its id.
pub async fn open_session(server: &Server, token: &str) -> String {
    let response = initialize(server, Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.text().await;
    let response = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(token)
        .json(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    id
}
