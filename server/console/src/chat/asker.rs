//! The agent core's [`Asker`] at the terminal: a proposed call the mode does not decide is shown and
//! answered y / n / a (always, offered for read-only tools only — never for a destructive one); an MCP
//! server's request for input becomes the prompts of [`crate::elicit`]. In a chat the requests are
//! stored with the conversation (as the web stores them), and answered here.

use std::sync::Arc;

use agent::{
    Journal,
    domain::{Call, Conversation, Decision, ElicitationAction, ElicitationId, ElicitationKind},
    mcp::ServerSpec,
    ports::{Asker, ElicitReply},
};
use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::{
    auth::browser,
    chat::printer::Screen,
    elicit::{self, UrlChoice},
    prompt::{self, Approval, ApprovalRequest},
    terminal::{Input, Stream},
};

/// Where the asker writes.
#[derive(Clone)]
pub enum Output {
    /// In order with the chat's other output.
    Screen(Screen),
    /// Straight to a stream (`call`, whose stdout is the result).
    Direct(Stream),
}

impl Output {
    fn print(&self, text: &str) {
        match self {
            Self::Screen(screen) => screen.print(text),
            Self::Direct(stream) => stream.write(text),
        }
    }

    async fn flush(&self) {
        if let Self::Screen(screen) = self {
            screen.flush().await;
        }
    }
}

/// Asks at the terminal.
pub struct TerminalAsker {
    pub input: Arc<Mutex<Input>>,
    pub output: Output,
    /// The configured servers, to show a call's server URL.
    pub servers: Vec<ServerSpec>,
    /// A chat's journal: requests for input are stored with the conversation. `None` for `call`.
    pub journal: Option<Journal>,
    /// Open a URL request's page in the browser when accepted (it is printed either way).
    pub open_browser: bool,
}

impl TerminalAsker {
    fn server_url(&self, name: &str) -> String {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.url.to_string())
            .unwrap_or_default()
    }

    /// The form or link prompt; the user's answer.
    async fn ask(&self, call: &Call, message: &str, kind: &ElicitationKind) -> ElicitReply {
        let request = elicit::Request {
            server: &call.server,
            tool: &call.tool,
            message,
        };
        let output = self.output.clone();
        let mut out = move |text: &str| output.print(text);
        self.output.flush().await;
        let mut input = self.input.lock().await;
        match kind {
            ElicitationKind::Form { schema } => {
                elicit::form(&mut input, &mut out, &request, schema).await
            }
            ElicitationKind::Url { url } => {
                match elicit::url(&mut input, &mut out, &request, url).await {
                    UrlChoice::Open => {
                        let opened = self.open_browser && browser::open(url.as_str());
                        out(&if opened {
                            format!("Opened {} in your browser; finish there.\n", url.host())
                        } else {
                            format!("Open this page to continue:\n  {}\n", url.as_str())
                        });
                        ElicitReply {
                            action: ElicitationAction::Accept,
                            content: None,
                        }
                    }
                    UrlChoice::Decline => ElicitReply::decline(),
                    UrlChoice::Cancel => ElicitReply::cancel(),
                }
            }
        }
    }
}

#[async_trait]
impl Asker for TerminalAsker {
    async fn approve(&self, _conversation: &Conversation, call: &Call) -> Option<Decision> {
        let arguments: Map<String, Value> = match serde_json::from_str(&call.arguments) {
            Ok(Value::Object(arguments)) => arguments,
            _ => Map::new(),
        };
        let request = ApprovalRequest {
            server: call.server.clone(),
            server_url: self.server_url(&call.server),
            tool: call.tool.clone(),
            read_only: call.read_only,
            destructive: call.destructive,
            arguments,
        };
        let output = self.output.clone();
        let mut out = move |text: &str| output.print(text);
        self.output.flush().await;
        let mut input = self.input.lock().await;
        // "Always" only where the agent allows it: read-only tools (never destructive ones).
        let offer_always = call.read_only && !call.destructive;
        Some(
            match prompt::approve(&mut input, &mut out, &request, offer_always).await {
                Approval::Yes => Decision::Approve,
                Approval::Always => Decision::ApproveAlways,
                Approval::No => Decision::Decline,
            },
        )
    }

    async fn elicit(
        &self,
        conversation: &Conversation,
        call: &Call,
        message: &str,
        kind: &ElicitationKind,
    ) -> ElicitReply {
        let Some(journal) = &self.journal else {
            return self.ask(call, message, kind).await;
        };
        let id = ElicitationId::random();
        if let Err(error) = journal
            .add_elicitation(&conversation.id, &id, &call.id, message, kind)
            .await
        {
            tracing::error!(
                error = format!("{error:#}"),
                "storing an elicitation failed"
            );
            return ElicitReply::cancel();
        }
        let reply = self.ask(call, message, kind).await;
        let answer = reply
            .content
            .as_ref()
            .map(|content| Value::Object(content.clone()).to_string());
        if let Err(error) = journal
            .close_elicitation(
                &conversation.id,
                &id,
                reply.action.status(),
                answer.as_deref(),
            )
            .await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "storing an elicitation's answer failed"
            );
        }
        reply
    }
}
