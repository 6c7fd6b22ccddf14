//! JSON-RPC answers to bodies that are not one message rmcp can read.
//!
//! rmcp answers every such body with HTTP 415 and a text message, whatever the defect. This layer sits
//! right in front of it (behind the Host/Origin guard, authentication and the session-owner check, so a
//! caller without a token gets 401 before any body is parsed) and, when rmcp says 415 to a body that
//! declared `application/json`, answers HTTP 400 with the JSON-RPC error that names the defect: -32700
//! for a body that is not JSON, -32600 for a batch (removed in 2025-06-18) or an object that is not a
//! JSON-RPC message, -32602 for params that are not an object or do not fit. Bodies rmcp reads are
//! not parsed twice: the diagnosis runs only on rejection.
//!
//! A request for a known method whose params do not fit its type reaches the handler as a "custom"
//! request; `tools::handler` answers those with -32602 rather than "method not found".

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

/// Largest JSON-RPC request body accepted (the HTTP layer refuses a larger declared length early).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Buffers a JSON POST body for rmcp and explains rmcp's refusal of it in JSON-RPC terms.
pub(crate) async fn explain_rejections(request: Request, next: Next) -> Response {
    // Other requests carry no message, or get rmcp's 415 for their Content-Type, which is right.
    if request.method() != Method::POST || !declares_json(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => return unreadable(&error),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    // With the Content-Type right, rmcp's only 415 is "this body is not a message I can read".
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return diagnose(&bytes).into_response();
    }
    response
}

/// The same test rmcp applies: the media type before any parameters.
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let essence = value.split_once(';').map_or(value, |(essence, _)| essence);
            essence.trim().eq_ignore_ascii_case("application/json")
        })
}

/// A body that could not be read: too large (the outer limit stops a streamed body here), or cut off.
fn unreadable(error: &axum::Error) -> Response {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut too_large = false;
    while let Some(current) = cause {
        too_large |= current.is::<http_body_util::LengthLimitError>();
        cause = current.source();
    }
    if too_large {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: request body exceeds {MAX_BODY_BYTES} bytes"),
        )
            .into_response();
    }
    tracing::debug!(%error, "request body could not be read");
    (StatusCode::BAD_REQUEST, "Bad Request: unreadable body").into_response()
}

/// What is wrong with a body, as a JSON-RPC error.
#[derive(Debug, PartialEq)]
struct Rejection {
    code: ErrorCode,
    /// The request's id when it has a usable one; `null` otherwise, as JSON-RPC requires.
    id: Value,
    message: String,
}

impl Rejection {
    fn new(code: ErrorCode, id: Value, message: impl Into<String>) -> Self {
        Self {
            code,
            id,
            message: message.into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        tracing::debug!(code = self.code.0, "malformed JSON-RPC body");
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": { "code": self.code.0, "message": self.message },
        });
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(body.to_string()),
        )
            .into_response()
    }
}

/// Names the first defect of a body rmcp refused, in the order JSON-RPC defines them.
fn diagnose(body: &[u8]) -> Rejection {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return Rejection::new(
                ErrorCode::PARSE_ERROR,
                Value::Null,
                format!("Parse error: {error}"),
            );
        }
    };
    let object = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Rejection::new(
                ErrorCode::INVALID_REQUEST,
                Value::Null,
                "Invalid request: JSON-RPC batches are not supported (removed in MCP 2025-06-18); \
                 send one message per request",
            );
        }
        _ => {
            return Rejection::new(
                ErrorCode::INVALID_REQUEST,
                Value::Null,
                "Invalid request: a JSON-RPC message is an object",
            );
        }
    };
    // Echo only an id a client could have meant; MCP ids are strings or numbers, never null.
    let id = match object.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    let invalid = |message: &str| {
        Rejection::new(
            ErrorCode::INVALID_REQUEST,
            id.clone(),
            format!("Invalid request: {message}"),
        )
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(r#""jsonrpc" must be "2.0""#);
    }
    if object.contains_key("id") && id.is_null() {
        return invalid(r#""id" must be a string or a number"#);
    }
    match object.get("method") {
        None => invalid(r#"a request needs a "method"; a response a "result" or an "error""#),
        Some(Value::String(_)) if object.contains_key("result") || object.contains_key("error") => {
            invalid(r#"a request carries no "result" or "error""#)
        }
        Some(Value::String(_)) => {
            let message = match object.get("params") {
                None | Some(Value::Object(_)) => "Invalid params: they do not fit the method",
                Some(_) => r#"Invalid params: "params" must be an object"#,
            };
            Rejection::new(ErrorCode::INVALID_PARAMS, id, message)
        }
        Some(_) => invalid(r#""method" must be a string"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_id(body: &str) -> (i32, Value) {
        let rejection = diagnose(body.as_bytes());
        (rejection.code.0, rejection.id)
    }

    #[test]
    fn defects_are_named_in_json_rpc_order() {
        assert_eq!(code_and_id("{"), (-32700, Value::Null));
        assert_eq!(code_and_id("[{}]"), (-32600, Value::Null));
        assert!(
            diagnose(b"[]")
                .message
                .contains("batches are not supported")
        );
        assert_eq!(code_and_id("true"), (-32600, Value::Null));
        // A wrong version wins over a wrong method, and a usable id is echoed.
        assert_eq!(
            code_and_id(r#"{"jsonrpc":"1.0","id":"x","method":1}"#),
            (-32600, json!("x"))
        );
        assert_eq!(
            code_and_id(r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#),
            (-32600, Value::Null)
        );
        assert_eq!(
            code_and_id(r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":[]}"#),
            (-32602, json!(2))
        );
        assert_eq!(
            code_and_id(r#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"_meta":1}}"#),
            (-32602, json!(3))
        );
    }

    #[test]
    fn content_type_parameters_and_case_do_not_matter() {
        let mut headers = HeaderMap::new();
        assert!(!declares_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(declares_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!declares_json(&headers));
    }
}
