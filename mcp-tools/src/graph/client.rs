//! Microsoft Graph calls with an exchanged token: `GET /v1.0/me` and `GET /v1.0/me/calendarView`,
//! read into the shapes the tools return (which are also their `outputSchema`).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use reqwest::{StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use super::exchange::GraphToken;

/// Most events one call returns.
pub const MAX_EVENTS: usize = 50;

/// The signed-in user's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Primary e-mail address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Job title.
    #[serde(default)]
    pub job_title: Option<String>,
    /// Office location.
    #[serde(default)]
    pub office_location: Option<String>,
}

/// The events of a time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Events {
    /// Start of the window (RFC 3339, UTC).
    pub start: String,
    /// End of the window (RFC 3339, UTC).
    pub end: String,
    /// The events, by start time; at most 50.
    pub events: Vec<Event>,
    /// Whether the calendar holds more events in the window than were returned.
    pub truncated: bool,
}

/// One calendar event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Subject (title).
    pub subject: String,
    /// Start (RFC 3339 in UTC, or Graph's local time followed by its time zone).
    pub start: String,
    /// End, in the same form.
    pub end: String,
    /// Location's display name.
    pub location: Option<String>,
    /// Organizer's name.
    pub organizer: Option<String>,
}

/// Why a Graph call gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Graph refused the token (expired or revoked early): it should not be reused.
    #[error("Graph refused the token ({0})")]
    Unauthorized(StatusCode),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Graph over HTTP.
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
}

impl GraphClient {
    pub fn new(http: reqwest::Client, base_url: &Url) -> Self {
        Self {
            http,
            base: base_url.as_str().trim_end_matches('/').to_owned(),
        }
    }

    pub async fn me(&self, token: &GraphToken) -> Result<Profile, CallError> {
        let url = format!("{}/v1.0/me", self.base);
        self.send(self.http.get(&url), token).await
    }

    pub async fn calendar_view(
        &self,
        token: &GraphToken,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Events, CallError> {
        let url = format!("{}/v1.0/me/calendarView", self.base);
        let (start_text, end_text) = (rfc3339(start), rfc3339(end));
        let top = MAX_EVENTS.to_string();
        let request = self
            .http
            .get(&url)
            .query(&[
                ("startDateTime", start_text.as_str()),
                ("endDateTime", end_text.as_str()),
                ("$top", top.as_str()),
                ("$orderby", "start/dateTime"),
            ])
            // Times in UTC, whatever the mailbox's zone.
            .header("Prefer", r#"outlook.timezone="UTC""#);
        let page: EventPage = self.send(request, token).await?;
        let truncated = page.next_link.is_some() || page.value.len() > MAX_EVENTS;
        Ok(Events {
            start: start_text,
            end: end_text,
            events: page
                .value
                .into_iter()
                .take(MAX_EVENTS)
                .map(Event::from)
                .collect(),
            truncated,
        })
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
        token: &GraphToken,
    ) -> Result<T, CallError> {
        use anyhow::Context;
        let response = request
            .bearer_auth(token.expose())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .context("Graph is unreachable")?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(CallError::Unauthorized(status));
        }
        if !status.is_success() {
            let body: GraphErrorBody = response.json().await.unwrap_or_default();
            return Err(anyhow::anyhow!(
                "Graph answered {status} ({}: {})",
                body.error.code,
                body.error.message
            )
            .into());
        }
        Ok(response
            .json()
            .await
            .context("Graph's answer has an unexpected shape")?)
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Deserialize)]
struct EventPage {
    #[serde(default)]
    value: Vec<GraphEvent>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct GraphEvent {
    #[serde(default)]
    subject: Option<String>,
    start: Option<GraphTime>,
    end: Option<GraphTime>,
    #[serde(default)]
    location: Option<GraphLocation>,
    #[serde(default)]
    organizer: Option<GraphRecipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphTime {
    date_time: String,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphLocation {
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphRecipient {
    #[serde(default)]
    email_address: Option<GraphEmail>,
}

#[derive(Deserialize)]
struct GraphEmail {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Default, Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphError,
}

#[derive(Default, Deserialize)]
struct GraphError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl From<GraphEvent> for Event {
    fn from(event: GraphEvent) -> Self {
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        Self {
            subject: non_empty(event.subject).unwrap_or_else(|| "(no subject)".to_owned()),
            start: event.start.map(time_text).unwrap_or_default(),
            end: event.end.map(time_text).unwrap_or_default(),
            location: non_empty(event.location.and_then(|l| l.display_name)),
            organizer: event
                .organizer
                .and_then(|o| o.email_address)
                .and_then(|e| non_empty(e.name).or(non_empty(e.address))),
        }
    }
}

/// Graph's `{dateTime, timeZone}` as RFC 3339 in UTC when the zone is UTC or an IANA name; otherwise
/// (Windows zone names) as Graph wrote it, followed by the zone.
fn time_text(time: GraphTime) -> String {
    let zone = time.time_zone.as_deref().unwrap_or("UTC");
    let naive = NaiveDateTime::parse_from_str(&time.date_time, "%Y-%m-%dT%H:%M:%S%.f");
    match naive {
        Ok(naive) if zone.eq_ignore_ascii_case("UTC") => rfc3339(naive.and_utc()),
        Ok(naive) => match zone.parse::<chrono_tz::Tz>() {
            Ok(tz) => match naive.and_local_timezone(tz).earliest() {
                Some(local) => rfc3339(local.with_timezone(&Utc)),
                None => format!("{} {zone}", time.date_time),
            },
            Err(_) => format!("{} {zone}", time.date_time),
        },
        Err(_) => format!("{} {zone}", time.date_time),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_events_become_flat_rows_in_utc() {
        let page: EventPage = serde_json::from_value(serde_json::json!({
            "value": [
                {
                    "subject": "Standup",
                    "start": { "dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC" },
                    "end": { "dateTime": "2026-03-02T09:15:00.0000000", "timeZone": "UTC" },
                    "location": { "displayName": "Room 1" },
                    "organizer": { "emailAddress": { "name": "Alice", "address": "alice@example.test" } }
                },
                {
                    "start": { "dateTime": "2026-03-02T10:00:00", "timeZone": "Europe/Paris" },
                    "end": { "dateTime": "2026-03-02T11:00:00", "timeZone": "Pacific Standard Time" },
                    "location": { "displayName": "" },
                    "organizer": { "emailAddress": { "address": "bob@example.test" } }
                }
            ],
            "@odata.nextLink": "https://graph.example/next"
        }))
        .unwrap();
        assert!(page.next_link.is_some());
        let events: Vec<Event> = page.value.into_iter().map(Event::from).collect();
        assert_eq!(
            events[0],
            Event {
                subject: "Standup".into(),
                start: "2026-03-02T09:00:00Z".into(),
                end: "2026-03-02T09:15:00Z".into(),
                location: Some("Room 1".into()),
                organizer: Some("Alice".into()),
            }
        );
        assert_eq!(events[1].subject, "(no subject)");
        assert_eq!(events[1].start, "2026-03-02T09:00:00Z");
        assert_eq!(events[1].end, "2026-03-02T11:00:00 Pacific Standard Time");
        assert_eq!(events[1].location, None);
        assert_eq!(events[1].organizer.as_deref(), Some("bob@example.test"));
    }
}
