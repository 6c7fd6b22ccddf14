//! The MCP surface through a real rmcp client, in every protocol generation the server serves:
//! 2025-06-18 and 2025-11-25 (initialize + sessions + elicitation requests) and 2026-07-28 (stateless,
//! elicitation through input-required results).

mod common;

use std::sync::{Arc, Mutex};

use common::{
    Server, TOOL_NAMES,
    client::{ALL, Confirming, Generation, about_text, call, connect_handler, ok_text, tool_error},
};
use rmcp::{
    ServiceError,
    model::{
        CallToolRequestParams, CallToolResult, ClientRequest, CustomRequest, ElicitationAction,
        ErrorCode, GetPromptRequestParams,
    },
};
use serde_json::{Value, json};

type Client = common::client::Client<Confirming>;

async fn connect(
    server: &Server,
    user: &str,
    generation: Generation,
    answer: Option<ElicitationAction>,
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let token = server.issuer.token(user);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let handler = Confirming {
        answer,
        generation,
        asked: asked.clone(),
    };
    let client = connect_handler(server, token, generation, handler).await;
    let negotiated = client.peer_info().map(|info| info.protocol_version.clone());
    if let Some(negotiated) = negotiated {
        assert_eq!(negotiated, generation.protocol_version(), "{generation:?}");
    }
    (client, asked)
}

fn assert_invalid_params(result: Result<CallToolResult, ServiceError>) {
    match result {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}")
        }
        other => panic!("expected JSON-RPC invalid params, got {other:?}"),
    }
}

#[tokio::test]
async fn every_generation_lists_all_tools_with_truthful_annotations() {
    let server = Server::start().await;
    for generation in ALL {
        let (client, _) = connect(&server, "alice", generation, None).await;
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(names, TOOL_NAMES, "{generation:?}");
        for tool in &tools {
            let annotations = tool.annotations.clone().expect("annotations");
            let read_only = [
                "get_random_number",
                "get_current_date",
                "get_weather",
                "list_notes",
            ]
            .contains(&tool.name.as_ref());
            assert_eq!(annotations.read_only_hint, Some(read_only), "{}", tool.name);
            assert_eq!(
                annotations.destructive_hint,
                Some(tool.name == "delete_note"),
                "{}",
                tool.name
            );
            assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()));
        }
        let random = tools
            .iter()
            .find(|t| t.name == "get_random_number")
            .unwrap();
        let schema = Value::Object((*random.input_schema).clone());
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["min", "max"]));
        assert!(
            schema["properties"]["min"]["description"].is_string(),
            "{schema}"
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn stateless_tools_work_in_every_generation() {
    let server = Server::start().await;
    for generation in ALL {
        let (client, _) = connect(&server, "alice", generation, None).await;
        for _ in 0..20 {
            let n: i64 = ok_text(
                &client,
                "get_random_number",
                json!({ "min": -10, "max": 10 }),
            )
            .await
            .parse()
            .unwrap();
            assert!((-10..=10).contains(&n), "{n}");
        }
        assert_eq!(
            ok_text(&client, "get_random_number", json!({ "min": 7, "max": 7 })).await,
            "7"
        );
        let error = tool_error(&client, "get_random_number", json!({ "min": 5, "max": 1 })).await;
        assert!(error.contains("must not be greater"), "{error}");

        let date = ok_text(
            &client,
            "get_current_date",
            json!({ "time_zone": "Asia/Tokyo" }),
        )
        .await;
        assert!(date.contains("Asia/Tokyo (UTC+09:00)"), "{date}");
        let utc = ok_text(&client, "get_current_date", json!({})).await;
        assert!(utc.contains("UTC"), "{utc}");
        let error = tool_error(
            &client,
            "get_current_date",
            json!({ "time_zone": "Mars/Olympus" }),
        )
        .await;
        assert!(error.contains("Unknown time zone"), "{error}");

        let weather = ok_text(&client, "get_weather", json!({ "city": "Paris" })).await;
        assert!(weather.starts_with("Paris: "), "{weather}");
        assert!(weather.contains("offline demo data"), "{weather}");
        assert_eq!(
            weather,
            ok_text(&client, "get_weather", json!({ "city": "Paris" })).await
        );

        // Malformed arguments are protocol errors, not tool results.
        assert_invalid_params(
            call(
                &client,
                "get_random_number",
                json!({ "min": "low", "max": 3 }),
            )
            .await,
        );
        assert_invalid_params(call(&client, "get_random_number", json!({ "min": 1 })).await);
        assert_invalid_params(
            call(
                &client,
                "get_weather",
                json!({ "city": "Oslo", "extra": 1 }),
            )
            .await,
        );
        assert_invalid_params(call(&client, "no_such_tool", json!({})).await);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn tool_calls_rmcp_cannot_read_are_invalid_params_not_unknown_methods() {
    let server = Server::start().await;
    for generation in ALL {
        let (client, _) = connect(&server, "alice", generation, None).await;
        for params in [
            json!({ "name": "get_random_number", "arguments": [1, 6] }),
            json!({ "name": "get_random_number", "arguments": "1 to 6" }),
        ] {
            let request = CustomRequest::new("tools/call", Some(params.clone()));
            match client
                .send_request(ClientRequest::CustomRequest(request))
                .await
            {
                Err(ServiceError::McpError(error)) => assert_eq!(
                    error.code,
                    ErrorCode::INVALID_PARAMS,
                    "{generation:?} {params}: {error:?}"
                ),
                other => panic!("{generation:?} {params}: invalid params expected, got {other:?}"),
            }
        }
        let unknown = CustomRequest::new("tools/frobnicate", Some(json!({})));
        match client
            .send_request(ClientRequest::CustomRequest(unknown))
            .await
        {
            Err(ServiceError::McpError(error)) => {
                assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND, "{generation:?}")
            }
            other => panic!("{generation:?}: method not found expected, got {other:?}"),
        }
        // The client and its session are unharmed.
        assert_eq!(
            ok_text(&client, "get_random_number", json!({ "min": 4, "max": 4 })).await,
            "4"
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn notes_belong_to_the_token_user_only() {
    let server = Server::start().await;
    for generation in ALL {
        let (alice, _) = connect(
            &server,
            "alice",
            generation,
            Some(ElicitationAction::Accept),
        )
        .await;
        let (bob, bob_asked) =
            connect(&server, "bob", generation, Some(ElicitationAction::Accept)).await;
        let saved = ok_text(&alice, "add_note", json!({ "text": "alice's secret" })).await;
        let id: i64 = saved
            .strip_prefix("Saved note ")
            .and_then(|s| s.split(':').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            ok_text(&alice, "list_notes", json!({}))
                .await
                .contains("alice's secret")
        );
        assert_eq!(
            ok_text(&bob, "list_notes", json!({})).await,
            "You have no notes."
        );
        let error = tool_error(&bob, "delete_note", json!({ "id": id })).await;
        assert!(error.contains(&format!("no note with id {id}")), "{error}");
        assert!(
            bob_asked.lock().unwrap().is_empty(),
            "bob is never asked about alice's note"
        );
        assert!(
            ok_text(&alice, "list_notes", json!({}))
                .await
                .contains("alice's secret")
        );
        assert!(
            tool_error(&alice, "add_note", json!({ "text": "   " }))
                .await
                .contains("needs some text")
        );
        let long = "x".repeat(mcp_tools::notes::MAX_NOTE_CHARS + 1);
        assert!(
            tool_error(&alice, "add_note", json!({ "text": long }))
                .await
                .contains("at most")
        );
        // Clean up for the next generation.
        ok_text(&alice, "delete_note", json!({ "id": id })).await;
        alice.cancel().await.unwrap();
        bob.cancel().await.unwrap();
    }
}

async fn add(client: &Client, text: &str) -> i64 {
    let saved = ok_text(client, "add_note", json!({ "text": text })).await;
    saved["Saved note ".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn delete_note_asks_for_confirmation_in_every_generation() {
    let server = Server::start().await;
    for generation in ALL {
        for (answer, deleted, says) in [
            (ElicitationAction::Accept, true, "Deleted note"),
            (ElicitationAction::Decline, false, "declined"),
            (ElicitationAction::Cancel, false, "cancelled"),
        ] {
            let (client, asked) = connect(&server, "carol", generation, Some(answer.clone())).await;
            let id = add(&client, &format!("{generation:?} {answer:?}")).await;
            let outcome = ok_text(&client, "delete_note", json!({ "id": id })).await;
            assert!(
                outcome.contains(says),
                "{generation:?} {answer:?}: {outcome}"
            );
            let asked = asked.lock().unwrap().clone();
            assert_eq!(asked.len(), 1, "{generation:?} {answer:?}");
            assert!(
                asked[0].contains(&format!("{generation:?} {answer:?}")),
                "{asked:?}"
            );
            let listed = ok_text(&client, "list_notes", json!({})).await;
            assert_eq!(
                listed.contains(&format!("#{id} ")),
                !deleted,
                "{generation:?} {answer:?}: {listed}"
            );
            client.cancel().await.unwrap();
        }
    }
}

#[tokio::test]
async fn delete_note_without_elicitation_support_is_a_tool_error_and_keeps_the_note() {
    let server = Server::start().await;
    for generation in ALL {
        let (client, _) = connect(&server, "dave", generation, None).await;
        let id = add(&client, "keep me").await;
        let error = tool_error(&client, "delete_note", json!({ "id": id })).await;
        assert!(
            error.contains("requires the user's confirmation"),
            "{error}"
        );
        assert!(
            ok_text(&client, "list_notes", json!({}))
                .await
                .contains("keep me")
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn forged_or_foreign_request_state_is_refused() {
    let server = Server::start().await;
    let (alice, _) = connect(
        &server,
        "alice",
        Generation::V2026_07_28,
        Some(ElicitationAction::Accept),
    )
    .await;
    let id = add(&alice, "guarded").await;
    let accept = json!({ "confirm": { "action": "accept", "content": { "confirm": true } } });
    let forged = CallToolRequestParams::new("delete_note")
        .with_arguments(json!({ "id": id }).as_object().unwrap().clone())
        .with_input_responses(serde_json::from_value(accept.clone()).unwrap())
        .with_request_state("rs1.forged.state");
    match alice.call_tool_once(forged).await {
        Err(ServiceError::McpError(error)) => assert_eq!(error.code, ErrorCode::INVALID_PARAMS),
        other => panic!("forged state must be refused: {other:?}"),
    }
    assert!(
        ok_text(&alice, "list_notes", json!({}))
            .await
            .contains("guarded")
    );
}

#[tokio::test]
async fn resource_and_prompt_are_served_behind_the_same_authorization() {
    let server = Server::start().await;
    for generation in ALL {
        let (client, _) = connect(&server, "alice", generation, None).await;
        let resources = client.list_all_resources().await.unwrap();
        assert_eq!(resources.len(), 1);
        assert_eq!(resources[0].uri, mcp_tools::tools::ABOUT_URI);
        let text = about_text(&client).await;
        assert!(text.contains("`delete_note`"), "{text}");
        assert!(text.contains("destructive"), "{text}");
        assert!(
            text.contains(
                "`list_notes`: Lists the signed-in user's notes with their ids. (reads only"
            ),
            "{text}"
        );

        let prompts = client.list_all_prompts().await.unwrap();
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].name, mcp_tools::tools::BRIEFING_PROMPT);
        let prompt = client
            .get_prompt(
                GetPromptRequestParams::new(mcp_tools::tools::BRIEFING_PROMPT)
                    .with_arguments(json!({ "city": "Lyon" }).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        let message = serde_json::to_value(&prompt.messages[0]).unwrap();
        assert!(
            message.to_string().contains("get_weather for Lyon"),
            "{message}"
        );
        client.cancel().await.unwrap();
    }
}
