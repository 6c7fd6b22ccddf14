//! The reply in OpenAI's wire format, with async-openai's typed response and stream-chunk types: one
//! `chat.completion`, or `chat.completion.chunk` events (role, content pieces or tool-call deltas with
//! the name first and then the arguments in pieces, the finish reason, then `[DONE]`).

use std::{
    convert::Infallible,
    sync::atomic::{AtomicU64, Ordering},
};

#[allow(deprecated)]
// The deprecated `function_call` fields must still be written (as absent).
use async_openai::types::chat::{
    ChatChoice, ChatChoiceStream, ChatCompletionMessageToolCall,
    ChatCompletionMessageToolCallChunk, ChatCompletionMessageToolCalls,
    ChatCompletionResponseMessage, ChatCompletionStreamResponseDelta, CompletionUsage,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FinishReason, FunctionCall,
    FunctionCallStream, FunctionType, Role,
};
use axum::response::sse::{Event, Sse};

use super::plan::Reply;

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_id(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What every response of one request shares.
pub(super) struct Envelope {
    pub id: String,
    pub created: u32,
    pub model: String,
}

/// The whole reply at once (`stream` false or absent).
#[allow(deprecated)]
pub(super) fn complete(envelope: Envelope, reply: Reply) -> CreateChatCompletionResponse {
    let (message, finish) = match reply {
        Reply::Text(text) => (
            ChatCompletionResponseMessage {
                role: Role::Assistant,
                content: Some(text),
                ..Default::default()
            },
            FinishReason::Stop,
        ),
        Reply::ToolCall { name, arguments } => (
            ChatCompletionResponseMessage {
                role: Role::Assistant,
                tool_calls: Some(vec![ChatCompletionMessageToolCalls::Function(
                    ChatCompletionMessageToolCall {
                        id: next_id("call"),
                        function: FunctionCall {
                            name,
                            arguments: arguments.to_string(),
                        },
                    },
                )]),
                ..Default::default()
            },
            FinishReason::ToolCalls,
        ),
    };
    CreateChatCompletionResponse {
        id: envelope.id,
        object: "chat.completion".to_owned(),
        created: envelope.created,
        model: envelope.model,
        choices: vec![ChatChoice {
            index: 0,
            message,
            finish_reason: Some(finish),
            logprobs: None,
        }],
        usage: Some(CompletionUsage::default()),
        ..Default::default()
    }
}

fn chunk(
    envelope: &Envelope,
    delta: ChatCompletionStreamResponseDelta,
    finish_reason: Option<FinishReason>,
) -> CreateChatCompletionStreamResponse {
    CreateChatCompletionStreamResponse {
        id: envelope.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: envelope.created,
        model: envelope.model.clone(),
        choices: vec![ChatChoiceStream {
            index: 0,
            delta,
            finish_reason,
            logprobs: None,
        }],
        ..Default::default()
    }
}

fn content(text: String) -> ChatCompletionStreamResponseDelta {
    ChatCompletionStreamResponseDelta {
        content: Some(text),
        ..Default::default()
    }
}

fn tool_call(call: ChatCompletionMessageToolCallChunk) -> ChatCompletionStreamResponseDelta {
    ChatCompletionStreamResponseDelta {
        tool_calls: Some(vec![call]),
        ..Default::default()
    }
}

/// The chunks of a reply, in order.
pub(super) fn chunks(envelope: &Envelope, reply: Reply) -> Vec<CreateChatCompletionStreamResponse> {
    let opening = ChatCompletionStreamResponseDelta {
        role: Some(Role::Assistant),
        content: Some(String::new()),
        ..Default::default()
    };
    let mut chunks = vec![chunk(envelope, opening, None)];
    let finish = match reply {
        Reply::Text(text) => {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            for piece in words.chunks(3) {
                chunks.push(chunk(envelope, content(piece.concat()), None));
            }
            FinishReason::Stop
        }
        Reply::ToolCall { name, arguments } => {
            let named = ChatCompletionMessageToolCallChunk {
                index: 0,
                id: Some(next_id("call")),
                r#type: Some(FunctionType::Function),
                function: Some(FunctionCallStream {
                    name: Some(name),
                    arguments: Some(String::new()),
                }),
            };
            chunks.push(chunk(envelope, tool_call(named), None));
            // Pieces of eight characters (never splitting one), as a real model streams JSON.
            let arguments: Vec<char> = arguments.to_string().chars().collect();
            for piece in arguments.chunks(8) {
                let delta = ChatCompletionMessageToolCallChunk {
                    index: 0,
                    function: Some(FunctionCallStream {
                        name: None,
                        arguments: Some(piece.iter().collect()),
                    }),
                    ..Default::default()
                };
                chunks.push(chunk(envelope, tool_call(delta), None));
            }
            FinishReason::ToolCalls
        }
    };
    chunks.push(chunk(envelope, Default::default(), Some(finish)));
    chunks
}

/// The reply as Server-Sent Events, ending with `[DONE]`.
pub(super) fn stream(
    envelope: Envelope,
    reply: Reply,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let events = chunks(&envelope, reply)
        .into_iter()
        .map(|chunk| {
            Event::default()
                .json_data(chunk)
                .or_else(|_| Ok(Event::default().comment("unserialisable chunk")))
        })
        .chain(std::iter::once(Ok(Event::default().data("[DONE]"))));
    Sse::new(futures::stream::iter(events))
}
