//! The agent core driven by a front-end that is not the web: an in-memory store, a model that follows a
//! script, an asker that decides at once (as a console's y/n prompt does), against a real MCP server
//! over Streamable HTTP, in both protocol generations. The loop is the same one the web runs.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use agent::{
    Agent, Journal,
    domain::{
        ApprovalMode, Call, CallStatus, Conversation, ConversationId, DecidedBy, Decision,
        ElicitationKind, Role, UserKey,
    },
    mcp::{McpDirectory, ServerSpec, TokenError, TokenSource},
    memory::MemoryStore,
    model::{ChatModel, ModelError, ModelReply, ProposedCall},
    ports::{Asker, Change, ConversationReads, ElicitReply, Notifier},
    settings::AgentSettings,
};
use async_openai::types::chat::{ChatCompletionRequestMessage, ChatCompletionTools};
use async_trait::async_trait;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{
        router::tool::ToolRouter,
        tool::{InputResponses, RequestState},
        wrapper::Parameters,
    },
    model::{
        CallToolResponse, CallToolResult, ContentBlock as Content, ElicitRequest,
        ElicitRequestParams, ElicitResult, InputRequest, InputRequests, InputRequiredResult,
        ProtocolVersion, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
struct EchoArgs {
    /// What to echo.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct EraseArgs {
    /// What to erase.
    name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct NoArgs {}

/// Where the demo server's URL-mode elicitation points.
const CONSENT_URL: &str = "https://login.example.com/consent?scope=Calendars.Read";

/// A real MCP server with read-only tools (`echo`, `consent` which asks the user to open a page,
/// `events` which answers with structured content) and a destructive one; it counts the calls that
/// reach it.
#[derive(Clone)]
#[allow(dead_code)] // `tool_router` is read by the macros
struct Demo {
    tool_router: ToolRouter<Demo>,
    calls: Arc<AtomicUsize>,
}

#[tool_router]
impl Demo {
    #[tool(description = "Echoes the text.", annotations(read_only_hint = true))]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> CallToolResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        CallToolResult::success(vec![Content::text(format!("echo: {}", args.text))])
    }

    /// A URL-mode elicitation in either generation: a server request on a 2025-11-25 session, an
    /// input-required result under 2026-07-28. Says what the client answered.
    #[tool(description = "Asks for consent.", annotations(read_only_hint = true))]
    async fn consent(
        &self,
        Parameters(_): Parameters<NoArgs>,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let url_declared = context
            .client_capabilities()
            .and_then(|caps| caps.elicitation)
            .is_some_and(|elicitation| elicitation.url.is_some());
        if !url_declared {
            return Ok(CallToolResult::error(vec![Content::text("no URL elicitation")]).into());
        }
        let params = ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: "Grant Calendars.Read".into(),
            url: CONSENT_URL.into(),
            elicitation_id: "consent-1".into(),
        };
        let stateless = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        let answer: ElicitResult = if stateless {
            match (state, responses) {
                (Some(state), Some(mut responses)) if state == "asked" => {
                    let answer = responses
                        .remove("consent")
                        .ok_or_else(|| ErrorData::invalid_params("no consent answer", None))?;
                    serde_json::from_value(answer)
                        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?
                }
                _ => {
                    let mut requests = InputRequests::new();
                    requests.insert(
                        "consent".into(),
                        InputRequest::Elicitation(ElicitRequest::new(params)),
                    );
                    return Ok(
                        InputRequiredResult::new(Some(requests), Some("asked".into())).into(),
                    );
                }
            }
        } else {
            context
                .peer
                .create_elicitation(params)
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        };
        let generation = if stateless {
            "input-required"
        } else {
            "request"
        };
        Ok(CallToolResult::success(vec![Content::text(format!(
            "consent by {generation}: {:?}, content {:?}",
            answer.action, answer.content
        ))])
        .into())
    }

    #[tool(description = "Lists events.", annotations(read_only_hint = true))]
    async fn events(&self, Parameters(_): Parameters<NoArgs>) -> CallToolResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut result = CallToolResult::success(vec![Content::text("2 events: Standup, Review")]);
        result.structured_content = Some(serde_json::json!({
            "events": [{ "subject": "Standup" }, { "subject": "Review" }],
            "truncated": false,
        }));
        result
    }

    #[tool(description = "Erases a thing.", annotations(destructive_hint = true))]
    async fn erase(&self, Parameters(args): Parameters<EraseArgs>) -> CallToolResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        CallToolResult::success(vec![Content::text(format!("erased {}", args.name))])
    }
}

#[tool_handler]
impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

async fn start_server(calls: Arc<AtomicUsize>) -> String {
    let service = StreamableHttpService::new(
        move || {
            Ok(Demo {
                tool_router: Demo::tool_router(),
                calls: calls.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route_service("/mcp", service))
            .await
            .unwrap();
    });
    format!("http://{addr}/mcp")
}

struct FixedToken;

#[async_trait]
impl TokenSource for FixedToken {
    async fn access_token(&self, _: &UserKey, _: &str) -> Result<SecretString, TokenError> {
        Ok(SecretString::from("test-token"))
    }
    async fn forget(&self, _: &UserKey, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Proposes the tool named in the user's last message (`echo`/`erase`), then states the last result.
struct ScriptedModel;

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(
        &self,
        messages: &[ChatCompletionRequestMessage],
        _tools: &[ChatCompletionTools],
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ModelReply, ModelError> {
        match messages.last() {
            Some(ChatCompletionRequestMessage::User(user)) => {
                let text = serde_json::to_value(&user.content).unwrap();
                let text = text.as_str().unwrap_or_default();
                let (name, arguments) = if text.contains("erase") {
                    ("erase", r#"{"name":"report"}"#)
                } else if text.contains("consent") {
                    ("consent", "{}")
                } else if text.contains("events") {
                    ("events", "{}")
                } else {
                    ("echo", r#"{"text":"hi"}"#)
                };
                Ok(ModelReply {
                    text: String::new(),
                    calls: vec![ProposedCall {
                        id: "call_1".into(),
                        name: name.into(),
                        arguments: arguments.into(),
                    }],
                })
            }
            Some(ChatCompletionRequestMessage::Tool(tool)) => {
                let result = serde_json::to_value(&tool.content).unwrap();
                let text = format!("The tool said: {}", result.as_str().unwrap_or_default());
                on_text(&text);
                Ok(ModelReply {
                    text,
                    calls: Vec::new(),
                })
            }
            _ => Ok(ModelReply::default()),
        }
    }
}

/// Decides at once, like a y/n prompt: approves `echo`, declines everything else; remembers whom it asked.
/// Elicitation: accepts links (as a user who opened one and finished there), declines forms.
#[derive(Default)]
struct Prompt {
    asked: Mutex<Vec<String>>,
    /// Never answers approvals (a user who walked away, until Ctrl-C).
    stall: std::sync::atomic::AtomicBool,
    elicited: Mutex<Vec<(String, ElicitationKind)>>,
}

#[async_trait]
impl Asker for Prompt {
    async fn approve(&self, _: &Conversation, call: &Call) -> Option<Decision> {
        self.asked.lock().unwrap().push(call.tool.clone());
        if self.stall.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Some(if call.tool == "echo" {
            Decision::Approve
        } else {
            Decision::Decline
        })
    }

    async fn elicit(
        &self,
        _: &Conversation,
        _: &Call,
        message: &str,
        kind: &ElicitationKind,
    ) -> ElicitReply {
        self.elicited
            .lock()
            .unwrap()
            .push((message.to_owned(), kind.clone()));
        match kind {
            ElicitationKind::Url { .. } => ElicitReply {
                action: agent::domain::ElicitationAction::Accept,
                content: None,
            },
            ElicitationKind::Form { .. } => ElicitReply::decline(),
        }
    }
}

/// Counts changes, so the test sees the journal notify.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Notifier for Counter {
    fn notify(&self, _: &ConversationId, _: Change) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Console {
    agent: Arc<Agent>,
    store: Arc<MemoryStore>,
    prompt: Arc<Prompt>,
    changes: Arc<Counter>,
    served: Arc<AtomicUsize>,
}

async fn console() -> Console {
    console_speaking("auto").await
}

/// A console whose MCP client speaks `protocol` (`auto`, `legacy` or `2026-07-28`).
async fn console_speaking(protocol: &str) -> Console {
    let served = Arc::new(AtomicUsize::new(0));
    let url = start_server(served.clone()).await;
    let store = Arc::new(MemoryStore::default());
    let changes = Arc::new(Counter::default());
    let prompt = Arc::new(Prompt::default());
    let spec: ServerSpec = format!("demo={url} demo:scope protocol={protocol}")
        .parse()
        .unwrap();
    let directory = Arc::new(McpDirectory::new(vec![spec], Arc::new(FixedToken)));
    let agent = Agent::new(
        Journal::new(store.clone(), changes.clone()),
        Arc::new(ScriptedModel),
        directory,
        prompt.clone(),
        AgentSettings::default(),
        "portcullis-test-console",
    );
    Console {
        agent,
        store,
        prompt,
        changes,
        served,
    }
}

impl Console {
    async fn conversation(&self, mode: ApprovalMode) -> Conversation {
        self.agent
            .journal()
            .create_conversation(&UserKey::from("tenant.user"), mode)
            .await
            .unwrap()
    }

    async fn calls(&self, id: &ConversationId) -> Vec<Call> {
        self.store.transcript(id).await.unwrap().calls
    }

    async fn last_text(&self, id: &ConversationId) -> String {
        let transcript = self.store.transcript(id).await.unwrap();
        let last = transcript.messages.last().unwrap();
        assert_eq!(last.role, Role::Assistant);
        last.content.clone()
    }
}

#[tokio::test]
async fn a_console_front_end_approves_at_its_prompt_and_the_call_runs_once() {
    let console = console().await;
    let conversation = console.conversation(ApprovalMode::Manual).await;
    console
        .agent
        .send_and_wait(&conversation, "please echo hi")
        .await
        .unwrap();
    let calls = console.calls(&conversation.id).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, CallStatus::Done);
    assert_eq!(calls[0].decided_by, Some(DecidedBy::User));
    assert_eq!(console.served.load(Ordering::SeqCst), 1);
    assert_eq!(*console.prompt.asked.lock().unwrap(), ["echo"]);
    assert_eq!(
        console.last_text(&conversation.id).await,
        "The tool said: echo: hi"
    );
    assert!(!console.agent.is_running(&conversation.id));
    assert!(
        console.changes.0.load(Ordering::SeqCst) > 3,
        "the journal notified"
    );
    assert_eq!(console.store.timings(&conversation.id).len(), 1);
}

#[tokio::test]
async fn a_declined_call_never_reaches_the_server_and_auto_mode_still_asks_for_destructive_tools() {
    let console = console().await;
    let conversation = console.conversation(ApprovalMode::Auto).await;
    console
        .agent
        .send_and_wait(&conversation, "echo something")
        .await
        .unwrap();
    // Auto: the read-only tool ran without asking.
    assert!(console.prompt.asked.lock().unwrap().is_empty());
    assert_eq!(console.served.load(Ordering::SeqCst), 1);
    console
        .agent
        .send_and_wait(&conversation, "now erase the report")
        .await
        .unwrap();
    // Destructive: asked even in Auto, declined, never served.
    assert_eq!(*console.prompt.asked.lock().unwrap(), ["erase"]);
    assert_eq!(console.served.load(Ordering::SeqCst), 1);
    let calls = console.calls(&conversation.id).await;
    assert_eq!(calls[1].status, CallStatus::Declined);
    assert_eq!(
        console.last_text(&conversation.id).await,
        "The tool said: Declined by the user."
    );
}

#[tokio::test]
async fn url_elicitation_reaches_the_front_end_in_both_protocol_generations() {
    for (protocol, generation) in [("legacy", "request"), ("2026-07-28", "input-required")] {
        let console = console_speaking(protocol).await;
        let conversation = console.conversation(ApprovalMode::Elicitation).await;
        console
            .agent
            .send_and_wait(&conversation, "ask for consent")
            .await
            .unwrap();
        let calls = console.calls(&conversation.id).await;
        assert_eq!(calls[0].status, CallStatus::Done, "{protocol}: {calls:?}");
        // The server saw the URL capability, and the user's Accept without content.
        assert_eq!(
            calls[0].result.as_deref(),
            Some(format!("consent by {generation}: Accept, content None").as_str()),
            "{protocol}"
        );
        let elicited = console.prompt.elicited.lock().unwrap().clone();
        assert_eq!(elicited.len(), 1, "{protocol}");
        assert_eq!(elicited[0].0, "Grant Calendars.Read");
        let ElicitationKind::Url { url } = &elicited[0].1 else {
            panic!("{protocol}: {:?}", elicited[0].1)
        };
        assert_eq!(
            (url.as_str(), url.host()),
            (CONSENT_URL, "login.example.com")
        );
    }
}

#[tokio::test]
async fn structured_results_are_kept_with_the_call_and_the_model_reads_the_text() {
    let console = console().await;
    let conversation = console.conversation(ApprovalMode::Auto).await;
    console
        .agent
        .send_and_wait(&conversation, "list my events")
        .await
        .unwrap();
    let calls = console.calls(&conversation.id).await;
    assert_eq!(calls[0].status, CallStatus::Done);
    assert_eq!(
        calls[0].result.as_deref(),
        Some("2 events: Standup, Review")
    );
    let structured: serde_json::Value =
        serde_json::from_str(calls[0].structured.as_deref().unwrap()).unwrap();
    assert_eq!(
        structured,
        serde_json::json!({
            "events": [{ "subject": "Standup" }, { "subject": "Review" }],
            "truncated": false,
        })
    );
    assert_eq!(
        console.last_text(&conversation.id).await,
        "The tool said: 2 events: Standup, Review"
    );
    // A plain text result has none.
    console
        .agent
        .send_and_wait(&conversation, "echo hi")
        .await
        .unwrap();
    assert_eq!(console.calls(&conversation.id).await[1].structured, None);
}

#[tokio::test]
async fn a_cancelled_turn_declines_what_waits_and_the_next_message_runs() {
    let console = console().await;
    console.prompt.stall.store(true, Ordering::SeqCst);
    let conversation = console.conversation(ApprovalMode::Manual).await;
    console
        .agent
        .journal()
        .add_message(&conversation.id, Role::User, "now erase the report")
        .await
        .unwrap();
    // Ctrl-C once the prompt is on the screen.
    let asked = async {
        while console.prompt.asked.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let cancelled = console
        .agent
        .run_until_idle_or(&conversation.id, asked)
        .await;
    assert!(cancelled);
    assert!(!console.agent.is_running(&conversation.id));
    let calls = console.calls(&conversation.id).await;
    assert_eq!(calls[0].status, CallStatus::Declined);
    assert_eq!(calls[0].decided_by, Some(DecidedBy::User));
    assert!(calls[0].result.as_deref().unwrap().contains("Cancelled"));
    assert_eq!(console.served.load(Ordering::SeqCst), 0, "never called");
    let transcript = console.store.transcript(&conversation.id).await.unwrap();
    let last = transcript.messages.last().unwrap();
    assert_eq!(last.role, Role::Notice);
    assert!(last.content.starts_with("Stopped"), "{}", last.content);

    // Nothing is left pending: the next message is accepted and runs.
    console.prompt.stall.store(false, Ordering::SeqCst);
    let conversation = console
        .store
        .conversation(&conversation.id)
        .await
        .unwrap()
        .unwrap();
    console
        .agent
        .send_and_wait(&conversation, "please echo hi")
        .await
        .unwrap();
    assert_eq!(
        console.calls(&conversation.id).await[1].status,
        CallStatus::Done
    );

    // A turn that finishes first is not cancelled.
    let finished = console
        .agent
        .run_until_idle_or(&conversation.id, std::future::pending())
        .await;
    assert!(!finished);
}
