//! Elicitation: an MCP server asking the user for input during a tool call.
//!
//! - [`Bridge`]: the MCP client handler of one tool call; both protocol generations reach it (rmcp turns
//!   2026-07-28 input-required results into the same `create_elicitation` call as 2025-11-25 server
//!   requests). It declares form and URL elicitation, checks each request (a form must render, a URL
//!   must be a plain absolute http(s) URL) and hands it to the front-end's [`Asker`]; anything else is
//!   declined without asking.
//! - `deferred`: [`Deferred`], an [`Asker`] for front-ends that answer later, from another request or
//!   another instance (the web): the request is stored and shown, the call waits (bounded), and
//!   [`Deferred::answer`] delivers the user's answer, checked against the schema (a URL request takes
//!   none), to exactly the request it belongs to.

mod deferred;

use std::sync::Arc;

pub use self::deferred::Deferred;

use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationCapability,
        FormElicitationCapability, Implementation, UrlElicitationCapability,
    },
    service::RequestContext,
};
use serde_json::Value;

use crate::{
    domain::{Call, Conversation, ElicitationAction, ElicitationKind, ElicitationUrl},
    forms,
    ports::Asker,
};

/// Answers one tool call's elicitation requests by asking the user through the front-end.
#[derive(Clone)]
pub struct Bridge {
    pub(crate) asker: Arc<dyn Asker>,
    pub(crate) conversation: Conversation,
    pub(crate) call: Call,
    pub(crate) client_name: &'static str,
}

impl ClientHandler for Bridge {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_elicitation_with(
                    ElicitationCapability::new()
                        .with_form(FormElicitationCapability::new())
                        .with_url(UrlElicitationCapability::new()),
                )
                .build(),
            Implementation::new(self.client_name, env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        // rmcp answers a server's request in a task of its own: when the call is given up (the user
        // cancelled the turn, the tool timed out, the connection closed) only this token says so, and
        // the question must not stay open in front of the user.
        tokio::select! {
            result = self.ask(request) => Ok(result),
            () = context.ct.cancelled() => {
                Ok(ElicitResult::new(rmcp::model::ElicitationAction::Cancel))
            }
        }
    }
}

impl Bridge {
    /// The handler of one call outside the loop (a console's single `call`): requests reach `asker`
    /// about `call` of `conversation`, which need not be stored.
    pub fn new(
        asker: Arc<dyn Asker>,
        conversation: Conversation,
        call: Call,
        client_name: &'static str,
    ) -> Self {
        Self {
            asker,
            conversation,
            call,
            client_name,
        }
    }

    async fn ask(&self, request: ElicitRequestParams) -> ElicitResult {
        use rmcp::model::ElicitationAction as Action;
        let (message, kind) = match request {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => {
                if let Err(reason) = forms::form(&requested_schema) {
                    tracing::warn!(%reason, server = %self.call.server, "form elicitation declined");
                    return ElicitResult::new(Action::Decline);
                }
                let schema = match serde_json::to_string(&requested_schema) {
                    Ok(schema) => schema,
                    Err(error) => {
                        tracing::error!(%error, "an elicitation schema could not be stored");
                        return ElicitResult::new(Action::Cancel);
                    }
                };
                (message, ElicitationKind::Form { schema })
            }
            ElicitRequestParams::UrlElicitationParams { message, url, .. } => {
                match ElicitationUrl::parse(&url) {
                    Ok(url) => (message, ElicitationKind::Url { url }),
                    Err(reason) => {
                        // The URL itself is not logged: it may carry a one-time code.
                        tracing::warn!(%reason, server = %self.call.server, "URL elicitation declined");
                        return ElicitResult::new(Action::Decline);
                    }
                }
            }
            // A mode a newer protocol may add: not declared, so not offered.
            _ => return ElicitResult::new(Action::Decline),
        };
        let reply = self
            .asker
            .elicit(&self.conversation, &self.call, &message, &kind)
            .await;
        let result = ElicitResult::new(match reply.action {
            ElicitationAction::Accept => Action::Accept,
            ElicitationAction::Decline => Action::Decline,
            ElicitationAction::Cancel => Action::Cancel,
        });
        match (reply.content, &kind) {
            // Only a form's acceptance carries content; a URL request is answered on the other page.
            (Some(content), ElicitationKind::Form { .. })
                if reply.action == ElicitationAction::Accept =>
            {
                result.with_content(Value::Object(content))
            }
            _ => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use async_trait::async_trait;
    use service_kit::sync::lock;

    use crate::{
        AgentError,
        domain::{Decision, ElicitationStatus},
        journal::Journal,
        ports::ElicitReply,
    };
    use rmcp::model::{ElicitationAction as Action, ElicitationSchema, PrimitiveSchemaDefinition};
    use serde_json::{Map, json};

    use super::*;
    use crate::{
        domain::{ApprovalMode, ArgsHash, CallStatus, ConversationId, UserKey},
        memory::MemoryStore,
        ports::{Change, ConversationReads, Notifier},
    };

    struct Quiet;

    impl Notifier for Quiet {
        fn notify(&self, _: &ConversationId, _: Change) {}
    }

    /// Remembers what it was asked; answers with a fixed reply.
    struct Recorder {
        asked: Mutex<Vec<(String, ElicitationKind)>>,
        reply: ElicitReply,
    }

    impl Recorder {
        fn new(reply: ElicitReply) -> Arc<Self> {
            Arc::new(Self {
                asked: Mutex::new(Vec::new()),
                reply,
            })
        }

        fn asked(&self) -> Vec<(String, ElicitationKind)> {
            lock(&self.asked).clone()
        }
    }

    #[async_trait]
    impl Asker for Recorder {
        async fn approve(&self, _: &Conversation, _: &Call) -> Option<Decision> {
            None
        }

        async fn elicit(
            &self,
            _: &Conversation,
            _: &Call,
            message: &str,
            kind: &ElicitationKind,
        ) -> ElicitReply {
            lock(&self.asked).push((message.to_owned(), kind.clone()));
            self.reply.clone()
        }
    }

    fn conversation() -> Conversation {
        Conversation {
            id: ConversationId::random(),
            user: UserKey::from("tenant.user"),
            title: "t".into(),
            mode: ApprovalMode::Elicitation,
            always_allow: Vec::new(),
            updated_at: 0,
        }
    }

    fn call() -> Call {
        Call {
            id: crate::domain::CallId::random(),
            message_id: crate::domain::MessageId::random(),
            model_call_id: "call_1".into(),
            function_name: "list_my_events".into(),
            server: "tools".into(),
            tool: "list_my_events".into(),
            arguments: "{}".into(),
            args_hash: ArgsHash::of("{}"),
            read_only: true,
            destructive: false,
            status: CallStatus::Running,
            decided_by: None,
            result: None,
            structured: None,
            is_error: false,
        }
    }

    fn bridge(asker: Arc<dyn Asker>) -> Bridge {
        Bridge {
            asker,
            conversation: conversation(),
            call: call(),
            client_name: "portcullis-test",
        }
    }

    fn url_request(url: &str) -> ElicitRequestParams {
        ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: "Grant Calendars.Read".into(),
            url: url.into(),
            elicitation_id: String::new(),
        }
    }

    fn accept_with_content() -> ElicitReply {
        let mut content = Map::new();
        content.insert("secret".into(), json!("typed by mistake"));
        ElicitReply {
            action: ElicitationAction::Accept,
            content: Some(content),
        }
    }

    #[test]
    fn the_client_declares_form_and_url_elicitation() {
        let info = bridge(Recorder::new(ElicitReply::decline())).get_info();
        let elicitation = info.capabilities.elicitation.expect("elicitation declared");
        assert!(elicitation.form.is_some(), "form mode");
        assert!(elicitation.url.is_some(), "URL mode");
    }

    #[tokio::test]
    async fn url_requests_reach_the_asker_checked_and_are_answered_without_content() {
        // Even an asker that returns content cannot make a URL answer carry it.
        let asker = Recorder::new(accept_with_content());
        let bridge = bridge(asker.clone());
        let result = bridge
            .ask(url_request(
                "https://login.example.com/consent?scope=Calendars.Read",
            ))
            .await;
        assert_eq!(result.action, Action::Accept);
        assert_eq!(result.content, None);
        let asked = asker.asked();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].0, "Grant Calendars.Read");
        let ElicitationKind::Url { url } = &asked[0].1 else {
            panic!("{:?}", asked[0].1)
        };
        assert_eq!(
            url.as_str(),
            "https://login.example.com/consent?scope=Calendars.Read"
        );
        assert_eq!(url.host(), "login.example.com");

        for bad in [
            "javascript:alert(document.cookie)",
            "https://login.example.com@evil.example/",
            "/consent",
            "data:text/html,<script>alert(1)</script>",
            "https://evil.example/\nhttps://login.example.com/",
        ] {
            let result = bridge.ask(url_request(bad)).await;
            assert_eq!(result.action, Action::Decline, "{bad}");
            assert_eq!(result.content, None);
        }
        assert_eq!(asker.asked().len(), 1, "refused URLs never reach the user");

        for (reply, action) in [
            (ElicitReply::decline(), Action::Decline),
            (ElicitReply::cancel(), Action::Cancel),
        ] {
            let result = self::bridge(Recorder::new(reply))
                .ask(url_request("http://127.0.0.1:3400/consent"))
                .await;
            assert_eq!((result.action, result.content), (action, None));
        }
    }

    #[tokio::test]
    async fn form_requests_carry_their_schema_and_their_accepted_content() {
        let asker = Recorder::new(accept_with_content());
        let schema = ElicitationSchema::builder()
            .property(
                "confirm",
                PrimitiveSchemaDefinition::Boolean(rmcp::model::BooleanSchema::new()),
            )
            .build_unchecked();
        let result = bridge(asker.clone())
            .ask(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "Sure?".into(),
                requested_schema: schema.clone(),
            })
            .await;
        assert_eq!(result.action, Action::Accept);
        assert_eq!(
            result.content,
            Some(json!({ "secret": "typed by mistake" }))
        );
        let ElicitationKind::Form { schema: stored } = &asker.asked()[0].1 else {
            panic!()
        };
        assert_eq!(
            serde_json::from_str::<ElicitationSchema>(stored).unwrap(),
            schema
        );
    }

    async fn pending(
        store: &MemoryStore,
        conversation: &Conversation,
    ) -> crate::domain::Elicitation {
        for _ in 0..200 {
            let transcript = store.transcript(&conversation.id).await.unwrap();
            if let Some(request) = transcript
                .elicitations
                .into_iter()
                .find(|e| e.status == ElicitationStatus::Pending)
            {
                return request;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pending request");
    }

    #[tokio::test]
    async fn deferred_stores_url_requests_and_answers_them_without_content() {
        let store = Arc::new(MemoryStore::default());
        let journal = Journal::new(store.clone(), Arc::new(Quiet));
        let deferred = Arc::new(Deferred::new(journal.clone(), Duration::from_secs(10)));
        let conversation = journal
            .create_conversation(&UserKey::from("tenant.user"), ApprovalMode::Elicitation)
            .await
            .unwrap();
        let kind = ElicitationKind::Url {
            url: ElicitationUrl::parse("https://login.example.com/consent").unwrap(),
        };
        let waiting = {
            let (deferred, conversation, kind) =
                (deferred.clone(), conversation.clone(), kind.clone());
            tokio::spawn(async move {
                deferred
                    .elicit(&conversation, &call(), "Grant access", &kind)
                    .await
            })
        };
        let request = pending(&store, &conversation).await;
        assert_eq!(request.kind, kind);
        assert_eq!(request.message, "Grant access");

        // Values are refused (the step happens on the linked page); the request still waits.
        let refused = deferred
            .answer(
                &conversation,
                &request.id,
                ElicitationAction::Accept,
                &[("code".into(), "123456".into())],
            )
            .await;
        assert!(
            matches!(refused, Err(AgentError::Invalid(_))),
            "{refused:?}"
        );
        deferred
            .answer(&conversation, &request.id, ElicitationAction::Accept, &[])
            .await
            .unwrap();
        let reply = waiting.await.unwrap();
        assert_eq!(
            reply,
            ElicitReply {
                action: ElicitationAction::Accept,
                content: None
            }
        );
        let stored = store
            .elicitation(&conversation.id, &request.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, ElicitationStatus::Accepted);
        // Answered once only.
        let again = deferred
            .answer(&conversation, &request.id, ElicitationAction::Decline, &[])
            .await;
        assert!(matches!(again, Err(AgentError::Conflict(_))), "{again:?}");

        // Declining ignores values, as for forms.
        let waiting = {
            let (deferred, conversation, kind) =
                (deferred.clone(), conversation.clone(), kind.clone());
            tokio::spawn(async move {
                deferred
                    .elicit(&conversation, &call(), "Grant access", &kind)
                    .await
            })
        };
        let request = pending(&store, &conversation).await;
        deferred
            .answer(
                &conversation,
                &request.id,
                ElicitationAction::Decline,
                &[("x".into(), "y".into())],
            )
            .await
            .unwrap();
        assert_eq!(waiting.await.unwrap(), ElicitReply::decline());
    }
}
