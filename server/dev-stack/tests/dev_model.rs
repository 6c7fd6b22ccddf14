//! The development model over HTTP, driven by async-openai (the client the agent uses): plain answers,
//! tool calls, final answers after tool results, and streaming with tool-call deltas.

use async_openai::{
    Client,
    config::OpenAIConfig,
    types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse},
};
use futures::StreamExt;
use serde_json::{Value, json};

async fn start() -> Client<OpenAIConfig> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, dev_stack::model::router())
            .await
            .unwrap()
    });
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("http://{addr}/v1"))
            .with_api_key("dev"),
    )
}

fn request(messages: Value, stream: bool) -> CreateChatCompletionRequest {
    serde_json::from_value(json!({
        "model": "portcullis-dev",
        "stream": stream,
        "messages": messages,
        "tools": [
            { "type": "function", "function": { "name": "get_random_number", "description": "Random integer",
              "parameters": { "type": "object", "properties": { "min": { "type": "integer" }, "max": { "type": "integer" } },
                              "required": ["min", "max"] } } },
            { "type": "function", "function": { "name": "get_weather", "description": "Weather",
              "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } } },
        ],
    }))
    .unwrap()
}

fn first_message(response: &CreateChatCompletionResponse) -> Value {
    serde_json::to_value(&response.choices[0].message).unwrap()
}

#[tokio::test]
async fn plans_a_tool_call_then_states_the_result() {
    let client = start().await;
    let user = json!({ "role": "user", "content": "give me a random number between -10 and 10" });
    let response = client
        .chat()
        .create(request(json!([user.clone()]), false))
        .await
        .unwrap();
    let message = first_message(&response);
    let call = &message["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_random_number");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({ "min": -10, "max": 10 }));
    assert_eq!(
        serde_json::to_value(response.choices[0].finish_reason).unwrap(),
        "tool_calls"
    );

    let followed =
        json!([user, message, { "role": "tool", "tool_call_id": call["id"], "content": "7" }]);
    let response = client
        .chat()
        .create(request(followed, false))
        .await
        .unwrap();
    assert_eq!(
        first_message(&response)["content"],
        "get_random_number returned: 7"
    );
}

#[tokio::test]
async fn answers_plainly_when_no_tool_fits() {
    let client = start().await;
    let response = client
        .chat()
        .create(request(
            json!([{ "role": "user", "content": "hello there" }]),
            false,
        ))
        .await
        .unwrap();
    let content = first_message(&response)["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        content.contains("development model") && content.contains("not an AI"),
        "{content}"
    );
}

#[tokio::test]
async fn streams_tool_call_deltas_like_the_openai_api() {
    let client = start().await;
    let mut stream = client
        .chat()
        .create_stream(request(
            json!([{ "role": "user", "content": "what is the weather in Lisbon?" }]),
            true,
        ))
        .await
        .unwrap();
    let (mut name, mut arguments, mut finish, mut chunks) = (String::new(), String::new(), None, 0);
    while let Some(chunk) = stream.next().await {
        let chunk = serde_json::to_value(chunk.unwrap()).unwrap();
        chunks += 1;
        let choice = &chunk["choices"][0];
        if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
            name.push_str(calls[0]["function"]["name"].as_str().unwrap_or_default());
            arguments.push_str(
                calls[0]["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default(),
            );
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_owned());
        }
    }
    assert!(chunks > 3, "arguments arrive in pieces");
    assert_eq!(name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({ "city": "Lisbon" })
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}
