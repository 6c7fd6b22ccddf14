//! The development model: a deterministic OpenAI-compatible `/v1/chat/completions` endpoint.
//!
//! It is a development stand-in, not an AI. It reads the tools offered in the request and maps the
//! user's last message onto one of them by keywords in the tool's name, with simple argument extraction
//! from the tool's JSON schema: integers and numbers in order ("between -10 and 10"), a city after
//! "in", an IANA time zone (`Area/City`), quoted text. After tool results it writes a final message that
//! states them. It answers plainly when no tool fits. `stream: true` produces Server-Sent Events with
//! content and tool-call deltas as the OpenAI API does.
//!
//! Rooms: `plan` (the policy), `arguments` (filling a tool's parameters), `wire` (the reply in
//! async-openai's typed response and chunk types); this file serves them.

mod arguments;
mod plan;
mod wire;

use std::future::Future;

use anyhow::Context;
use async_openai::types::chat::CreateChatCompletionRequest;
use axum::{
    Json, Router,
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Serialize;
use service_kit::serve;
use url::Url;

pub use plan::{Reply, plan};

use crate::ModelConfig;

pub fn router() -> Router {
    Router::new().route("/v1/chat/completions", post(completions))
}

/// Binds `config.bind` (loopback only) and serves the model until `shutdown`; returns its base URL
/// (`http://…/v1`).
pub async fn start(
    config: &ModelConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Url> {
    let bind = config.bind;
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_MODEL__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev model on APP_DEV_MODEL__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve::serve(
        listener,
        router(),
        serve::IDLE_TIMEOUT,
        shutdown,
    ));
    Url::parse(&format!("http://{addr}/v1")).context("the dev model's URL")
}

/// OpenAI's error shape.
#[derive(Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize)]
struct ErrorDetail {
    message: String,
    r#type: &'static str,
}

fn bad_request(message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            message,
            r#type: "invalid_request_error",
        },
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn completions(body: Bytes) -> Response {
    // Parsed here rather than by the `Json` extractor so a bad request gets OpenAI's error shape.
    let request: CreateChatCompletionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("not a chat completion request: {error}")),
    };
    let reply = plan(
        &request.messages,
        request.tools.as_deref().unwrap_or_default(),
    );
    let envelope = wire::Envelope {
        id: wire::next_id("chatcmpl-dev"),
        created: u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX),
        model: request.model,
    };
    if request.stream == Some(true) {
        return wire::stream(envelope, reply).into_response();
    }
    Json(wire::complete(envelope, reply)).into_response()
}
