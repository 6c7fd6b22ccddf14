//! The per-user note tools. Every call reads and writes only the notes of the token's user.

use rmcp::{
    ErrorData, RoleServer,
    handler::server::tool::{Extension, InputResponses, RequestState},
    model::{CallToolResponse, CallToolResult},
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{Tools, confirm::Confirmation, failure, params::Parameters, principal, text};
use crate::notes::MAX_NOTE_CHARS;

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

/// Logs the detail, tells the client only that storage failed.
fn storage_error(error: anyhow::Error) -> ErrorData {
    tracing::error!(error = format!("{error:#}"), "notes storage failed");
    ErrorData::internal_error("notes storage is unavailable", None)
}

#[tool_router(router = notes_router, vis = "pub(super)")]
impl Tools {
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
