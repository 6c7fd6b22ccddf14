//! The chat model through async-openai's streaming chat completions: OpenAI, Azure OpenAI, or any
//! OpenAI-compatible server.
//!
//! Failures: async-openai itself retries 429 and 5xx answers with backoff (honouring `Retry-After`);
//! on top of that a turn is attempted again when the stream stalls past the timeout, breaks, or ends
//! without a finish reason. A reply is only used once its stream finished: a cut-off tool call is never
//! returned, so it can never run.

use std::time::Duration;

use async_openai::{
    Client,
    config::{AzureConfig, Config, OpenAIConfig},
    error::OpenAIError,
    types::chat::{
        ChatCompletionRequestMessage, ChatCompletionTools, CreateChatCompletionRequest,
        CreateChatCompletionStreamResponse,
    },
};
use async_trait::async_trait;
use futures::StreamExt;
use secrecy::ExposeSecret;
use url::Url;

use super::{ChatModel, ModelError, ModelReply, ProposedCall};
use crate::settings::{ModelSettings, Provider};

/// A setting the chosen provider needs is missing (front-ends name it their way, e.g. `APP_MODEL__…`).
#[derive(Debug, thiserror::Error)]
#[error("{setting} is required with provider {provider}")]
pub struct MissingSetting {
    pub setting: &'static str,
    pub provider: &'static str,
}

/// Most tool calls one reply may carry.
const MAX_CALLS: u32 = 64;

enum AttemptError {
    /// Worth another attempt (stall, broken or cut-off stream, connection failure).
    Retry(String),
    Fatal(String),
}

/// An OpenAI-compatible model.
pub struct OpenAiModel {
    client: Client<Box<dyn Config>>,
    model: String,
    idle_timeout: Duration,
    max_attempts: u32,
}

impl OpenAiModel {
    /// From settings; `fallback_base_url` is used when none is configured (a development model).
    pub fn new(
        settings: &ModelSettings,
        fallback_base_url: Option<&Url>,
    ) -> Result<Self, MissingSetting> {
        let key = settings
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default();
        let provider = settings.provider.unwrap_or(Provider::Compatible);
        let config: Box<dyn Config> = match provider {
            Provider::Azure => {
                let endpoint = settings.base_url.as_ref().ok_or(MissingSetting {
                    setting: "base_url",
                    provider: "azure",
                })?;
                let deployment = settings.deployment.clone().ok_or(MissingSetting {
                    setting: "deployment",
                    provider: "azure",
                })?;
                Box::new(
                    AzureConfig::new()
                        .with_api_base(endpoint.as_str().trim_end_matches('/'))
                        .with_deployment_id(deployment)
                        .with_api_version(settings.api_version.clone())
                        .with_api_key(key),
                )
            }
            Provider::Openai | Provider::Compatible => {
                let base = match (&settings.base_url, provider, fallback_base_url) {
                    (Some(base), _, _) => base.as_str().to_owned(),
                    (None, Provider::Openai, _) => "https://api.openai.com/v1".to_owned(),
                    (None, _, Some(fallback)) => fallback.as_str().to_owned(),
                    (None, _, None) => {
                        return Err(MissingSetting {
                            setting: "base_url",
                            provider: "compatible",
                        });
                    }
                };
                Box::new(
                    OpenAIConfig::new()
                        .with_api_base(base.trim_end_matches('/'))
                        .with_api_key(key),
                )
            }
        };
        Ok(Self {
            client: Client::with_config(config),
            model: settings.model.clone(),
            idle_timeout: settings.timeout.max(Duration::from_secs(1)),
            max_attempts: settings.max_attempts.max(1),
        })
    }

    async fn attempt(
        &self,
        messages: &[ChatCompletionRequestMessage],
        tools: &[ChatCompletionTools],
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ModelReply, AttemptError> {
        let request = CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: messages.to_vec(),
            stream: Some(true),
            tools: (!tools.is_empty()).then(|| tools.to_vec()),
            ..Default::default()
        };
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
        let mut reply = Assembly::default();
        loop {
            match tokio::time::timeout(self.idle_timeout, stream.next()).await {
                Err(_) => return Err(AttemptError::Retry("the reply stalled".to_owned())),
                Ok(None) => break,
                Ok(Some(Err(error))) => return Err(classify(&error)),
                Ok(Some(Ok(chunk))) => reply.add(&chunk, on_text)?,
            }
        }
        reply.finish()
    }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    async fn complete(
        &self,
        messages: &[ChatCompletionRequestMessage],
        tools: &[ChatCompletionTools],
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
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
}

/// A reply being assembled from stream chunks: text appended, tool calls arriving as deltas keyed by
/// index (id and name first, arguments in pieces).
#[derive(Default)]
struct Assembly {
    text: String,
    calls: Vec<ProposedCall>,
    finished: bool,
}

impl Assembly {
    fn add(
        &mut self,
        chunk: &CreateChatCompletionStreamResponse,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<(), AttemptError> {
        let Some(choice) = chunk.choices.first() else {
            return Ok(());
        };
        if let Some(piece) = choice.delta.content.as_deref()
            && !piece.is_empty()
        {
            self.text.push_str(piece);
            on_text(&self.text);
        }
        for delta in choice.delta.tool_calls.iter().flatten() {
            if delta.index > MAX_CALLS {
                return Err(AttemptError::Fatal(
                    "The model sent too many tool calls.".to_owned(),
                ));
            }
            let index = delta.index as usize;
            if self.calls.len() <= index {
                self.calls.resize_with(index + 1, ProposedCall::default);
            }
            let call = &mut self.calls[index];
            if let Some(id) = &delta.id {
                call.id.clone_from(id);
            }
            if let Some(function) = &delta.function {
                call.name
                    .push_str(function.name.as_deref().unwrap_or_default());
                call.arguments
                    .push_str(function.arguments.as_deref().unwrap_or_default());
            }
        }
        if choice.finish_reason.is_some() {
            self.finished = true;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ModelReply, AttemptError> {
        if !self.finished {
            return Err(AttemptError::Retry("the reply was cut off".to_owned()));
        }
        for (index, call) in self.calls.iter_mut().enumerate() {
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
        Ok(ModelReply {
            text: self.text,
            calls: self.calls,
        })
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
