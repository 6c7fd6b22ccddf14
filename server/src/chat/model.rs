//! The chat model, through async-openai's streaming chat completions: OpenAI, Azure OpenAI, or any
//! OpenAI-compatible server (the dev model by default).
//!
//! Failures: async-openai itself retries 429 and 5xx answers with backoff (honouring `Retry-After`);
//! on top of that a turn is attempted again when the stream stalls past the timeout, breaks, or ends
//! without a finish reason. A reply is only used once its stream finished: a cut-off tool call is never
//! returned, so it can never run.

use std::time::Duration;

use anyhow::Context;
use async_openai::{
    Client,
    config::{AzureConfig, Config, OpenAIConfig},
    error::OpenAIError,
    types::chat::CreateChatCompletionRequest,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::config::{ModelConfig, ModelProvider};

/// A tool call the model asked for, complete.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    pub id: String,
    pub name: String,
    /// Exactly as the model sent them (JSON text).
    pub arguments: String,
}

/// One finished model reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelReply {
    pub text: String,
    pub calls: Vec<ProposedCall>,
}

/// The model could not answer; the message is safe to show in the chat.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(pub String);

enum AttemptError {
    /// Worth another attempt (stall, broken or cut-off stream, connection failure).
    Retry(String),
    Fatal(String),
}

pub struct ModelClient {
    client: Client<Box<dyn Config>>,
    model: String,
    idle_timeout: Duration,
    max_attempts: u32,
}

impl ModelClient {
    /// From configuration; `dev_base_url` is the development model's when none is configured.
    pub fn new(config: &ModelConfig, dev_base_url: Option<&str>) -> anyhow::Result<Self> {
        let key = config.api_key.clone().unwrap_or_default();
        let provider = config.provider.unwrap_or(ModelProvider::Compatible);
        let boxed: Box<dyn Config> = match provider {
            ModelProvider::Azure => {
                let endpoint = config
                    .base_url
                    .clone()
                    .context("APP_MODEL__BASE_URL (the Azure OpenAI endpoint) is required with APP_MODEL__PROVIDER=azure")?;
                let deployment = config
                    .deployment
                    .clone()
                    .context("APP_MODEL__DEPLOYMENT is required with APP_MODEL__PROVIDER=azure")?;
                Box::new(
                    AzureConfig::new()
                        .with_api_base(endpoint)
                        .with_deployment_id(deployment)
                        .with_api_version(config.api_version.clone())
                        .with_api_key(key),
                )
            }
            ModelProvider::Openai | ModelProvider::Compatible => {
                let base = match (&config.base_url, provider, dev_base_url) {
                    (Some(base), _, _) => base.clone(),
                    (None, ModelProvider::Openai, _) => "https://api.openai.com/v1".to_owned(),
                    (None, _, Some(dev)) => dev.to_owned(),
                    (None, _, None) => anyhow::bail!(
                        "APP_MODEL__BASE_URL is required with APP_MODEL__PROVIDER=compatible"
                    ),
                };
                url::Url::parse(&base).context("APP_MODEL__BASE_URL: not a URL")?;
                Box::new(OpenAIConfig::new().with_api_base(base).with_api_key(key))
            }
        };
        Ok(Self {
            client: Client::with_config(boxed),
            model: config.model.clone(),
            idle_timeout: Duration::from_secs(config.timeout_secs.max(1)),
            max_attempts: config.max_attempts.max(1),
        })
    }

    /// Asks the model for its next reply. `on_text` receives the text so far while it streams (and an
    /// empty string when an attempt is abandoned, so a retry starts clean).
    pub async fn complete(
        &self,
        messages: &[Value],
        tools: &[Value],
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelReply, ModelError> {
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            match self.attempt(messages, tools, on_text).await {
                Ok(reply) => return Ok(reply),
                Err(AttemptError::Fatal(message)) => return Err(ModelError(message)),
                Err(AttemptError::Retry(message)) => {
                    tracing::warn!(attempt, reason = %message, "model attempt failed");
                    on_text("");
                    last = message;
                    if attempt < self.max_attempts {
                        tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    }
                }
            }
        }
        Err(ModelError(format!(
            "The model did not answer ({last}, {} attempts).",
            self.max_attempts
        )))
    }

    async fn attempt(
        &self,
        messages: &[Value],
        tools: &[Value],
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelReply, AttemptError> {
        let mut body = json!({ "model": self.model, "messages": messages, "stream": true });
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools.to_vec());
        }
        let request: CreateChatCompletionRequest = serde_json::from_value(body)
            .map_err(|e| AttemptError::Fatal(format!("Could not build the model request: {e}.")))?;
        let mut stream = match tokio::time::timeout(
            self.idle_timeout,
            self.client.chat().create_stream(request),
        )
        .await
        {
            Err(_) => return Err(AttemptError::Retry("no answer in time".to_owned())),
            Ok(Err(error)) => return Err(classify(&error)),
            Ok(Ok(stream)) => stream,
        };
        let mut text = String::new();
        // Tool calls arrive as deltas keyed by index: id and name first, arguments in pieces.
        let mut calls: Vec<ProposedCall> = Vec::new();
        let mut finished = false;
        loop {
            let next = match tokio::time::timeout(self.idle_timeout, stream.next()).await {
                Err(_) => return Err(AttemptError::Retry("the reply stalled".to_owned())),
                Ok(None) => break,
                Ok(Some(Err(error))) => return Err(classify(&error)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let chunk = serde_json::to_value(&next).unwrap_or_default();
            let Some(choice) = chunk["choices"].get(0) else {
                continue;
            };
            if let Some(piece) = choice["delta"]["content"].as_str()
                && !piece.is_empty()
            {
                text.push_str(piece);
                on_text(&text);
            }
            for delta in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = delta["index"].as_u64().unwrap_or(0) as usize;
                if index > 64 {
                    return Err(AttemptError::Fatal(
                        "The model sent too many tool calls.".to_owned(),
                    ));
                }
                while calls.len() <= index {
                    calls.push(ProposedCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let call = &mut calls[index];
                if let Some(id) = delta["id"].as_str() {
                    call.id = id.to_owned();
                }
                if let Some(name) = delta["function"]["name"].as_str() {
                    call.name.push_str(name);
                }
                if let Some(arguments) = delta["function"]["arguments"].as_str() {
                    call.arguments.push_str(arguments);
                }
            }
            if choice["finish_reason"].is_string() {
                finished = true;
            }
        }
        if !finished {
            return Err(AttemptError::Retry("the reply was cut off".to_owned()));
        }
        for (index, call) in calls.iter_mut().enumerate() {
            if call.name.is_empty() {
                return Err(AttemptError::Retry("a tool call without a name".to_owned()));
            }
            if call.id.is_empty() {
                call.id = format!("call_{index}");
            }
            if call.arguments.trim().is_empty() {
                call.arguments = "{}".to_owned();
            }
        }
        Ok(ModelReply { text, calls })
    }
}

fn classify(error: &OpenAIError) -> AttemptError {
    match error {
        OpenAIError::ApiError(api) => AttemptError::Fatal(format!(
            "The model service answered HTTP {}.",
            api.status_code.as_u16()
        )),
        OpenAIError::Reqwest(_) => {
            AttemptError::Retry("the model service could not be reached".to_owned())
        }
        OpenAIError::StreamError(_) => AttemptError::Retry("the reply stream broke".to_owned()),
        OpenAIError::JSONDeserialize(..) => AttemptError::Retry("an unreadable reply".to_owned()),
        _ => AttemptError::Fatal("The model request failed.".to_owned()),
    }
}
