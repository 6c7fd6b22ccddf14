//! A Microsoft Graph-shaped development stand-in: the downstream API that mcp-tools reaches with a token
//! it exchanged (on-behalf-of or RFC 8693) at the dev IdP, never with the token it received.
//!
//! It is a resource server: it accepts only access tokens signed by the dev IdP (signature by its
//! published keys, issuer, `exp`/`nbf`, tenant), whose audience is Graph's (`https://graph.microsoft.com`
//! or `00000003-0000-0000-c000-000000000000`) and whose delegated `scp` holds the scope a route needs.
//! It answers with Graph's JSON shapes, errors included:
//! - `GET /v1.0/me` (`User.Read`): id, displayName, mail, userPrincipalName, jobTitle, officeLocation.
//! - `GET /v1.0/me/calendarView?startDateTime=…&endDateTime=…` (`Calendars.Read`), with `$top`
//!   (default 10, at most 50), `$select` and `$orderby=start/dateTime [asc|desc]`.
//!
//! Data are deterministic per user (`data`). Every bearer token sent to it is recorded, valid or not
//! ([`GraphStandIn::received`]), so tests can show which tokens reached the downstream API. It binds
//! loopback only; tokens are kept in memory (the last [`RECEIVED_LIMIT`]) and never logged.

mod data;

use std::{
    collections::VecDeque,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use service_kit::{serve, sync::lock};
use url::Url;

pub use data::{Event, Profile, calendar_view, profile};

use crate::idp::{AccessClaims, DevIdp, DevUser, GRAPH_AUDIENCE, GRAPH_RESOURCE};

/// Tokens remembered at most (the oldest are dropped first).
pub const RECEIVED_LIMIT: usize = 1000;
/// `$top` when none is given, and its largest value (Graph pages calendarView; the stand-in caps).
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 50;

/// A bearer token the stand-in was sent, with what its payload says (decoded without validation, so a
/// forged or foreign token is recorded as it was).
#[derive(Debug, Clone)]
pub struct ReceivedToken {
    /// The token as sent.
    pub token: SecretString,
    /// The request's path (`/v1.0/me`).
    pub path: String,
    pub aud: Option<String>,
    pub azp: Option<String>,
    pub scp: Option<String>,
    pub oid: Option<String>,
}

type Received = Arc<Mutex<VecDeque<ReceivedToken>>>;

/// The running stand-in.
#[derive(Clone)]
pub struct GraphStandIn {
    base_url: Url,
    received: Received,
}

impl GraphStandIn {
    /// `http://127.0.0.1:3600`: what `https://graph.microsoft.com` is in production (no path).
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Every bearer token sent so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedToken> {
        lock(&self.received).iter().cloned().collect()
    }

    /// Forgets the tokens received so far.
    pub fn clear_received(&self) {
        lock(&self.received).clear();
    }
}

#[derive(Clone)]
struct GraphState {
    idp: DevIdp,
    received: Received,
}

/// Binds `bind` (loopback only) and serves the Graph stand-in for `idp`'s tokens until `shutdown`.
pub async fn start(
    bind: SocketAddr,
    idp: &DevIdp,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<GraphStandIn> {
    if !bind.ip().is_loopback() {
        anyhow::bail!("APP_DEV_GRAPH__BIND must be a loopback address, got {bind}");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding the dev Graph stand-in on APP_DEV_GRAPH__BIND={bind}"))?;
    let addr = listener.local_addr()?;
    let received = Received::default();
    let state = GraphState {
        idp: idp.clone(),
        received: received.clone(),
    };
    tokio::spawn(serve::serve(
        listener,
        router(state),
        serve::IDLE_TIMEOUT,
        shutdown,
    ));
    let base_url = Url::parse(&format!("http://{addr}")).context("the Graph stand-in's URL")?;
    tracing::info!(%base_url, "development Graph stand-in running");
    Ok(GraphStandIn { base_url, received })
}

fn router(state: GraphState) -> Router {
    Router::new()
        .route("/v1.0/me", get(me))
        // Graph's paths are case-insensitive; these are the two spellings clients use.
        .route("/v1.0/me/calendarView", get(calendar))
        .route("/v1.0/me/calendarview", get(calendar))
        .fallback(unknown)
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The payload of a JWT, unverified (for the record only).
fn unverified_claims(token: &str) -> Map<String, Value> {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .unwrap_or_default()
}

/// Records the request's bearer token, if any, before anything else looks at it.
async fn record(State(state): State<GraphState>, request: Request, next: Next) -> Response {
    if let Some(token) = bearer(request.headers()) {
        let claims = unverified_claims(token);
        let text = |name: &str| match claims.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        let entry = ReceivedToken {
            token: token.into(),
            path: request.uri().path().to_owned(),
            aud: text("aud"),
            azp: text("azp"),
            scp: text("scp"),
            oid: text("oid"),
        };
        let mut received = lock(&state.received);
        if received.len() >= RECEIVED_LIMIT {
            received.pop_front();
        }
        received.push_back(entry);
    }
    next.run(request).await
}

/// An answer in Graph's error shape: `{"error":{"code","message","innerError":{…}}}`.
#[derive(Debug)]
struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `WWW-Authenticate` of a 401.
    challenge: Option<String>,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401, with Graph's challenge: where to get a token, and for which resource.
    fn unauthenticated(state: &GraphState, message: &str) -> Self {
        let authorize = format!(
            "{}/oauth2/v2.0/authorize",
            state.idp.issuer().trim_end_matches("/v2.0")
        );
        Self {
            challenge: Some(format!(
                r#"Bearer realm="", authorization_uri="{authorize}", client_id="{GRAPH_AUDIENCE}""#
            )),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                message,
            )
        }
    }

    fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "client-request-id": uuid::Uuid::new_v4().to_string(),
                },
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(value) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The signed-in user of a request whose token grants `scope` on Graph; otherwise Graph's 401 / 403 /
/// 404 answer.
fn caller<'a>(
    state: &'a GraphState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<(&'a DevUser, AccessClaims), GraphError> {
    let Some(token) = bearer(headers) else {
        return Err(GraphError::unauthenticated(state, "Access token is empty."));
    };
    let claims = state.idp.validate_access_token(token).map_err(|error| {
        use jsonwebtoken::errors::ErrorKind;
        let message = match error.kind() {
            ErrorKind::ExpiredSignature => "Lifetime validation failed, the token is expired.",
            ErrorKind::ImmatureSignature => {
                "Lifetime validation failed, the token is not yet valid."
            }
            ErrorKind::InvalidIssuer => "Access token validation failure. Invalid issuer.",
            _ => "Access token validation failure.",
        };
        GraphError::unauthenticated(state, message)
    })?;
    if claims.aud != GRAPH_RESOURCE && claims.aud != GRAPH_AUDIENCE {
        return Err(GraphError::unauthenticated(
            state,
            "Access token validation failure. Invalid audience.",
        ));
    }
    if claims.tid != state.idp.tenant_id() {
        return Err(GraphError::unauthenticated(
            state,
            "Access token validation failure. Invalid tenant.",
        ));
    }
    // Delegated routes (`/me`) need a user's token with the scope; app-only tokens have none.
    let granted = claims
        .scp
        .as_deref()
        .filter(|_| claims.idtyp.as_deref() != Some("app"))
        .is_some_and(|scp| scp.split(' ').any(|s| s == scope));
    if !granted {
        return Err(GraphError::denied());
    }
    let Some(user) = state.idp.users().iter().find(|u| u.oid == claims.oid) else {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
                claims.oid
            ),
        ));
    };
    Ok((user, claims))
}

/// The query's parameters; Graph matches their names case-insensitively.
fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `$select=a,b`: the fields asked for, or `None` for all.
fn selection(query: &[(String, String)]) -> Option<Vec<String>> {
    query_param(query, "$select").map(|s| {
        s.split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect()
    })
}

/// Keeps the selected fields of an object (and `keep`, and OData annotations).
fn select(mut value: Value, fields: Option<&[String]>, keep: &[&str]) -> Value {
    if let (Some(fields), Value::Object(object)) = (fields, &mut value) {
        object.retain(|key, _| {
            key.starts_with('@')
                || keep.contains(&key.as_str())
                || fields.contains(&key.to_ascii_lowercase())
        });
    }
    value
}

async fn me(
    State(state): State<GraphState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, GraphError> {
    let (user, _) = caller(&state, &headers, "User.Read")?;
    let profile = profile(&user.username);
    let body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": user.oid,
        "displayName": user.name,
        "mail": user.email,
        "userPrincipalName": user.email,
        "jobTitle": profile.job_title,
        "officeLocation": profile.office_location,
    });
    Ok(Json(select(body, selection(&query).as_deref(), &[])))
}

/// A date and time as Graph takes them: RFC 3339 with an offset, or without one (read as UTC), or a
/// date (midnight UTC).
fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Some(time.to_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(value, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

/// Graph writes event times with seven fractional digits and the zone apart.
fn graph_time(time: DateTime<Utc>) -> Value {
    json!({
        "dateTime": format!("{}.0000000", time.format("%Y-%m-%dT%H:%M:%S")),
        "timeZone": "UTC",
    })
}

/// The calendarView request's window, page size and order, or Graph's 400.
struct ViewRequest {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    top: usize,
    newest_first: bool,
}

fn view_request(query: &[(String, String)]) -> Result<ViewRequest, GraphError> {
    let time = |name: &str| -> Result<DateTime<Utc>, GraphError> {
        let value = query_param(query, name).ok_or_else(|| {
            GraphError::bad_request(
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters \
                 StartDateTime and EndDateTime.",
            )
        })?;
        parse_time(value).ok_or_else(|| {
            GraphError::bad_request(
                "ErrorInvalidParameter",
                format!("The value '{value}' of parameter '{name}' is invalid."),
            )
        })
    };
    let from = time("startDateTime")?;
    let to = time("endDateTime")?;
    let top = match query_param(query, "$top") {
        None => DEFAULT_TOP,
        Some(top) => top
            .trim()
            .parse::<usize>()
            .map_err(|_| {
                GraphError::bad_request("BadRequest", format!("Invalid $top value '{top}'."))
            })?
            .min(MAX_TOP),
    };
    let newest_first = match query_param(query, "$orderby").map(|o| {
        o.split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    }) {
        None => false,
        Some(order) => match order.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["start/datetime"] | ["start/datetime", "asc"] => false,
            ["start/datetime", "desc"] => true,
            _ => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    "The development Graph stand-in orders calendarView by start/dateTime only.",
                ));
            }
        },
    };
    Ok(ViewRequest {
        from,
        to,
        top,
        newest_first,
    })
}

async fn calendar(
    State(state): State<GraphState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, GraphError> {
    let (user, _) = caller(&state, &headers, "Calendars.Read")?;
    let view = view_request(&query)?;
    let fields = selection(&query);
    let organizer = |username: &str| {
        state
            .idp
            .users()
            .iter()
            .find(|u| u.username == username)
            .map(|u| (u.name.clone(), u.email.clone()))
            .unwrap_or_else(|| (username.to_owned(), format!("{username}@portcullis.dev")))
    };
    let events: Vec<Value> = calendar_view(
        &user.oid,
        &user.username,
        view.from,
        view.to,
        view.newest_first,
        view.top,
    )
    .into_iter()
    .map(|event| {
        let (name, address) = organizer(&event.organizer);
        let object = json!({
            "id": event.id,
            "subject": event.subject,
            "start": graph_time(event.start),
            "end": graph_time(event.end),
            "location": { "displayName": event.location },
            "organizer": { "emailAddress": { "name": name, "address": address } },
        });
        select(object, fields.as_deref(), &["id"])
    })
    .collect();
    Ok(Json(json!({
        "@odata.context": format!(
            "https://graph.microsoft.com/v1.0/$metadata#users('{}')/calendarView",
            user.oid
        ),
        "value": events,
    })))
}

async fn unknown(uri: Uri) -> GraphError {
    GraphError::bad_request(
        "BadRequest",
        format!("Resource not found for the segment '{}'.", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_graph_takes_them() {
        let utc = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            utc("2025-03-03T09:30:00Z").as_deref(),
            Some("2025-03-03T09:30:00+00:00")
        );
        assert_eq!(
            utc("2025-03-03T10:30:00+01:00").as_deref(),
            Some("2025-03-03T09:30:00+00:00")
        );
        assert_eq!(
            utc("2025-03-03T09:30:00.0000000").as_deref(),
            Some("2025-03-03T09:30:00+00:00")
        );
        assert_eq!(
            utc("2025-03-03").as_deref(),
            Some("2025-03-03T00:00:00+00:00")
        );
        assert!(parse_time("next tuesday").is_none());
        assert!(parse_time("").is_none());
    }

    #[test]
    fn query_options_are_read_case_insensitively_and_bounded() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let view = view_request(&q(&[
            ("StartDateTime", "2025-03-03T00:00:00Z"),
            ("endDateTime", "2025-03-10T00:00:00Z"),
            ("$top", "500"),
            ("$orderby", "start/dateTime desc"),
        ]))
        .ok()
        .unwrap();
        assert_eq!(view.top, MAX_TOP);
        assert!(view.newest_first);
        let view = view_request(&q(&[
            ("startDateTime", "2025-03-03"),
            ("endDateTime", "2025-03-04"),
        ]))
        .ok()
        .unwrap();
        assert_eq!((view.top, view.newest_first), (DEFAULT_TOP, false));
        for bad in [
            q(&[("startDateTime", "2025-03-03")]),
            q(&[("startDateTime", "x"), ("endDateTime", "2025-03-04")]),
            q(&[
                ("startDateTime", "2025-03-03"),
                ("endDateTime", "2025-03-04"),
                ("$top", "-1"),
            ]),
            q(&[
                ("startDateTime", "2025-03-03"),
                ("endDateTime", "2025-03-04"),
                ("$orderby", "subject"),
            ]),
        ] {
            let error = view_request(&bad).err().unwrap();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn selection_keeps_the_chosen_fields_the_id_and_annotations() {
        let object = json!({"@odata.context": "c", "id": "1", "subject": "s", "start": {}});
        let fields = vec!["subject".to_owned()];
        let selected = select(object.clone(), Some(&fields), &["id"]);
        assert_eq!(
            selected,
            json!({"@odata.context": "c", "id": "1", "subject": "s"})
        );
        assert_eq!(select(object.clone(), None, &[]), object);
    }
}
