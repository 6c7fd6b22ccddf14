//! The model port and its OpenAI-compatible implementation; the transcript and the tool catalog in the
//! model's terms (async-openai's typed messages and tools).

mod client;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools, FunctionCall,
    FunctionObject,
};
use async_trait::async_trait;

pub use client::{MissingSetting, OpenAiModel};

use crate::{
    domain::{Role, Transcript},
    mcp::Catalog,
};

/// A tool call the model asked for, complete.
#[derive(Debug, Clone, Default, PartialEq)]
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

/// A chat model.
#[async_trait]
pub trait ChatModel: Send + Sync + 'static {
    /// The model's next reply. `on_text` receives the text so far while it streams (and an empty string
    /// when an attempt is abandoned, so a retry starts clean).
    async fn complete(
        &self,
        messages: &[ChatCompletionRequestMessage],
        tools: &[ChatCompletionTools],
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ModelReply, ModelError>;
}

/// The catalog as the model's function tools.
pub fn tools(catalog: &Catalog) -> Vec<ChatCompletionTools> {
    catalog
        .tools
        .iter()
        .map(|t| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: t.function_name.clone(),
                    description: Some(t.description.clone()),
                    parameters: Some(serde_json::Value::Object(t.parameters.clone())),
                    strict: None,
                },
            })
        })
        .collect()
}

/// The transcript as chat-completion messages: tool results follow the assistant message that asked;
/// notices are the application's, never the model's.
pub fn history(system_prompt: &str, transcript: &Transcript) -> Vec<ChatCompletionRequestMessage> {
    let mut messages = vec![ChatCompletionRequestMessage::System(
        ChatCompletionRequestSystemMessage::from(system_prompt),
    )];
    for message in &transcript.messages {
        match message.role {
            Role::User => messages.push(ChatCompletionRequestMessage::User(
                ChatCompletionRequestUserMessage::from(message.content.as_str()),
            )),
            Role::Assistant => {
                let calls: Vec<_> = transcript.calls_of(&message.id).collect();
                if calls.is_empty() && message.content.is_empty() {
                    continue;
                }
                messages.push(ChatCompletionRequestMessage::Assistant(
                    ChatCompletionRequestAssistantMessage {
                        content: (!message.content.is_empty())
                            .then(|| message.content.as_str().into()),
                        tool_calls: (!calls.is_empty()).then(|| {
                            calls
                                .iter()
                                .map(|c| {
                                    ChatCompletionMessageToolCalls::Function(
                                        ChatCompletionMessageToolCall {
                                            id: c.model_call_id.clone(),
                                            function: FunctionCall {
                                                name: c.function_name.clone(),
                                                arguments: c.arguments.clone(),
                                            },
                                        },
                                    )
                                })
                                .collect()
                        }),
                        ..Default::default()
                    },
                ));
                for call in calls {
                    messages.push(ChatCompletionRequestMessage::Tool(
                        ChatCompletionRequestToolMessage {
                            content: call.result.as_deref().unwrap_or("(no result)").into(),
                            tool_call_id: call.model_call_id.clone(),
                        },
                    ));
                }
            }
            Role::Notice => {}
        }
    }
    messages
}
