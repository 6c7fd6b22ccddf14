//! The MCP server surface: tools, one resource and one prompt, all acting as the authenticated user.
//!
//! - `params`: typed arguments whose failures are JSON-RPC invalid-params errors.
//! - `confirm`: the elicitation round trip `delete_note` uses, for both protocol generations.
//! - this module: the [`Tools`] handler.
//!
//! Who the user is comes only from the validated token (the HTTP layer attaches a [`Principal`] to the
//! request); nothing the model sends can choose whose data a tool touches.

mod confirm;
mod params;

use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use rand::Rng;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{
        router::tool::ToolRouter,
        tool::{Extension, InputResponses, RequestState},
    },
    model::{
        CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
        PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, Role,
        ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use self::{
    confirm::{Confirmation, Confirmer},
    params::Parameters,
};
use crate::{
    auth::Principal,
    notes::{MAX_NOTE_CHARS, NoteStore},
    weather::WeatherProvider,
};

/// URI of the resource that describes this server.
pub const ABOUT_URI: &str = "portcullis://server/about";
/// Name of the prompt template.
pub const BRIEFING_PROMPT: &str = "daily_briefing";

/// State shared by every handler instance (one per session, or per request in stateless mode).
pub struct Shared {
    pub notes: NoteStore,
    pub weather: Arc<dyn WeatherProvider>,
    confirmer: Confirmer,
    router: ToolRouter<Tools>,
}

impl Shared {
    pub fn new(notes: NoteStore, weather: Arc<dyn WeatherProvider>) -> Arc<Self> {
        Arc::new(Self {
            notes,
            weather,
            confirmer: Confirmer::new(),
            router: Tools::tool_router(),
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomNumberArgs {
    /// Smallest number that may be returned (inclusive).
    pub min: i64,
    /// Largest number that may be returned (inclusive).
    pub max: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentDateArgs {
    /// IANA time zone name such as `Europe/Paris` or `America/New_York`. Defaults to UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeatherArgs {
    /// City name, e.g. `Paris`.
    pub city: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNoteArgs {
    /// The note's text (at most 2000 characters).
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteNoteArgs {
    /// Id of the note to delete, as shown by `list_notes`.
    pub id: i64,
}

fn text(result: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(result.into())])
}

fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// The authenticated user of this request. Always present behind the auth middleware.
fn principal(parts: &axum::http::request::Parts) -> Result<Principal, ErrorData> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request is not authenticated", None))
}

/// Logs the detail, tells the client only that storage failed.
fn storage_error(error: anyhow::Error) -> ErrorData {
    tracing::error!(error = format!("{error:#}"), "notes storage failed");
    ErrorData::internal_error("notes storage is unavailable", None)
}

#[tool_router]
impl Tools {
    #[tool(
        description = "Returns a random integer between min and max, both inclusive.",
        annotations(
            title = "Random number",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_random_number(
        &self,
        Parameters(args): Parameters<RandomNumberArgs>,
    ) -> CallToolResult {
        if args.min > args.max {
            return failure(format!(
                "min ({}) must not be greater than max ({}).",
                args.min, args.max
            ));
        }
        text(rand::rng().random_range(args.min..=args.max).to_string())
    }

    #[tool(
        description = "Returns the current date and time, in UTC or in the given IANA time zone.",
        annotations(
            title = "Current date",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn get_current_date(
        &self,
        Parameters(args): Parameters<CurrentDateArgs>,
    ) -> CallToolResult {
        let zone = args.time_zone.as_deref().map(str::trim).unwrap_or("UTC");
        let Ok(tz) = zone.parse::<Tz>() else {
            return failure(format!(
                "Unknown time zone {zone:?}: use an IANA name such as Europe/Paris or America/New_York."
            ));
        };
        let now = Utc::now().with_timezone(&tz);
        text(format!(
            "{} ({}), {} {} (UTC{})",
            now.format("%Y-%m-%d"),
            now.format("%A"),
            now.format("%H:%M:%S"),
            tz.name(),
            now.format("%:z")
        ))
    }

    #[tool(
        description = "Returns the current weather for a city. The built-in provider serves offline demo data, not a real forecast.",
        annotations(
            title = "Weather",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn get_weather(&self, Parameters(args): Parameters<WeatherArgs>) -> CallToolResult {
        let city = args.city.trim();
        if city.is_empty() || city.chars().count() > 100 {
            return failure("city must be a name of 1 to 100 characters.");
        }
        match self.shared.weather.current(city).await {
            Ok(weather) => text(weather.to_string()),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "weather provider failed");
                failure(format!("No weather available for {city} right now."))
            }
        }
    }

    #[tool(
        description = "Saves a note for the signed-in user.",
        annotations(
            title = "Add note",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_note(
        &self,
        Parameters(args): Parameters<AddNoteArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = principal(&parts)?;
        let note_text = args.text.trim();
        if note_text.is_empty() {
            return Ok(failure("A note needs some text."));
        }
        if note_text.chars().count() > MAX_NOTE_CHARS {
            return Ok(failure(format!(
                "A note may hold at most {MAX_NOTE_CHARS} characters."
            )));
        }
        let note = self
            .shared
            .notes
            .add(&owner, note_text)
            .await
            .map_err(storage_error)?;
        Ok(text(format!("Saved note {}: {}", note.id, note.text)))
    }

    #[tool(
        description = "Lists the signed-in user's notes with their ids.",
        annotations(
            title = "List notes",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_notes(
        &self,
        Parameters(_): Parameters<EmptyArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = principal(&parts)?;
        let notes = self
            .shared
            .notes
            .list(&owner)
            .await
            .map_err(storage_error)?;
        if notes.is_empty() {
            return Ok(text("You have no notes."));
        }
        let lines: Vec<String> = notes
            .iter()
            .map(|n| format!("#{} ({}): {}", n.id, n.created_at, n.text))
            .collect();
        Ok(text(lines.join("\n")))
    }

    #[tool(
        description = "Deletes one of the signed-in user's notes by id, after the user confirms.",
        annotations(
            title = "Delete note",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_note(
        &self,
        Parameters(args): Parameters<DeleteNoteArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        let owner = principal(&parts)?;
        let notes = &self.shared.notes;
        let Some(note) = notes.get(&owner, args.id).await.map_err(storage_error)? else {
            return Ok(failure(format!("You have no note with id {}.", args.id)).into());
        };
        let message = format!("Delete note {}: \u{201c}{}\u{201d}?", note.id, note.text);
        let confirmation = self
            .shared
            .confirmer
            .confirm(&context, &owner, note.id, &message, state, responses)
            .await?;
        let outcome = match confirmation {
            Confirmation::Ask(input_required) => return Ok(input_required.into()),
            Confirmation::Unsupported => failure(
                "Deleting a note requires the user's confirmation, but this client does not support \
                 MCP elicitation. The note was kept.",
            ),
            Confirmation::Accepted => {
                if notes.delete(&owner, note.id).await.map_err(storage_error)? {
                    text(format!("Deleted note {}.", note.id))
                } else {
                    failure(format!("Note {} no longer exists.", note.id))
                }
            }
            Confirmation::Declined => text(format!(
                "The user declined: note {} was not deleted.",
                note.id
            )),
            Confirmation::Cancelled => text(format!(
                "The user cancelled: note {} was not deleted.",
                note.id
            )),
            Confirmation::Failed(reason) => failure(format!(
                "Could not get the user's confirmation ({reason}). Note {} was kept.",
                note.id
            )),
        };
        Ok(outcome.into())
    }
}

#[tool_handler(router = self.shared.router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "portcullis-mcp-tools",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Tools act for the signed-in user only. delete_note asks the user to confirm through \
             elicitation. Read portcullis://server/about for what each tool does with the user's data.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(ABOUT_URI, "about")
                .with_title("About this server")
                .with_description("The tools of this server and what each may do with your data.")
                .with_mime_type("text/markdown"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != ABOUT_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(self.about(), ABOUT_URI)]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                BRIEFING_PROMPT,
                Some(
                    "A short daily briefing: today's date, the weather in a city, and your notes.",
                ),
                Some(vec![
                    PromptArgument::new("city")
                        .with_title("City")
                        .with_description("City for the weather part of the briefing.")
                        .with_required(true),
                ]),
            )
            .with_title("Daily briefing"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != BRIEFING_PROMPT {
            return Err(ErrorData::invalid_params(
                format!("no prompt named {}", request.name),
                None,
            ));
        }
        let city = request
            .arguments
            .as_ref()
            .and_then(|args| args.get("city"))
            .and_then(|city| city.as_str())
            .map(str::trim)
            .filter(|city| !city.is_empty())
            .ok_or_else(|| ErrorData::invalid_params("argument `city` is required", None))?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Give me a short daily briefing. Use get_current_date for today's date, get_weather \
                 for {city}, and list_notes for my notes; then summarise them in three sentences."
            ),
        )])
        .with_description(format!("Daily briefing for {city}"))
        .into())
    }
}

impl Tools {
    /// The `about` resource: every tool with its declared effects, rendered from the live tool list so
    /// it cannot drift from what `tools/list` says.
    fn about(&self) -> String {
        let mut out = String::from(
            "# Portcullis MCP tools\n\nEvery call acts for the user whose delegated access token it \
             carries (tenant + object id); no argument can select another user's data.\n\n",
        );
        for tool in self.shared.router.list_all() {
            let annotations = tool.annotations.clone().unwrap_or_default();
            let effect = if annotations.read_only_hint == Some(true) {
                "reads only; changes nothing"
            } else if annotations.destructive_hint == Some(true) {
                "destructive: removes your data, and asks you to confirm first"
            } else {
                "writes your data (adds, never removes)"
            };
            out.push_str(&format!(
                "- `{}`: {} ({effect})\n",
                tool.name,
                tool.description.as_deref().unwrap_or_default()
            ));
        }
        out.push_str(
            "\nNotes are stored per user in this server's database. Weather comes from an offline demo \
             provider unless the operator configured a real one.\n",
        );
        out
    }
}
