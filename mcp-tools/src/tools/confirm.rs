//! Asking the user, through MCP elicitation, in either protocol generation: a form to confirm a
//! destructive action (deleting a note here, flagging an order in the sales server), or a URL to open
//! (third-party consent for Microsoft Graph).
//!
//! - Up to 2025-11-25 (sessions): the server sends `elicitation/create` to the client and awaits the
//!   answer on the same call.
//! - From 2026-07-28 (stateless): the tool answers with an input-required result carrying the question
//!   and a sealed state; the client asks the user and retries the call with the answer and the state.
//!   The state is authenticated and bound to the user and to what was asked (a note, a set of scopes),
//!   so a client cannot forge it or replay it for another user or another question.

use std::time::Duration;

use rand::RngCore;
use rmcp::{
    ErrorData, RoleServer,
    model::{
        BooleanSchema, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
        ElicitationSchema, InputRequest, InputRequests, InputRequiredResult,
        PrimitiveSchemaDefinition, ProtocolVersion, RequestStateCodec, SealOptions,
    },
    service::RequestContext,
};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;

/// Key of the question in the input requests / responses, and of the form's one field.
const ANSWER_KEY: &str = "confirm";
/// How long the user has to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// What the user decided, or that the question must be asked first.
pub enum Confirmation {
    /// 2026-07-28: return this to the client; it retries with the answer.
    Ask(InputRequiredResult),
    Accepted,
    Declined,
    Cancelled,
    /// The client did not declare elicitation support.
    Unsupported,
    /// No usable answer (timeout, transport error); the reason is safe to show.
    Failed(String),
}

/// A yes/no form: the question and its one checkbox.
pub struct FormQuestion<'a> {
    /// What is asked about (`note:<id>`, `order:<id>`): binds the 2026-07-28 state to it.
    pub subject: String,
    /// The message shown to the user.
    pub message: &'a str,
    /// The checkbox's title and description.
    pub title: &'a str,
    pub description: &'a str,
}

/// What the sealed state remembers between the two rounds: what was asked (`note:<id>`,
/// `consent:<scopes>`), also bound as associated data.
#[derive(Serialize, Deserialize)]
struct Pending {
    subject: String,
}

/// Which kind of elicitation a question needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Form,
    Url,
}

/// Whether the client declared support for `mode` (an `elicitation` capability naming neither mode
/// means form, as in 2025-06-18).
fn supports(context: &RequestContext<RoleServer>, mode: Mode) -> bool {
    let Some(elicitation) = context
        .client_capabilities()
        .and_then(|caps| caps.elicitation)
    else {
        return false;
    };
    match mode {
        Mode::Form => elicitation.form.is_some() || elicitation.url.is_none(),
        Mode::Url => elicitation.url.is_some(),
    }
}

fn stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// A random elicitation id (2025-11-25 URL mode needs one; 2026-07-28 ignores it).
fn elicitation_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals and opens the round-trip state with a per-process random key.
pub struct Confirmer {
    codec: RequestStateCodec,
}

impl Confirmer {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self {
            codec: RequestStateCodec::new_unchecked(key.to_vec()),
        }
    }

    /// Asks whether to delete note `note_id` (a boolean form).
    pub async fn confirm(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        note_id: i64,
        message: &str,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Confirmation, ErrorData> {
        let question = FormQuestion {
            subject: format!("note:{note_id}"),
            message,
            title: "Delete this note",
            description: "Leave checked and accept to delete; decline to keep the note.",
        };
        self.confirm_form(context, owner, &question, state, responses)
            .await
    }

    /// Asks `question` as a boolean form: the first round asks (or awaits the answer, with sessions),
    /// the 2026-07-28 retry carrying `state` and `responses` reads the answer.
    pub async fn confirm_form(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        question: &FormQuestion<'_>,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Confirmation, ErrorData> {
        if !supports(context, Mode::Form) {
            return Ok(Confirmation::Unsupported);
        }
        let subject = &question.subject;
        if let Some(sealed) = state.filter(|_| stateless(context)) {
            return self.answer(owner, subject, &sealed, responses);
        }
        self.ask(context, owner, subject, form(question)).await
    }

    /// Asks the user to open `url` (URL mode) and to accept once done there. `subject` names what is
    /// asked, for binding the 2026-07-28 state. The second round of 2026-07-28 goes to
    /// [`Confirmer::url_answer`].
    pub async fn open_url(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        subject: &str,
        message: &str,
        url: &url::Url,
    ) -> Result<Confirmation, ErrorData> {
        if !supports(context, Mode::Url) {
            return Ok(Confirmation::Unsupported);
        }
        let params = ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: message.to_owned(),
            url: url.to_string(),
            elicitation_id: elicitation_id(),
        };
        self.ask(context, owner, subject, params).await
    }

    /// 2026-07-28: the user's answer to a URL question asked by [`Confirmer::open_url`], from the retried
    /// call's sealed state and input responses; `None` when this call is no such retry.
    pub fn url_answer(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        subject: &str,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Option<Confirmation>, ErrorData> {
        match state.filter(|_| stateless(context)) {
            Some(sealed) => self.answer(owner, subject, &sealed, responses).map(Some),
            None => Ok(None),
        }
    }

    /// First round: await the answer (sessions) or return the question with sealed state (stateless).
    async fn ask(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        subject: &str,
        params: ElicitRequestParams,
    ) -> Result<Confirmation, ErrorData> {
        if !stateless(context) {
            let answer = context
                .peer
                .create_elicitation_with_timeout(params, Some(ANSWER_TIMEOUT))
                .await;
            return Ok(match answer {
                Ok(result) => decision(&result),
                Err(error) => {
                    tracing::info!(%error, "elicitation did not complete");
                    Confirmation::Failed("no answer from the client".into())
                }
            });
        }
        let binding = binding(owner, subject);
        let pending = self
            .codec
            .seal_json_with(
                &Pending {
                    subject: subject.to_owned(),
                },
                &SealOptions::new()
                    .associated_data(binding.as_bytes())
                    .ttl(ANSWER_TIMEOUT),
            )
            .map_err(|_| ErrorData::internal_error("cannot seal request state", None))?;
        let mut requests = InputRequests::new();
        requests.insert(
            ANSWER_KEY.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(params)),
        );
        Ok(Confirmation::Ask(InputRequiredResult::new(
            Some(requests),
            Some(pending),
        )))
    }

    /// Second round (stateless): open the state, check it belongs to this user and question, read the
    /// answer.
    fn answer(
        &self,
        owner: &Principal,
        subject: &str,
        sealed: &str,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Confirmation, ErrorData> {
        let binding = binding(owner, subject);
        let pending: Pending = self
            .codec
            .open_json_with(sealed, binding.as_bytes())
            .map_err(|_| ErrorData::invalid_params("requestState is invalid or expired", None))?;
        if pending.subject != subject {
            return Err(ErrorData::invalid_params(
                "requestState does not belong to this call",
                None,
            ));
        }
        let answer = responses
            .and_then(|mut r| r.remove(ANSWER_KEY))
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("inputResponses lacks `{ANSWER_KEY}`"), None)
            })?;
        let result: ElicitResult = serde_json::from_value(answer).map_err(|error| {
            ErrorData::invalid_params(format!("inputResponses.{ANSWER_KEY}: {error}"), None)
        })?;
        Ok(decision(&result))
    }
}

/// Ties sealed state to one user and one question.
fn binding(owner: &Principal, subject: &str) -> String {
    format!(
        "{}\n{}\n{}\n{subject}",
        owner.issuer, owner.tenant_id, owner.user_id
    )
}

fn form(question: &FormQuestion<'_>) -> ElicitRequestParams {
    let mut schema = ElicitationSchema::builder().property(
        ANSWER_KEY,
        PrimitiveSchemaDefinition::Boolean(
            BooleanSchema::new()
                .title(question.title.to_owned())
                .description(question.description.to_owned())
                .with_default(true),
        ),
    );
    schema.required.push(ANSWER_KEY.to_owned());
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question.message.to_owned(),
        requested_schema: schema.build_unchecked(),
    }
}

/// Accept proceeds unless the form's box was explicitly unchecked.
fn decision(result: &ElicitResult) -> Confirmation {
    match result.action {
        ElicitationAction::Accept => {
            let unchecked = result
                .content
                .as_ref()
                .and_then(|content| content.get(ANSWER_KEY))
                .and_then(serde_json::Value::as_bool)
                == Some(false);
            if unchecked {
                Confirmation::Declined
            } else {
                Confirmation::Accepted
            }
        }
        ElicitationAction::Decline => Confirmation::Declined,
        // Cancel, and any action a newer protocol may add: do nothing.
        _ => Confirmation::Cancelled,
    }
}
