//! The MCP server surface: tools, one resource and one prompt, all acting as the authenticated user.
//!
//! - `handler`: the [`Tools`] `ServerHandler` (server info, and the routes to what follows).
//! - `utilities`: the stateless tools: random number, current date, weather.
//! - `notes`: the per-user note tools (add, list, delete after confirmation).
//! - `graph`: the Microsoft Graph tools (profile, calendar), only when an on-behalf-of client is
//!   configured; their consent question is a URL elicitation.
//! - `confirm`: the elicitation round trips (`delete_note`'s form, Graph's consent URL), for both
//!   protocol generations.
//! - `resources`: the `about` resource, rendered from the live tool list.
//! - `prompts`: the `daily_briefing` prompt.
//! - `params`: typed arguments whose failures are JSON-RPC invalid-params errors.
//! - this module: the state the handler shares and the helpers the tool families use.
//!
//! Who the user is comes only from the validated token (the HTTP layer attaches a [`Principal`] to the
//! request); nothing the model sends can choose whose data a tool touches.

mod confirm;
mod graph;
mod graph_access;
mod handler;
mod notes;
mod params;
mod prompts;
mod resources;
mod utilities;

use std::sync::Arc;

use serde::Serialize;

use rmcp::{
    ErrorData,
    handler::server::router::tool::ToolRouter,
    model::{CallToolResult, ContentBlock},
};

// The sales server reuses the elicitation round trips, the argument wrapper, the custom-request
// answers and the result shapes (`failure`, `structured`) rather than keeping copies.
pub(crate) use self::{
    confirm::{Confirmation, Confirmer, FormQuestion},
    handler::custom_request_error,
    params::Parameters,
};
pub use self::{
    graph::{ListEventsArgs, MAX_WINDOW_DAYS},
    notes::{AddNoteArgs, DeleteNoteArgs, EmptyArgs},
    prompts::BRIEFING_PROMPT,
    resources::ABOUT_URI,
    utilities::{CurrentDateArgs, RandomNumberArgs, WeatherArgs},
};
use crate::{
    auth::{InboundToken, Principal},
    graph::Graph,
    notes::NoteStore,
    weather::WeatherProvider,
};

/// State shared by every handler instance (one per session, or per request in stateless mode).
pub struct Shared {
    pub notes: NoteStore,
    pub weather: Arc<dyn WeatherProvider>,
    /// Microsoft Graph through an on-behalf-of exchange; `None` leaves its tools out of the router.
    pub graph: Option<Arc<Graph>>,
    confirmer: Confirmer,
    router: ToolRouter<Tools>,
}

impl Shared {
    pub fn new(
        notes: NoteStore,
        weather: Arc<dyn WeatherProvider>,
        graph: Option<Arc<Graph>>,
    ) -> Arc<Self> {
        let mut router = Tools::utility_router() + Tools::notes_router();
        if graph.is_some() {
            router += Tools::graph_router();
        }
        Arc::new(Self {
            notes,
            weather,
            graph,
            confirmer: Confirmer::new(),
            router,
        })
    }
}

/// The MCP handler.
#[derive(Clone)]
pub struct Tools {
    shared: Arc<Shared>,
}

impl Tools {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

fn text(result: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(result.into())])
}

/// A failure the model should see (a tool error, not a protocol error).
pub(crate) fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A successful result with both forms: `structuredContent` and a short text.
pub(crate) fn structured(
    value: &impl Serialize,
    text: String,
) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value)
        .map_err(|_| ErrorData::internal_error("cannot encode the result", None))?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    Ok(result)
}

/// The authenticated user of this request. Always present behind the auth middleware.
pub(crate) fn principal(parts: &axum::http::request::Parts) -> Result<Arc<Principal>, ErrorData> {
    parts
        .extensions
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request is not authenticated", None))
}

/// The token this request came with, for an on-behalf-of exchange only: the `Authorization` header the
/// auth middleware validated (it admits no request without one).
fn inbound_token(parts: &axum::http::request::Parts) -> Result<InboundToken, ErrorData> {
    crate::auth::bearer_token(&parts.headers)
        .map(InboundToken::new)
        .ok_or_else(|| ErrorData::internal_error("request is not authenticated", None))
}
