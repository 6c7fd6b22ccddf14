//! The loop: model → proposed calls → decision → MCP call → result → model. It is driven from the store,
//! so it resumes after a restart: it acts on the conversation's stored state until it needs the user or
//! is finished (the model answers in text, or the step limit is reached).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    Agent,
    domain::{
        Call, CallStatus, Conversation, ConversationId, Finish, NewCall, Role, Transcript,
        TurnTiming,
    },
    elicitation::Bridge,
    mcp::{Catalog, McpError, WithheldReason, result_text},
    model::{self, ModelReply},
    policy::{CallFacts, automatic_decision},
    ports::Change,
};

/// What one run knows besides the store: the user's tool catalog, listed at most once per run.
#[derive(Default)]
struct RunState {
    catalog: Option<Arc<Catalog>>,
    /// Whether this run has told the user which servers are unavailable.
    told_unavailable: bool,
    model_time: Duration,
    tool_time: Duration,
    steps: u32,
}

/// What the loop does next with a conversation's stored state.
pub(crate) enum Step<'a> {
    /// Nothing: the model answered in text, a notice ended the turn, or it is empty.
    Idle,
    /// Ask the model (a user message, or every proposed call is over).
    Model,
    /// The first open call waits for a decision.
    Settle(&'a Call),
    /// The first open call is approved: run it.
    Execute(&'a Call),
    /// The first open call is running, found by the lease holder: its loop died mid-call (never re-run).
    Recover,
}

/// The next step: decided by the last message and, after a reply, by the first of its calls that is
/// not over. The loop ([`Agent::drive`]) and the look for more work (`Agent::has_work`) both ask it.
pub(crate) fn next_step(transcript: &Transcript) -> Step<'_> {
    let Some(last) = transcript.messages.last() else {
        return Step::Idle;
    };
    match last.role {
        Role::User => Step::Model,
        Role::Notice => Step::Idle,
        Role::Assistant => {
            let mut calls = transcript.calls_of(&last.id).peekable();
            if calls.peek().is_none() {
                return Step::Idle;
            }
            match calls.find(|c| !c.status.is_final()) {
                None => Step::Model,
                Some(call) if call.status == CallStatus::Pending => Step::Settle(call),
                Some(call) if call.status == CallStatus::Approved => Step::Execute(call),
                Some(_) => Step::Recover,
            }
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Agent {
    /// Acts on the conversation's stored state until it needs the user or is finished.
    pub(crate) async fn drive(&self, id: &ConversationId) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut run = RunState::default();
        // Read once per run: a mode change starts another run, which sees it.
        let Some(conversation) = self.journal.store().conversation(id).await? else {
            return Ok(());
        };
        loop {
            let transcript = self.transcripts.read(self.journal.store(), id).await?;
            match next_step(&transcript) {
                Step::Idle => break,
                Step::Model => {}
                Step::Settle(call) => {
                    if self.settle_pending(&conversation, call).await? {
                        continue;
                    }
                    break;
                }
                Step::Execute(call) => {
                    self.execute(&conversation, call, &mut run).await?;
                    continue;
                }
                Step::Recover => {
                    self.recover_interrupted(id).await?;
                    continue;
                }
            }
            if run.steps >= self.settings.step_limit {
                let steps = run.steps;
                self.journal
                    .add_message(
                        id,
                        Role::Notice,
                        &format!(
                            "The agent stopped after {steps} model turns (the step limit). Send a message to continue."
                        ),
                    )
                    .await?;
                break;
            }
            run.steps += 1;
            let model_started = Instant::now();
            let replied = self.ask_model(&conversation, &transcript, &mut run).await;
            run.model_time += model_started.elapsed();
            if !replied? {
                break;
            }
        }
        if run.steps > 0 {
            let timing = TurnTiming {
                total_us: micros(started.elapsed()),
                model_us: micros(run.model_time),
                tool_us: micros(run.tool_time),
            };
            self.journal.record_turn(id, timing).await?;
        }
        Ok(())
    }

    /// A pending call: decided by the mode, or by the user if the front-end asks now. `false` when it
    /// waits for a decision that comes later.
    async fn settle_pending(
        &self,
        conversation: &Conversation,
        call: &Call,
    ) -> anyhow::Result<bool> {
        if let Some(by) = automatic_decision(conversation, call.into()) {
            self.journal
                .decide(
                    &conversation.id,
                    &call.id,
                    &call.args_hash,
                    CallStatus::Approved,
                    by,
                )
                .await?;
            return Ok(true);
        }
        // A front-end should offer only the choices a call allows; if it sends one the call does not allow
        // (always-allow for a tool that is not read-only), it is asked again, a few times at most.
        for _ in 0..3 {
            let Some(decision) = self.asker.approve(conversation, call).await else {
                return Ok(false);
            };
            match self
                .apply(conversation, call, &call.args_hash, decision)
                .await
            {
                Ok(()) => return Ok(true),
                Err(crate::AgentError::Internal(error)) => return Err(error),
                Err(error) => tracing::warn!(%error, "a decision was refused; asking again"),
            }
        }
        // Still pending: `Agent::decide` settles it later.
        Ok(false)
    }

    /// The user's catalog, listed once per run (the directory caches it for a minute across runs); a run
    /// that lasts longer keeps the list it started with, so a call is always checked against the tools
    /// the model was offered.
    async fn catalog(
        &self,
        conversation: &Conversation,
        run: &mut RunState,
    ) -> Result<Arc<Catalog>, McpError> {
        if let Some(catalog) = &run.catalog {
            return Ok(catalog.clone());
        }
        let catalog = self
            .directory
            .catalog(&conversation.user)
            .await
            .inspect_err(|error| {
                if let McpError::Failed(message) = error {
                    tracing::warn!(%message, "no tool catalog");
                }
            })?;
        run.catalog = Some(catalog.clone());
        Ok(catalog)
    }

    /// One model turn; stores what it said. `false` when the loop should stop.
    async fn ask_model(
        &self,
        conversation: &Conversation,
        transcript: &Transcript,
        run: &mut RunState,
    ) -> anyhow::Result<bool> {
        let id = &conversation.id;
        let catalog = match self.catalog(conversation, run).await {
            Ok(catalog) => catalog,
            Err(McpError::SignInRequired) => {
                self.journal
                    .add_message(
                        id,
                        Role::Notice,
                        "Your sign-in has expired. Please sign in again to continue.",
                    )
                    .await?;
                return Ok(false);
            }
            Err(McpError::Failed(_) | McpError::NotConnected) => Arc::new(Catalog::default()),
        };
        let messages = model::history(&self.settings.system_prompt, transcript);
        let tools = model::tools(&catalog);
        let journal = &self.journal;
        let mut on_text = |text: &str| {
            journal.tell(
                id,
                Change::Streaming((!text.is_empty()).then(|| text.to_owned())),
            );
        };
        let reply = match self.model.complete(&messages, &tools, &mut on_text).await {
            Ok(reply) => reply,
            Err(error) => {
                self.journal.tell(id, Change::Streaming(None));
                self.journal
                    .add_message(
                        id,
                        Role::Notice,
                        &format!(
                            "{error} Your message is kept; send another message to try again."
                        ),
                    )
                    .await?;
                return Ok(false);
            }
        };
        // Said once per run, just before the reply is stored, so the answer reads as made without those
        // tools. Not before the model call: a notice left last by a crash would end the turn unanswered
        // (`drive` stops at a notice).
        if !run.told_unavailable {
            run.told_unavailable = true;
            let unavailable: Vec<String> = catalog
                .unavailable()
                .map(|(server, why)| format!("{server} ({why})"))
                .collect();
            if !unavailable.is_empty() {
                self.journal
                    .add_message(
                        id,
                        Role::Notice,
                        &format!(
                            "Unavailable: {}. Their tools are not offered in this turn; they come back when the server does.",
                            unavailable.join(", ")
                        ),
                    )
                    .await?;
            }
        }
        self.store_reply(conversation, &catalog, reply).await
    }

    /// Stores the reply with its proposed calls (decided by the mode where it decides); calls that cannot
    /// run are stored (and audited) as failed, so the model hears why. `true` when there were calls.
    async fn store_reply(
        &self,
        conversation: &Conversation,
        catalog: &Catalog,
        reply: ModelReply,
    ) -> anyhow::Result<bool> {
        let calls: Vec<(NewCall, Option<Finish>)> = reply
            .calls
            .iter()
            .map(|proposed| {
                let tool = catalog.find(&proposed.name);
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
                let object =
                    serde_json::from_str::<Value>(&proposed.arguments).is_ok_and(|v| v.is_object());
                let failure = if tool.is_none() {
                    Some(Finish::failed(format!(
                        "There is no tool named {:?}.",
                        proposed.name
                    )))
                } else if !object {
                    Some(Finish::failed("The arguments are not a JSON object."))
                } else {
                    let facts = CallFacts {
                        function_name: &call.function_name,
                        read_only: call.read_only,
                        destructive: call.destructive,
                    };
                    if let Some(by) = automatic_decision(conversation, facts) {
                        call.status = CallStatus::Approved;
                        call.decided_by = Some(by);
                    }
                    None
                };
                (call, failure)
            })
            .collect();
        let any_calls = !calls.is_empty();
        self.journal
            .add_reply(&conversation.id, &reply.text, calls)
            .await?;
        Ok(any_calls)
    }

    /// Runs one approved call as the conversation's user.
    async fn execute(
        &self,
        conversation: &Conversation,
        call: &Call,
        run: &mut RunState,
    ) -> anyhow::Result<()> {
        if !self.journal.start_call(&conversation.id, &call.id).await? {
            return Ok(());
        }
        let started = Instant::now();
        let finish = match self.call_tool(conversation, call, run).await {
            Ok(result) => {
                let failed = result.is_error == Some(true);
                Finish {
                    status: if failed {
                        CallStatus::Failed
                    } else {
                        CallStatus::Done
                    },
                    text: result_text(&result),
                    structured: result.structured_content.as_ref().map(Value::to_string),
                    is_error: failed,
                }
            }
            Err(message) => Finish::failed(message),
        };
        run.tool_time += started.elapsed();
        self.journal
            .finish_call(&conversation.id, &call.id, &finish)
            .await?;
        tracing::info!(conversation = %conversation.id, server = %call.server, tool = %call.tool, status = %finish.status, "tool call finished");
        Ok(())
    }

    async fn call_tool(
        &self,
        conversation: &Conversation,
        call: &Call,
        run: &mut RunState,
    ) -> Result<rmcp::model::CallToolResult, String> {
        let catalog = match self.catalog(conversation, run).await {
            Ok(catalog) => catalog,
            Err(McpError::SignInRequired) => {
                return Err("Your sign-in has expired; the tool was not called.".to_owned());
            }
            Err(McpError::NotConnected) => {
                return Err("This server is not connected; the tool was not called.".to_owned());
            }
            Err(McpError::Failed(message)) => return Err(message),
        };
        let Some(tool) = catalog.find_tool(&call.server, &call.tool) else {
            let withheld = catalog
                .withheld
                .iter()
                .find(|w| w.server_name == call.server);
            return Err(match withheld.map(|w| &w.reason) {
                Some(WithheldReason::NotConnected) => format!(
                    "The {} server is not connected (Connect it on the Connections page); the tool was not called.",
                    call.server
                ),
                Some(WithheldReason::Unavailable(why)) => format!(
                    "The {} server is unavailable ({why}); the tool was not called.",
                    call.server
                ),
                None => "This tool is no longer offered; it was not called.".to_owned(),
            });
        };
        let Ok(Value::Object(arguments)) = serde_json::from_str(&call.arguments) else {
            return Err("The arguments are not a JSON object.".to_owned());
        };
        if let Err(wait) = self.tool_calls.take(&conversation.user) {
            tracing::warn!(conversation = %conversation.id, "tool call over the user's rate limit");
            return Err(format!(
                "Rate limit: at most {} tool calls a minute; this call was not made. Try again in {} s.",
                self.tool_calls.limit().unwrap_or_default(),
                wait.as_secs()
            ));
        }
        let bridge = Bridge {
            asker: self.asker.clone(),
            conversation: conversation.clone(),
            call: call.clone(),
            client_name: self.client_name,
        };
        let limit = self.settings.tool_timeout + self.settings.elicitation_timeout;
        match tokio::time::timeout(
            limit,
            self.directory
                .call(&conversation.user, tool, arguments, bridge),
        )
        .await
        {
            Err(_) => Err("The tool did not finish in time.".to_owned()),
            Ok(Err(McpError::SignInRequired)) => {
                Err("Your sign-in has expired; the tool was not called.".to_owned())
            }
            Ok(Err(McpError::NotConnected)) => {
                Err("This server is not connected; the tool was not called.".to_owned())
            }
            Ok(Err(McpError::Failed(message))) => Err(message),
            Ok(Ok(result)) => Ok(result),
        }
    }
}
