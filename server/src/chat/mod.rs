//! The agent chat behind the UI's server functions.
//!
//! - [`store`]: conversations, messages, tool calls, elicitation requests and the audit log (SQL).
//! - [`model`]: the chat model client (async-openai, streaming, retries).
//! - [`forms`]: elicitation schemas as forms, and answers checked against them.
//! - [`live`]: per-conversation change notification and the Server-Sent Events endpoint.
//! - `agent` (here): the loop. It is driven from the database, so it resumes after a restart: a user
//!   message asks the model; proposed tool calls wait for approval (by the conversation's mode, or the
//!   user); approved calls run through MCP with the user's delegated token; results go back to the model
//!   until it answers in text or the step limit is reached.
//!
//! Only the user can approve: decisions come from the signed-in user's own requests (bound to the call
//! id and the arguments' hash), or from the mode the user chose. Nothing the model or a tool says is
//! ever read as a decision.

pub mod forms;
pub mod live;
pub mod model;
pub mod store;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use anyhow::Context;
use app::{
    auth::Identity,
    chat::{
        ApprovalMode, AuditRecord, CallStatus, ChatError, ConversationSummary, ConversationView,
        Decision, ElicitationAction, ElicitationStatus, ElicitationView, Entry, ToolCallView,
        backend::ChatBackend,
    },
};
use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, Implementation},
    service::RequestContext,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use self::{
    live::Hub,
    model::ModelClient,
    store::{Call, Conversation, NewCall, Store, Transcript},
};
use crate::{
    config::AgentConfig,
    mcp::{Catalog, McpDirectory, McpError, result_text},
};

/// Longest user message accepted.
const MAX_MESSAGE_CHARS: usize = 8000;

/// What the user answered to an elicitation request.
struct Reply {
    action: ElicitationAction,
    content: Option<serde_json::Map<String, Value>>,
}

/// The chat service: one per process.
pub struct Chat {
    me: Weak<Chat>,
    store: Store,
    hub: Hub,
    model: ModelClient,
    directory: Arc<McpDirectory>,
    settings: AgentConfig,
    /// Conversations whose loop is running → "run once more when done".
    running: Mutex<HashMap<String, bool>>,
    /// Elicitation requests waiting for the user, by id.
    waiters: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Logs a failure once, here at the boundary, and answers without details.
fn internal(error: anyhow::Error) -> ChatError {
    tracing::error!(error = format!("{error:#}"), "chat request failed");
    ChatError::Unavailable
}

/// The decision a conversation's mode makes on its own about a call to `function`, if any.
fn automatic_decision(
    conversation: &Conversation,
    function: &str,
    read_only: bool,
    destructive: bool,
) -> Option<&'static str> {
    match conversation.mode {
        ApprovalMode::Manual => (read_only
            && conversation.always_allow.iter().any(|f| f == function))
        .then_some("always-allow"),
        ApprovalMode::Auto => (!destructive).then_some("auto"),
        ApprovalMode::Elicitation => Some("auto"),
    }
}

impl Chat {
    pub async fn new(
        store: Store,
        model: ModelClient,
        directory: Arc<McpDirectory>,
        settings: AgentConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let resume = store
            .recover()
            .await
            .context("recovering the chat after a restart")?;
        let chat = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            store,
            hub: Hub::default(),
            model,
            directory,
            settings,
            running: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
        });
        for id in resume {
            chat.kick(&id);
        }
        Ok(chat)
    }

    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.running).contains_key(id)
    }

    async fn owned(&self, user: &Identity, id: &str) -> Result<Conversation, ChatError> {
        self.store
            .conversation(&user.key, id)
            .await
            .map_err(internal)?
            .ok_or(ChatError::NotFound)
    }

    /// The conversation's current view, for its owner only.
    pub async fn view_for(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError> {
        let conversation = self.owned(user, id).await?;
        // Read before the transcript: a loop writes everything before it stops running, so a view that
        // says "not busy" never lacks the loop's last entries (read after, a loop ending in between gave
        // a settled-looking view without its final notice).
        let busy = self.is_running(id);
        let transcript = self.store.transcript(id).await.map_err(internal)?;
        let live = self.hub.current(id);
        Ok(ConversationView {
            id: conversation.id.clone(),
            title: conversation.title.clone(),
            mode: conversation.mode,
            entries: entries(&transcript),
            streaming: live.streaming,
            busy,
        })
    }

    /// Runs the agent loop for a conversation, or asks the running one to look again when it is done.
    fn kick(&self, id: &str) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        {
            let mut running = lock(&self.running);
            if let Some(again) = running.get_mut(id) {
                *again = true;
                return;
            }
            running.insert(id.to_owned(), false);
        }
        let id = id.to_owned();
        tokio::spawn(async move {
            me.hub.changed(&id);
            loop {
                if let Err(error) = me.drive(&id).await {
                    tracing::error!(conversation = %id, error = format!("{error:#}"), "agent loop failed");
                    let _ = me
                        .store
                        .add_message(
                            &id,
                            "notice",
                            "Something went wrong on the server and the agent stopped. Send a message to continue.",
                        )
                        .await;
                }
                let mut running = lock(&me.running);
                match running.get_mut(&id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        running.remove(&id);
                        break;
                    }
                }
            }
            me.hub.stored(&id);
        });
    }

    /// The loop: acts on the conversation's stored state until it needs the user or is finished.
    async fn drive(&self, id: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        let (mut model_time, mut tool_time, mut steps) = (Duration::ZERO, Duration::ZERO, 0u32);
        // Read once per run: a mode change starts another run, which sees it.
        let Some(conversation) = self.store.conversation_by_id(id).await? else {
            return Ok(());
        };
        loop {
            let transcript = self.store.transcript(id).await?;
            let Some(last) = transcript.messages.last() else {
                return Ok(());
            };
            match last.role.as_str() {
                "user" => {}
                "assistant" => {
                    let calls: Vec<Call> = transcript.calls_of(&last.id).cloned().collect();
                    if calls.is_empty() {
                        break;
                    }
                    // The first call that is not over decides what happens next.
                    match calls.iter().find(|c| !c.status.is_final()) {
                        None => {}
                        Some(call) if call.status == CallStatus::Pending => {
                            match automatic_decision(
                                &conversation,
                                &call.function_name,
                                call.read_only,
                                call.destructive,
                            ) {
                                Some(by) => {
                                    self.store
                                        .decide(
                                            id,
                                            &call.id,
                                            &call.args_hash,
                                            CallStatus::Approved,
                                            by,
                                        )
                                        .await?;
                                    self.hub.changed(id);
                                    continue;
                                }
                                // Waits for the user's decision.
                                None => break,
                            }
                        }
                        Some(call) if call.status == CallStatus::Approved => {
                            tool_time += self.execute(&conversation, call).await?;
                            continue;
                        }
                        // Running elsewhere (cannot happen with one loop per conversation).
                        Some(_) => break,
                    }
                }
                _ => break,
            }
            if steps >= self.settings.step_limit {
                self.store
                    .add_message(
                        id,
                        "notice",
                        &format!(
                            "The agent stopped after {steps} model turns (the step limit). Send a message to continue."
                        ),
                    )
                    .await?;
                self.hub.changed(id);
                break;
            }
            steps += 1;
            let model_started = Instant::now();
            let replied = self.ask_model(&conversation, &transcript).await;
            model_time += model_started.elapsed();
            if !replied? {
                break;
            }
        }
        if steps > 0 {
            let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            self.store
                .record_turn(
                    id,
                    micros(started.elapsed()),
                    micros(model_time),
                    micros(tool_time),
                )
                .await?;
        }
        Ok(())
    }

    /// One model turn; stores what it said. `false` when the loop should stop.
    async fn ask_model(
        &self,
        conversation: &Conversation,
        transcript: &Transcript,
    ) -> anyhow::Result<bool> {
        let id = conversation.id.as_str();
        let catalog = match self.directory.catalog(&conversation.user_key).await {
            Ok(catalog) => catalog,
            Err(McpError::SignInRequired) => {
                self.notice(
                    id,
                    "Your sign-in has expired. Please sign in again to continue.",
                )
                .await?;
                return Ok(false);
            }
            Err(McpError::Failed(message)) => {
                tracing::warn!(%message, "no tool catalog");
                Arc::new(Catalog::default())
            }
        };
        let tools: Vec<Value> = catalog
            .tools
            .iter()
            .map(|t| {
                json!({ "type": "function", "function": {
                    "name": t.function_name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
        let messages = history(&self.settings.system_prompt, transcript);
        let hub = &self.hub;
        let mut on_text = |text: &str| {
            hub.streaming(id, (!text.is_empty()).then(|| text.to_owned()));
        };
        let reply = match self.model.complete(&messages, &tools, &mut on_text).await {
            Ok(reply) => reply,
            Err(error) => {
                self.hub.streaming(id, None);
                self.notice(
                    id,
                    &format!("{error} Your message is kept; send another message to try again."),
                )
                .await?;
                return Ok(false);
            }
        };
        let mut failures = Vec::new();
        let calls: Vec<NewCall> = reply
            .calls
            .iter()
            .map(|proposed| {
                let tool = catalog.find(&proposed.name);
                let object = serde_json::from_str::<Value>(&proposed.arguments)
                    .ok()
                    .is_some_and(|v| v.is_object());
                let mut call = NewCall {
                    model_call_id: proposed.id.clone(),
                    function_name: proposed.name.clone(),
                    server: tool.map(|t| t.server_name.clone()).unwrap_or_default(),
                    tool: tool.map_or_else(|| proposed.name.clone(), |t| t.tool.clone()),
                    arguments: proposed.arguments.clone(),
                    read_only: tool.is_some_and(|t| t.read_only),
                    destructive: tool.is_none_or(|t| t.destructive),
                    status: CallStatus::Pending,
                    decided_by: None,
                };
                let failure = if tool.is_none() {
                    Some(format!("There is no tool named {:?}.", proposed.name))
                } else if !object {
                    Some("The arguments are not a JSON object.".to_owned())
                } else {
                    if let Some(by) = automatic_decision(
                        conversation,
                        &call.function_name,
                        call.read_only,
                        call.destructive,
                    ) {
                        call.status = CallStatus::Approved;
                        call.decided_by = Some(by.to_owned());
                    }
                    None
                };
                failures.push(failure);
                call
            })
            .collect();
        let any_calls = !calls.is_empty();
        let call_ids = self.store.add_assistant(id, &reply.text, calls).await?;
        // Calls that cannot run are stored (and audited) as failed, so the model hears why.
        for (call_id, failure) in call_ids.iter().zip(&failures) {
            if let Some(failure) = failure {
                self.store
                    .finish_call(call_id, CallStatus::Failed, failure, true)
                    .await?;
            }
        }
        self.hub.stored(id);
        Ok(any_calls)
    }

    async fn notice(&self, id: &str, text: &str) -> anyhow::Result<()> {
        self.store.add_message(id, "notice", text).await?;
        self.hub.changed(id);
        Ok(())
    }

    /// Runs one approved call as the conversation's user; returns the time spent in the tool.
    async fn execute(&self, conversation: &Conversation, call: &Call) -> anyhow::Result<Duration> {
        let id = conversation.id.as_str();
        if !self.store.start_call(&call.id).await? {
            return Ok(Duration::ZERO);
        }
        self.hub.changed(id);
        let started = Instant::now();
        let outcome = self.call_tool(conversation, call).await;
        let spent = started.elapsed();
        let (status, text, is_error) = match outcome {
            Ok(result) => {
                let failed = result.is_error == Some(true);
                (
                    if failed {
                        CallStatus::Failed
                    } else {
                        CallStatus::Done
                    },
                    result_text(&result),
                    failed,
                )
            }
            Err(message) => (CallStatus::Failed, message, true),
        };
        self.store
            .finish_call(&call.id, status, &text, is_error)
            .await?;
        tracing::info!(conversation = %id, server = %call.server, tool = %call.tool, status = status.as_str(), "tool call finished");
        self.hub.changed(id);
        Ok(spent)
    }

    async fn call_tool(
        &self,
        conversation: &Conversation,
        call: &Call,
    ) -> Result<rmcp::model::CallToolResult, String> {
        let catalog = match self.directory.catalog(&conversation.user_key).await {
            Ok(catalog) => catalog,
            Err(McpError::SignInRequired) => {
                return Err("Your sign-in has expired; the tool was not called.".to_owned());
            }
            Err(McpError::Failed(message)) => return Err(message),
        };
        let Some(tool) = catalog
            .tools
            .iter()
            .find(|t| t.server_name == call.server && t.tool == call.tool)
        else {
            return Err("This tool is no longer offered; it was not called.".to_owned());
        };
        let Ok(Value::Object(arguments)) = serde_json::from_str(&call.arguments) else {
            return Err("The arguments are not a JSON object.".to_owned());
        };
        let asker = Asker {
            chat: self.me.clone(),
            conversation_id: conversation.id.clone(),
            call_id: call.id.clone(),
        };
        let limit = Duration::from_secs(
            self.settings.tool_timeout_secs + self.settings.elicitation_timeout_secs,
        );
        match tokio::time::timeout(
            limit,
            self.directory.call(
                &conversation.user_key,
                tool.server,
                &tool.tool,
                arguments,
                asker,
            ),
        )
        .await
        {
            Err(_) => Err("The tool did not finish in time.".to_owned()),
            Ok(Err(McpError::SignInRequired)) => {
                Err("Your sign-in has expired; the tool was not called.".to_owned())
            }
            Ok(Err(McpError::Failed(message))) => Err(message),
            Ok(Ok(result)) => Ok(result),
        }
    }

    /// An elicitation request from the MCP server during `call_id`: stored, shown, awaited.
    async fn elicit(
        &self,
        conversation_id: &str,
        call_id: &str,
        request: ElicitRequestParams,
    ) -> Result<ElicitResult, ErrorData> {
        use rmcp::model::ElicitationAction as Action;
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        else {
            // URL-mode elicitation is not offered (the client does not declare it).
            return Ok(ElicitResult::new(Action::Decline));
        };
        let schema = serde_json::to_value(&requested_schema).unwrap_or_default();
        if let Err(reason) = forms::fields(&schema) {
            tracing::warn!(%reason, "elicitation request declined");
            return Ok(ElicitResult::new(Action::Decline));
        }
        let stored = self
            .store
            .add_elicitation(conversation_id, call_id, &message, &schema.to_string())
            .await;
        let id = match stored {
            Ok(id) => id,
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "storing an elicitation failed"
                );
                return Ok(ElicitResult::new(Action::Cancel));
            }
        };
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(id.clone(), sender);
        self.hub.changed(conversation_id);
        let timeout = Duration::from_secs(self.settings.elicitation_timeout_secs);
        let reply = match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(reply)) => reply,
            _ => {
                lock(&self.waiters).remove(&id);
                let _ = self
                    .store
                    .close_elicitation(&id, ElicitationStatus::Expired, None)
                    .await;
                self.hub.changed(conversation_id);
                return Ok(ElicitResult::new(Action::Cancel));
            }
        };
        let action = match reply.action {
            ElicitationAction::Accept => Action::Accept,
            ElicitationAction::Decline => Action::Decline,
            ElicitationAction::Cancel => Action::Cancel,
        };
        let result = ElicitResult::new(action);
        Ok(match reply.content {
            Some(content) => result.with_content(Value::Object(content)),
            None => result,
        })
    }
}

/// Answers an MCP server's elicitation requests for one tool call by asking the user in the browser.
/// Both generations reach it: rmcp turns 2026-07-28 input-required results into the same call.
#[derive(Clone)]
struct Asker {
    chat: Weak<Chat>,
    conversation_id: String,
    call_id: String,
}

impl ClientHandler for Asker {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("portcullis-web", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        match self.chat.upgrade() {
            Some(chat) => {
                chat.elicit(&self.conversation_id, &self.call_id, request)
                    .await
            }
            None => Ok(ElicitResult::new(rmcp::model::ElicitationAction::Cancel)),
        }
    }
}

/// The transcript as chat-completion messages: tool results follow the assistant message that asked.
fn history(system_prompt: &str, transcript: &Transcript) -> Vec<Value> {
    let mut messages = vec![json!({ "role": "system", "content": system_prompt })];
    for message in &transcript.messages {
        match message.role.as_str() {
            "user" => messages.push(json!({ "role": "user", "content": message.content })),
            "assistant" => {
                let calls: Vec<&Call> = transcript.calls_of(&message.id).collect();
                if calls.is_empty() {
                    if !message.content.is_empty() {
                        messages.push(json!({ "role": "assistant", "content": message.content }));
                    }
                    continue;
                }
                messages.push(json!({
                    "role": "assistant",
                    "content": (!message.content.is_empty()).then_some(&message.content),
                    "tool_calls": calls.iter().map(|c| json!({
                        "id": c.model_call_id, "type": "function",
                        "function": { "name": c.function_name, "arguments": c.arguments },
                    })).collect::<Vec<_>>(),
                }));
                for call in calls {
                    messages.push(json!({
                        "role": "tool",
                        "tool_call_id": call.model_call_id,
                        "content": call.result.clone().unwrap_or_else(|| "(no result)".to_owned()),
                    }));
                }
            }
            // Notices are the application's, not the conversation's.
            _ => {}
        }
    }
    messages
}

fn pretty(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| arguments.to_owned())
}

fn entries(transcript: &Transcript) -> Vec<Entry> {
    let mut entries = Vec::new();
    for message in &transcript.messages {
        let id = message.id.clone();
        let text = message.content.clone();
        match message.role.as_str() {
            "user" => entries.push(Entry::User { id, text }),
            "notice" => entries.push(Entry::Notice { id, text }),
            _ => {
                if !text.is_empty() {
                    entries.push(Entry::Assistant { id, text });
                }
                for call in transcript.calls_of(&message.id) {
                    let elicitations = transcript
                        .elicitations
                        .iter()
                        .filter(|e| e.tool_call_id == call.id)
                        .map(|e| ElicitationView {
                            id: e.id.clone(),
                            message: e.message.clone(),
                            fields: serde_json::from_str(&e.schema)
                                .ok()
                                .and_then(|schema| forms::fields(&schema).ok())
                                .unwrap_or_default(),
                            status: e.status,
                        })
                        .collect();
                    entries.push(Entry::ToolCall(ToolCallView {
                        id: call.id.clone(),
                        server: call.server.clone(),
                        tool: call.tool.clone(),
                        arguments: pretty(&call.arguments),
                        args_hash: call.args_hash.clone(),
                        status: call.status,
                        result: call.result.clone(),
                        is_error: call.is_error,
                        read_only: call.read_only,
                        destructive: call.destructive,
                        decided_by: call.decided_by.clone(),
                        elicitations,
                    }));
                }
            }
        }
    }
    entries
}

fn summary(conversation: &Conversation) -> ConversationSummary {
    ConversationSummary {
        id: conversation.id.clone(),
        title: conversation.title.clone(),
        mode: conversation.mode,
        updated_at: store::rfc3339(conversation.updated_at),
    }
}

#[async_trait::async_trait]
impl ChatBackend for Chat {
    async fn list(&self, user: &Identity) -> Result<Vec<ConversationSummary>, ChatError> {
        let conversations = self
            .store
            .conversations(&user.key)
            .await
            .map_err(internal)?;
        Ok(conversations.iter().map(summary).collect())
    }

    async fn create(
        &self,
        user: &Identity,
        mode: ApprovalMode,
    ) -> Result<ConversationSummary, ChatError> {
        let conversation = self
            .store
            .create_conversation(&user.key, mode)
            .await
            .map_err(internal)?;
        Ok(summary(&conversation))
    }

    async fn view(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError> {
        self.view_for(user, id).await
    }

    async fn send(&self, user: &Identity, id: &str, text: &str) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(ChatError::Invalid("Type a message first.".to_owned()));
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ChatError::Invalid(format!(
                "A message may have at most {MAX_MESSAGE_CHARS} characters."
            )));
        }
        if self.is_running(id) {
            return Err(ChatError::Conflict(
                "The agent is still working on this conversation.".to_owned(),
            ));
        }
        if self.store.open_calls(id).await.map_err(internal)? > 0 {
            return Err(ChatError::Conflict(
                "Approve or decline the pending tool call first.".to_owned(),
            ));
        }
        self.store
            .add_message(&conversation.id, "user", text)
            .await
            .map_err(internal)?;
        self.hub.changed(id);
        self.kick(id);
        Ok(())
    }

    async fn set_mode(
        &self,
        user: &Identity,
        id: &str,
        mode: ApprovalMode,
    ) -> Result<(), ChatError> {
        self.owned(user, id).await?;
        self.store.set_mode(id, mode).await.map_err(internal)?;
        self.hub.changed(id);
        // A pending call the new mode approves on its own goes ahead.
        if self.store.open_calls(id).await.map_err(internal)? > 0 {
            self.kick(id);
        }
        Ok(())
    }

    async fn decide(
        &self,
        user: &Identity,
        id: &str,
        call_id: &str,
        args_hash: &str,
        decision: Decision,
    ) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        let call = self
            .store
            .call(id, call_id)
            .await
            .map_err(internal)?
            .ok_or(ChatError::NotFound)?;
        if decision == Decision::ApproveAlways && !call.read_only {
            return Err(ChatError::Invalid(
                "Only tools marked read-only can be always allowed.".to_owned(),
            ));
        }
        let to = match decision {
            Decision::Approve | Decision::ApproveAlways => CallStatus::Approved,
            Decision::Decline => CallStatus::Declined,
        };
        let won = self
            .store
            .decide(id, call_id, args_hash, to, "user")
            .await
            .map_err(internal)?;
        if !won {
            return Err(ChatError::Conflict(if call.args_hash != args_hash {
                "The arguments changed; this approval does not apply to them.".to_owned()
            } else {
                format!("This tool call was already {}.", call.status.as_str())
            }));
        }
        if decision == Decision::Decline {
            self.store
                .finish_call(
                    call_id,
                    CallStatus::Declined,
                    "Declined by the user.",
                    false,
                )
                .await
                .map_err(internal)?;
        }
        if decision == Decision::ApproveAlways {
            self.store
                .allow_always(&conversation, &call.function_name)
                .await
                .map_err(internal)?;
        }
        tracing::info!(conversation = %id, tool = %call.tool, decision = to.as_str(), "tool call decided");
        self.hub.changed(id);
        self.kick(id);
        Ok(())
    }

    async fn answer(
        &self,
        user: &Identity,
        id: &str,
        elicitation_id: &str,
        action: ElicitationAction,
        values: Vec<(String, String)>,
    ) -> Result<(), ChatError> {
        self.owned(user, id).await?;
        let request = self
            .store
            .elicitation(id, elicitation_id)
            .await
            .map_err(internal)?
            .ok_or(ChatError::NotFound)?;
        if request.status != ElicitationStatus::Pending {
            return Err(ChatError::Conflict(format!(
                "This request was already {}.",
                request.status.as_str()
            )));
        }
        let content = match action {
            ElicitationAction::Accept => {
                let schema: Value = serde_json::from_str(&request.schema).unwrap_or_default();
                let fields = forms::fields(&schema).map_err(ChatError::Invalid)?;
                Some(forms::answer(&fields, &values).map_err(ChatError::Invalid)?)
            }
            _ => None,
        };
        let Some(waiter) = lock(&self.waiters).remove(elicitation_id) else {
            // Nobody waits any more (the server restarted): it is over.
            let _ = self
                .store
                .close_elicitation(elicitation_id, ElicitationStatus::Expired, None)
                .await;
            self.hub.changed(id);
            return Err(ChatError::Conflict(
                "This request is no longer waiting for an answer.".to_owned(),
            ));
        };
        let status = match action {
            ElicitationAction::Accept => ElicitationStatus::Accepted,
            ElicitationAction::Decline => ElicitationStatus::Declined,
            ElicitationAction::Cancel => ElicitationStatus::Cancelled,
        };
        let answer = content
            .as_ref()
            .map(|c| Value::Object(c.clone()).to_string());
        let closed = self
            .store
            .close_elicitation(elicitation_id, status, answer.as_deref())
            .await
            .map_err(internal)?;
        if !closed {
            return Err(ChatError::Conflict(
                "This request was already answered.".to_owned(),
            ));
        }
        let _ = waiter.send(Reply { action, content });
        self.hub.changed(id);
        Ok(())
    }

    async fn audit(&self, user: &Identity) -> Result<Vec<AuditRecord>, ChatError> {
        self.store.audit(&user.key).await.map_err(internal)
    }
}
