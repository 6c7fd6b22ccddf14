//! The Microsoft Graph tools: the signed-in user's profile and calendar, read with a token exchanged
//! for that user (never the token mcp-tools received). Offered only when `MCP_OBO__*` is configured.
//!
//! Each tool asks for the one scope it needs; how the token is got (and consent asked for) is
//! `graph_access`.

use chrono::{DateTime, Duration as Days, Utc};
use rmcp::{
    ErrorData, RoleServer,
    handler::server::tool::{Extension, InputResponses, RequestState, schema_for_output},
    model::CallToolResponse,
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{EmptyArgs, Tools, failure, params::Parameters, structured};
use crate::graph::{Events, Permission, Profile};

/// Longest window `list_my_events` reads.
pub const MAX_WINDOW_DAYS: i64 = 62;
/// Window when no end is given.
const DEFAULT_WINDOW_DAYS: i64 = 7;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEventsArgs {
    /// Start of the time window, RFC 3339 (e.g. `2026-03-02T00:00:00Z`). Defaults to now.
    #[serde(default)]
    pub start: Option<String>,
    /// End of the time window, RFC 3339; after `start` and at most 62 days later. Defaults to 7 days
    /// after the start.
    #[serde(default)]
    pub end: Option<String>,
}

/// The window to read, or a message for the model.
pub(crate) fn window(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let parse = |name: &str, value: &str| {
        DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                format!("{name} must be an RFC 3339 date-time such as 2026-03-02T09:00:00Z, got {value:?}.")
            })
    };
    let start = match start {
        Some(value) => parse("start", value)?,
        None => now,
    };
    let end = match end {
        Some(value) => parse("end", value)?,
        None => start + Days::days(DEFAULT_WINDOW_DAYS),
    };
    if end <= start {
        return Err("end must be after start.".to_owned());
    }
    if end - start > Days::days(MAX_WINDOW_DAYS) {
        return Err(format!(
            "The window may span at most {MAX_WINDOW_DAYS} days; ask for a shorter one."
        ));
    }
    Ok((start, end))
}

fn profile_text(profile: &Profile) -> String {
    let lines: Vec<String> = [
        ("Name", &profile.display_name),
        ("Mail", &profile.mail),
        ("Job title", &profile.job_title),
        ("Office", &profile.office_location),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label}: {v}")))
    .collect();
    if lines.is_empty() {
        "The profile has no name, mail, job title or office location.".to_owned()
    } else {
        lines.join("\n")
    }
}

fn events_text(events: &Events) -> String {
    if events.events.is_empty() {
        return format!("No events between {} and {}.", events.start, events.end);
    }
    let mut lines = vec![format!(
        "{} event(s) between {} and {}{}:",
        events.events.len(),
        events.start,
        events.end,
        if events.truncated {
            " (more exist; ask for a shorter window)"
        } else {
            ""
        }
    )];
    for event in &events.events {
        let mut line = format!("- {} to {}: {}", event.start, event.end, event.subject);
        if let Some(location) = &event.location {
            line.push_str(&format!(" at {location}"));
        }
        if let Some(organizer) = &event.organizer {
            line.push_str(&format!(" (organizer: {organizer})"));
        }
        lines.push(line);
    }
    lines.join("\n")
}

#[tool_router(router = graph_router, vis = "pub(super)")]
impl Tools {
    #[tool(
        description = "Reads the signed-in user's Microsoft 365 profile (display name, mail, job title, office location) from Microsoft Graph.",
        output_schema = schema_for_output::<Profile>(),
        annotations(
            title = "My profile",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn get_my_profile(
        &self,
        Parameters(_): Parameters<EmptyArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        let graph = self.graph()?;
        let permission = Permission::UserRead;
        let token = match self
            .graph_token(
                graph,
                permission,
                "get_my_profile",
                &parts,
                &context,
                state,
                responses,
            )
            .await?
        {
            Ok(token) => token,
            Err(response) => return Ok(response),
        };
        match graph.client.me(&token).await {
            Ok(profile) => Ok(structured(&profile, profile_text(&profile))?.into()),
            Err(error) => self.graph_failure(graph, &parts, permission, error).await,
        }
    }

    #[tool(
        description = "Lists the signed-in user's calendar events (subject, start, end, location, organizer) from Microsoft Graph, at most 50, by start time. Without arguments: from now to 7 days ahead.",
        output_schema = schema_for_output::<Events>(),
        annotations(
            title = "My calendar",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn list_my_events(
        &self,
        Parameters(args): Parameters<ListEventsArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        let graph = self.graph()?;
        let (start, end) = match window(args.start.as_deref(), args.end.as_deref(), Utc::now()) {
            Ok(window) => window,
            Err(message) => return Ok(failure(message).into()),
        };
        let permission = Permission::CalendarsRead;
        let token = match self
            .graph_token(
                graph,
                permission,
                "list_my_events",
                &parts,
                &context,
                state,
                responses,
            )
            .await?
        {
            Ok(token) => token,
            Err(response) => return Ok(response),
        };
        match graph.client.calendar_view(&token, start, end).await {
            Ok(events) => Ok(structured(&events, events_text(&events))?.into()),
            Err(error) => self.graph_failure(graph, &parts, permission, error).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Event;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_window_defaults_to_a_week_from_now_and_is_bounded() {
        let now = at("2026-03-02T08:00:00Z");
        assert_eq!(
            window(None, None, now),
            Ok((now, at("2026-03-09T08:00:00Z")))
        );
        assert_eq!(
            window(Some("2026-03-10T00:00:00+01:00"), None, now),
            Ok((at("2026-03-09T23:00:00Z"), at("2026-03-16T23:00:00Z")))
        );
        assert_eq!(
            window(None, Some("2026-03-03T00:00:00Z"), now),
            Ok((now, at("2026-03-03T00:00:00Z")))
        );
        assert!(
            window(
                Some("2026-03-05T00:00:00Z"),
                Some("2026-03-04T00:00:00Z"),
                now
            )
            .unwrap_err()
            .contains("after start")
        );
        assert!(
            window(
                Some("2026-03-05T00:00:00Z"),
                Some("2026-03-05T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(
            window(None, Some("2026-05-04T08:00:01Z"), now)
                .unwrap_err()
                .contains("62 days")
        );
        assert!(window(None, Some("2026-05-03T08:00:00Z"), now).is_ok());
        assert!(
            window(Some("next monday"), None, now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn text_forms_are_one_line_per_item() {
        let events = Events {
            start: "2026-03-02T00:00:00Z".into(),
            end: "2026-03-09T00:00:00Z".into(),
            events: vec![Event {
                subject: "Standup".into(),
                start: "2026-03-02T09:00:00Z".into(),
                end: "2026-03-02T09:15:00Z".into(),
                location: Some("Room 1".into()),
                organizer: Some("Alice".into()),
            }],
            truncated: false,
        };
        assert_eq!(
            events_text(&events),
            "1 event(s) between 2026-03-02T00:00:00Z and 2026-03-09T00:00:00Z:\n\
             - 2026-03-02T09:00:00Z to 2026-03-02T09:15:00Z: Standup at Room 1 (organizer: Alice)"
        );
        let profile = Profile {
            display_name: Some("Alice".into()),
            mail: None,
            job_title: Some("Engineer".into()),
            office_location: None,
        };
        assert_eq!(profile_text(&profile), "Name: Alice\nJob title: Engineer");
    }
}
