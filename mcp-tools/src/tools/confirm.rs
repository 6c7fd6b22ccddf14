//! Asking the user to confirm, through MCP elicitation, in either protocol generation.
//!
//! - Up to 2025-11-25 (sessions): the server sends `elicitation/create` to the client and awaits the
//!   answer on the same call.
//! - From 2026-07-28 (stateless): the tool answers with an input-required result carrying the question
//!   and a sealed state; the client asks the user and retries the call with the answer and the state.
//!   The state is authenticated (and bound to the user and the note), so a client cannot forge or replay
//!   it for another user or another note.

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

/// Key of the confirmation in the input requests / responses.
const CONFIRM_KEY: &str = "confirm";
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

/// What the sealed state remembers between the two rounds.
#[derive(Serialize, Deserialize)]
struct Pending {
    note_id: i64,
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

    pub async fn confirm(
        &self,
        context: &RequestContext<RoleServer>,
        owner: &Principal,
        note_id: i64,
        message: &str,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Confirmation, ErrorData> {
        let supports_elicitation = context
            .client_capabilities()
            .is_some_and(|caps| caps.elicitation.is_some());
        if !supports_elicitation {
            return Ok(Confirmation::Unsupported);
        }
        let stateless = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        if !stateless {
            let answer = context
                .peer
                .create_elicitation_with_timeout(form(message), Some(ANSWER_TIMEOUT))
                .await;
            return Ok(match answer {
                Ok(result) => decision(&result),
                Err(error) => {
                    tracing::info!(%error, "elicitation did not complete");
                    Confirmation::Failed("no answer from the client".into())
                }
            });
        }

        let binding = binding(owner, note_id);
        let Some(sealed) = state else {
            let pending = self
                .codec
                .seal_json_with(
                    &Pending { note_id },
                    &SealOptions::new()
                        .associated_data(binding.as_bytes())
                        .ttl(ANSWER_TIMEOUT),
                )
                .map_err(|_| ErrorData::internal_error("cannot seal request state", None))?;
            let mut requests = InputRequests::new();
            requests.insert(
                CONFIRM_KEY.to_owned(),
                InputRequest::Elicitation(ElicitRequest::new(form(message))),
            );
            return Ok(Confirmation::Ask(InputRequiredResult::new(
                Some(requests),
                Some(pending),
            )));
        };
        let pending: Pending = self
            .codec
            .open_json_with(&sealed, binding.as_bytes())
            .map_err(|_| ErrorData::invalid_params("requestState is invalid or expired", None))?;
        if pending.note_id != note_id {
            return Err(ErrorData::invalid_params(
                "requestState does not belong to this call",
                None,
            ));
        }
        let answer = responses
            .and_then(|mut r| r.remove(CONFIRM_KEY))
            .ok_or_else(|| ErrorData::invalid_params("inputResponses lacks `confirm`", None))?;
        let result: ElicitResult = serde_json::from_value(answer).map_err(|error| {
            ErrorData::invalid_params(format!("inputResponses.confirm: {error}"), None)
        })?;
        Ok(decision(&result))
    }
}

/// Ties sealed state to one user and one note.
fn binding(owner: &Principal, note_id: i64) -> String {
    format!(
        "{}\n{}\n{}\n{note_id}",
        owner.issuer, owner.tenant_id, owner.user_id
    )
}

fn form(message: &str) -> ElicitRequestParams {
    let mut schema = ElicitationSchema::builder().property(
        CONFIRM_KEY,
        PrimitiveSchemaDefinition::Boolean(
            BooleanSchema::new()
                .title("Delete this note")
                .description("Leave checked and accept to delete; decline to keep the note.")
                .with_default(true),
        ),
    );
    schema.required.push(CONFIRM_KEY.to_owned());
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message.to_owned(),
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
                .and_then(|content| content.get(CONFIRM_KEY))
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
