//! JSON-RPC error codes over raw HTTP: what a malformed body gets (parse error, batch, invalid request,
//! invalid params) in both protocol generations, and that the HTTP guards still answer first.

mod common;

use std::time::Duration;

use common::{
    Server, http,
    raw::{ACCEPT, open_session},
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// What came back: the status, the `Content-Type` and the JSON-RPC message (from a JSON body or from
/// the first SSE event that carries one).
struct Answer {
    status: StatusCode,
    content_type: String,
    message: Value,
}

impl Answer {
    fn code(&self) -> i64 {
        self.message["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{}: no JSON-RPC error in {}", self.status, self.message))
    }

    fn error_message(&self) -> &str {
        self.message["error"]["message"].as_str().unwrap_or("")
    }
}

async fn post(server: &Server, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Answer {
    let mut request = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .bearer_auth(server.issuer.token("alice"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("a complete body")
        .unwrap();
    let message = if content_type.starts_with("text/event-stream") {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        content_type,
        message,
    }
}

/// Opens a 2025-11-25 session as alice and returns its headers.
async fn legacy_session(server: &Server) -> [(&'static str, String); 2] {
    let id = open_session(server, &server.issuer.token("alice")).await;
    [
        ("mcp-session-id", id),
        ("mcp-protocol-version", "2025-11-25".to_owned()),
    ]
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// A 2026-07-28 (stateless) request: the version travels in `_meta` and in a header, the method (and
/// a tool call's tool name) in the standard headers gateways route on.
async fn post_stateless(server: &Server, id: i64, method: &str, mut params: Value) -> Answer {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "raw-test", "version": "1" }
    });
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if let Some(name) = params["name"].as_str() {
        headers.push(("mcp-name", name));
    }
    post(server, &headers, body.to_string()).await
}

/// A tool call with bad `params` (in the `generation` named): a 200 carrying a JSON-RPC invalid params
/// error for request `id`.
fn assert_invalid_params(answer: &Answer, generation: &str, params: &Value, id: i64) {
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{params}: {}",
        answer.message
    );
    assert_eq!(
        answer.code(),
        INVALID_PARAMS,
        "{generation} {params}: {}",
        answer.message
    );
    assert_eq!(answer.message["id"], id);
}

#[tokio::test]
async fn bodies_that_are_not_one_json_rpc_message_get_400_and_the_right_code() {
    let server = Server::start().await;
    // (body, code, id echoed back)
    let cases: [(&str, i64, Value); 17] = [
        ("not json", PARSE_ERROR, Value::Null),
        ("", PARSE_ERROR, Value::Null),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list""#,
            PARSE_ERROR,
            Value::Null,
        ),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
            INVALID_REQUEST,
            Value::Null,
        ),
        ("[]", INVALID_REQUEST, Value::Null),
        ("42", INVALID_REQUEST, Value::Null),
        ("null", INVALID_REQUEST, Value::Null),
        (
            r#"{"jsonrpc":"1.0","id":3,"method":"tools/list"}"#,
            INVALID_REQUEST,
            json!(3),
        ),
        (
            r#"{"id":"a","method":"tools/list"}"#,
            INVALID_REQUEST,
            json!("a"),
        ),
        (r#"{"jsonrpc":"2.0","id":4}"#, INVALID_REQUEST, json!(4)),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":42}"#,
            INVALID_REQUEST,
            json!(5),
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#,
            INVALID_REQUEST,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"n":6},"method":"tools/list"}"#,
            INVALID_REQUEST,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","result":{}}"#,
            INVALID_REQUEST,
            json!(7),
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":[1,6]}"#,
            INVALID_PARAMS,
            json!(8),
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":"all"}"#,
            INVALID_PARAMS,
            json!(9),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":7}"#,
            INVALID_PARAMS,
            Value::Null,
        ),
    ];
    for (body, code, id) in cases {
        let answer = post(&server, &[], body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.content_type, "application/json", "{body}");
        assert_eq!(answer.message["jsonrpc"], "2.0", "{body}");
        assert_eq!(answer.code(), code, "{body}: {}", answer.message);
        assert_eq!(answer.message["id"], id, "{body}: {}", answer.message);
        assert!(!answer.error_message().is_empty(), "{body}");
    }
    for batch in ["[]", r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#] {
        let answer = post(&server, &[], batch).await;
        assert!(
            answer.error_message().contains("batch"),
            "{batch}: {}",
            answer.message
        );
    }
}

#[tokio::test]
async fn malformed_tool_call_params_are_invalid_params_in_both_generations() {
    let server = Server::start().await;
    let session = legacy_session(&server).await;
    let session = borrowed(&session);
    let bad_params = [
        json!({ "name": "get_random_number", "arguments": [1, 6] }),
        json!({ "name": "get_random_number", "arguments": "min=1 max=6" }),
        json!({ "arguments": { "min": 1, "max": 6 } }),
        json!({ "name": 42 }),
    ];
    for (n, params) in bad_params.iter().enumerate() {
        let id = 10 + n as i64;
        let legacy =
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params });
        let answer = post(&server, &session, legacy.to_string()).await;
        assert_invalid_params(&answer, "legacy", params, id);

        let answer = post_stateless(&server, id, "tools/call", params.clone()).await;
        assert_invalid_params(&answer, "stateless", params, id);
    }
    // A request with no params where params are required.
    let legacy = json!({ "jsonrpc": "2.0", "id": 20, "method": "tools/call" });
    let answer = post(&server, &session, legacy.to_string()).await;
    assert_eq!(answer.code(), INVALID_PARAMS, "{}", answer.message);

    // An unknown method is still "method not found", and the session still works afterwards.
    let unknown = json!({ "jsonrpc": "2.0", "id": 21, "method": "tools/frobnicate", "params": {} });
    let answer = post(&server, &session, unknown.to_string()).await;
    assert_eq!(answer.code(), METHOD_NOT_FOUND, "{}", answer.message);
    let answer = post_stateless(&server, 21, "tools/frobnicate", json!({})).await;
    assert_eq!(answer.code(), METHOD_NOT_FOUND, "{}", answer.message);

    let good = json!({ "name": "get_random_number", "arguments": { "min": 6, "max": 6 } });
    let legacy = json!({ "jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": good });
    let answer = post(&server, &session, legacy.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.message["result"]["content"][0]["text"], "6",
        "{}",
        answer.message
    );
    let answer = post_stateless(&server, 23, "tools/call", good).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.message["result"]["content"][0]["text"], "6",
        "{}",
        answer.message
    );
}

#[tokio::test]
async fn guards_authentication_and_limits_answer_before_the_body_is_read() {
    let server = Server::start().await;
    let garbage = || {
        http()
            .post(&server.url)
            .header(header::ACCEPT, ACCEPT)
            .header(header::CONTENT_TYPE, "application/json")
            .body("not json")
    };
    // No token: 401 before any body parsing (the spec's answer to a missing token).
    let response = garbage().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A foreign Origin: 403 before authentication.
    let response = garbage()
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Not JSON by its Content-Type: still 415.
    let response = http()
        .post(&server.url)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "text/plain")
        .bearer_auth(server.issuer.token("alice"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Too large, with a declared length or streamed in chunks: 413, not a parse error.
    let big = "x".repeat(mcp_tools::MAX_BODY_BYTES + 1);
    let answer = post(&server, &[], big.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let chunks = futures::stream::iter(
        big.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let answer = post(&server, &[], reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}
