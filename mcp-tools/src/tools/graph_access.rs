//! How a Graph tool gets its token: the exchange for the call's one scope and, when the user has not
//! consented, the consent journey — a URL-mode elicitation to the provider's consent page for clients
//! that declared it (then one retry), a tool error saying what to grant and where for the others.

use std::sync::Arc;

use rmcp::{ErrorData, RoleServer, model::CallToolResponse, service::RequestContext};

use super::{Tools, confirm::Confirmation, failure, inbound_token, principal};
use crate::graph::{CallError, ExchangeError, Graph, GraphToken, Permission};

fn unavailable() -> CallToolResponse {
    failure(
        "Microsoft Graph is unavailable for your account right now (the token exchange failed). \
         Try again later.",
    )
    .into()
}

fn not_granted(permission: Permission) -> CallToolResponse {
    failure(format!(
        "Consent not granted: Microsoft Graph access ({}) was not given, so nothing was read.",
        permission.as_str()
    ))
    .into()
}

fn still_missing(scopes: &[String], url: &url::Url) -> CallToolResponse {
    failure(format!(
        "Consent is still missing for {}. Grant it at {url} and then try again.",
        scopes.join(" ")
    ))
    .into()
}

/// The exchange retried after the user said they consented: the token, or why there is still none.
#[allow(clippy::result_large_err)] // the refusal is the tool's answer, built once per call
fn after_consent(
    exchanged: Result<Arc<GraphToken>, ExchangeError>,
) -> Result<Arc<GraphToken>, CallToolResponse> {
    match exchanged {
        Ok(token) => Ok(token),
        Err(ExchangeError::ConsentRequired {
            missing_scopes,
            consent_url,
        }) => Err(still_missing(&missing_scopes, &consent_url)),
        Err(ExchangeError::Failed) => Err(unavailable()),
    }
}

fn consent_instructions(
    permission: Permission,
    scopes: &[String],
    url: &url::Url,
    tool: &str,
) -> String {
    format!(
        "Microsoft Graph needs your consent for {} before {tool} can work. Grant the delegated \
         permission {} to the Portcullis MCP tools by opening {url} , then call {tool} again.",
        permission.as_str(),
        scopes.join(" ")
    )
}

impl Tools {
    pub(super) fn graph(&self) -> Result<&Arc<Graph>, ErrorData> {
        // The Graph tools are routed only when Graph is configured.
        self.shared
            .graph
            .as_ref()
            .ok_or_else(|| ErrorData::internal_error("Microsoft Graph is not configured", None))
    }

    /// A Graph token for `permission`, or the answer to return instead (consent question, tool error).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn graph_token(
        &self,
        graph: &Graph,
        permission: Permission,
        tool: &str,
        parts: &axum::http::request::Parts,
        context: &RequestContext<RoleServer>,
        state: Option<String>,
        responses: Option<rmcp::model::InputResponses>,
    ) -> Result<Result<Arc<GraphToken>, CallToolResponse>, ErrorData> {
        let owner = principal(parts)?;
        let inbound = inbound_token(parts)?;
        let scope = graph.scope(permission);
        let subject = format!("consent:{scope}");
        let confirmer = &self.shared.confirmer;
        // 2026-07-28, second round: the user answered the consent question.
        let answered = confirmer.url_answer(context, &owner, &subject, state, responses)?;
        match answered {
            Some(Confirmation::Accepted) | None => {}
            Some(_) => return Ok(Err(not_granted(permission))),
        }
        let exchanged = graph.exchanger.token(&owner, &inbound, &scope).await;
        if answered.is_some() {
            return Ok(after_consent(exchanged));
        }
        let (missing_scopes, consent_url) = match exchanged {
            Ok(token) => return Ok(Ok(token)),
            Err(ExchangeError::Failed) => return Ok(Err(unavailable())),
            Err(ExchangeError::ConsentRequired {
                missing_scopes,
                consent_url,
            }) => (missing_scopes, consent_url),
        };
        let message = format!(
            "Microsoft Graph needs your consent for {}. Open the link, grant access, then choose Accept.",
            permission.as_str()
        );
        let confirmation = confirmer
            .open_url(context, &owner, &subject, &message, &consent_url)
            .await?;
        Ok(Err(match confirmation {
            Confirmation::Ask(input_required) => input_required.into(),
            Confirmation::Accepted => {
                return Ok(after_consent(
                    graph.exchanger.token(&owner, &inbound, &scope).await,
                ));
            }
            Confirmation::Declined | Confirmation::Cancelled => not_granted(permission),
            Confirmation::Unsupported => failure(consent_instructions(
                permission,
                &missing_scopes,
                &consent_url,
                tool,
            ))
            .into(),
            Confirmation::Failed(reason) => failure(format!(
                "Could not ask for consent ({reason}). {}",
                consent_instructions(permission, &missing_scopes, &consent_url, tool)
            ))
            .into(),
        }))
    }

    /// A Graph call's failure as a tool error; a refused token is dropped so the next call exchanges
    /// again.
    pub(super) async fn graph_failure(
        &self,
        graph: &Graph,
        parts: &axum::http::request::Parts,
        permission: Permission,
        error: CallError,
    ) -> Result<CallToolResponse, ErrorData> {
        match error {
            CallError::Unauthorized(status) => {
                let owner = principal(parts)?;
                graph
                    .exchanger
                    .forget(&owner, &graph.scope(permission))
                    .await;
                tracing::warn!(%status, user = %owner.user_id, "Graph refused an exchanged token");
                Ok(failure("Microsoft Graph refused access this time; try again.").into())
            }
            CallError::Other(error) => {
                tracing::error!(error = format!("{error:#}"), "Graph call failed");
                Ok(failure("Microsoft Graph did not answer as expected; try again later.").into())
            }
        }
    }
}
